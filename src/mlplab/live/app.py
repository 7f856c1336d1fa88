"""The ``mlplab live`` web app: a thin Starlette layer over the library (no computation here).

Routes (all JSON except the page, its static files and the event stream):

=====================  ====================================================================
GET  /                 the page (static/index.html); everything it loads comes from /static
GET  /api/meta         choices for the forms (datasets, activations, optimizers, ...), defaults
POST /api/train        {sid, settings}: check the settings, start a run for this tab (the tab's
                       previous run is stopped); a bad setting answers 400 {"error": one line}
POST /api/compare      {sid, settings, variants}: 2-4 runs side by side, paired (same seed, data,
                       batches); replaces the tab's run like /api/train
POST /api/control      {sid, action}: pause, resume, step, stop (a comparison: all its runs at once)
POST /api/set          {sid, key, value}: change lr, momentum or weight_decay of the tab's running or
                       paused Train run from its next step on (recorded at that step, exported)
POST /api/export       {sid, out}: write the run (finished, stopped or paused) as ``mlplab train --out``
                       does; answers the folder, the files written and a command that retrains it
GET  /api/state?sid=   the tab's run, if it has one (a reloaded page reattaches to it)
GET  /api/stream?sid=  server-sent events: the run's frames, newest first dropped never, at
                       the rate they are made; when the stream closes (the tab is closed) the
                       tab's run is stopped after a short grace (a reload reconnects in time)
GET  /api/runs         how many runs the server holds, their states, the frame workers' pids (for checks)
POST /api/explain      {sid, view, settings}: "what to look for" sentences for the tab's run (its setting
                       and newest readings), or for the form's settings when there is no run yet; in
                       Train also ``theory``: χ₁, the phase, ξ_c of the setting (mlplab.theory) and a sentence
GET  /api/function     the test function's values on a grid (for the contour lines)
GET  /api/lessons      the lessons (built-in and ``--lessons DIR``'s), each step's setting as URL keys
POST /api/paths        every chosen optimizer's path from the start point
=====================  ====================================================================

One run per tab: the page makes a random ``sid`` when it loads and sends it with every call.

Only the server's own page may call these routes (:mod:`mlplab.live.guard`: the Host and Origin
headers, the token, JSON bodies of limited size); how many runs it holds and in how much memory is
:mod:`mlplab.live.limits`; where Export may write is :mod:`mlplab.live.runsdir`. A run no stream
has come for within the grace period (a page that sent ``/api/train`` and went away) is freed,
as is a run whose tab's stream closed and did not come back within it.

The tabs' runs are :mod:`mlplab.live.runs`; what the routes read from a request and how they answer,
:mod:`mlplab.live.messages`.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import explain as live_explain
from . import limits
from . import paths as live_paths
from .compare import CompareGroup
from .guard import Guard, new_token
from .messages import _body, _error, _event_json, _json, _refusal, _sid
from .runs import Runs
from .runsdir import export_folder
from .session import TrainSession
from .validate import DEFAULTS, SettingsError, check_settings, estimate

STATIC = Path(__file__).parent / "static"
# the page's scripts are ES modules, which a browser runs only when they come with a JavaScript type; some
# systems' MIME tables (the Windows registry) map .js to text/plain, so the type is not left to them
mimetypes.add_type("text/javascript", ".js")
GRACE_SECONDS = 3.0


def create_app(fps: float = 12.0, frame_workers: bool | None = None, *, token: str | None = None,
               no_token: bool = False, host: str = "127.0.0.1", port: int | None = None, root=None,
               max_runs: int | None = None, grace: float = GRACE_SECONDS, lessons: list | None = None,
               exercises: dict | None = None) -> Starlette:
    """The app. ``frame_workers``: make a Train run's frames in a process of their own (default:
    when this process may use two cores or more; on one core a second process only competes).
    ``token``: the one the page must send (default: a new one; ``app.state.token``), none with
    ``no_token``; ``host`` and ``port``: the address the server listens on (the Host header must name
    it; port None: the one the request came in on); ``root``: where Export may write (default: the
    current folder); ``max_runs``: default :func:`mlplab.live.limits.max_runs`; ``grace``: seconds a
    run waits for its tab's stream to (re)connect before it is freed; ``lessons``: the lessons the page
    offers (:mod:`mlplab.live.lessons`; default: the built-in ones), checked before the server starts;
    ``exercises``: a student's optimizers, checked, offered after the library's (``{"FOLDER:NAME": label}``;
    ``mlplab live --exercises``)."""
    if frame_workers is None:
        from ..runtime.threads import usable_cores

        frame_workers = usable_cores() >= 2
    token = None if no_token else (token or new_token())
    root = Path(root if root is not None else Path.cwd()).resolve()
    runs = Runs(frame_workers, max_runs)
    admission = asyncio.Lock()  # one new run at a time, so two requests cannot both take the last place
    if lessons is None:
        from .lessons import builtin

        lessons = builtin()
    lessons_json = {"lessons": [le.to_json() for le in lessons]}

    async def page(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store",
                                                            "Referrer-Policy": "no-referrer"})

    async def meta(request):
        from .. import nn, optim, toydata
        from ..data import DATASETS

        return _json({
            "datasets": [*toydata.TOY_DATASETS, *DATASETS],
            "toy": {name: toydata.toy_info(name) for name in toydata.TOY_DATASETS},
            "activations": sorted(nn.ACTIVATIONS),
            "inits": ["he", "xavier", "lecun", "book", "std=0.01", "std=1", "zeros"],
            "optimizers": [k for k in optim.OPTIMIZERS if k != "newton"] + list(exercises or {}),
            "optimizer_labels": dict(exercises or {}),  # a student's optimizers: "my Adam (hw1/Adam.py)"
            "schedules": list(optim.SCHEDULES), "defaults": DEFAULTS,
            "hparams": {k: dict(v) for k, v in optim.DEFAULT_HPARAMS.items()},
            "functions": list(live_paths.FUNCTIONS),
            "function_defaults": {f: live_paths.function_defaults(f) for f in live_paths.FUNCTIONS},
            "methods": {k: {"label": v[0], "hp": v[1], "settable": list(v[2])}
                        for k, v in live_paths.METHODS.items()},
        })

    def _watch_for(sid, session):
        """Free the run if no stream for its tab has come within the grace (a page that went away)."""
        asyncio.get_running_loop().call_later(grace, _maybe_drop, sid, session)

    def _start(session):
        session.worker = runs.take_worker()  # (the tab's previous run's, if it had one)
        session.start()

    async def train(request):
        try:
            body = await _body(request)
            sid = _sid(body.get("sid"))
            settings = body.get("settings") or {}
            if not isinstance(settings, dict):
                raise SettingsError("settings must be a JSON object")
            async with admission:
                runs.check_room(sid)
                s, sizes, _, _ = await run_in_threadpool(check_settings, settings)  # alone: refused before building
                runs.check_room(sid, need=estimate(s, sizes).total)
                runs.building += 1
                try:
                    session = await run_in_threadpool(TrainSession, settings, fps)
                finally:
                    runs.building -= 1
                session.run_id = uuid.uuid4().hex[:8]
                await run_in_threadpool(runs.replace, sid, session)  # one run per tab: the previous one stops
        except SettingsError as e:
            return _refusal(e)
        except Exception as e:  # e.g. MNIST missing and not fetchable: one line, not a traceback
            return _error(f"{type(e).__name__}: {e}")
        if not body.get("paused"):  # a paused run takes its frame worker when it starts
            await run_in_threadpool(_start, session)
        _watch_for(sid, session)
        return _json({"run": session.run_id, "settings": session.settings, "sizes": session.sizes,
                      "optimizer": session.opt_name, "hparams": {k: v for k, v in session.optimizer.__dict__.items()
                                                                 if k in ("lr", "momentum", "betas", "alpha")},
                      "total": session.total, "predicted_pre_std": session.predicted_pre_std,
                      **session.drawing()})

    async def compare(request):
        try:
            body = await _body(request)
            sid = _sid(body.get("sid"))
            base = body.get("settings") or {}
            if not isinstance(base, dict):
                raise SettingsError("settings must be a JSON object")
            async with admission:
                runs.check_room(sid)
                group = await run_in_threadpool(CompareGroup, base, body.get("variants"), fps, body.get("seeds", 1))
                try:  # the members are built (each checked alone, and together): what they may still take
                    runs.check_room(sid, need=limits.still_to_take(group))
                except SettingsError:
                    await run_in_threadpool(group.close)
                    raise
                group.run_id = uuid.uuid4().hex[:8]
                group.labels = [" ".join(f"{k}={v}" for k, v in (v or {}).items()) or f"run {i + 1}"
                                for i, v in enumerate(body.get("variants"))]
                for m in group.members:
                    m.run_id = group.run_id
                await run_in_threadpool(runs.replace, sid, group)
        except SettingsError as e:
            return _refusal(e)
        except Exception as e:  # one line, not a traceback
            return _error(f"{type(e).__name__}: {e}")
        if not body.get("paused"):  # paused: frozen at initialization until Step or Resume
            group.start()
        _watch_for(sid, group)
        return _json({"run": group.run_id, "seeds": group.seeds,
                      "members": [{"settings": m.settings, "sizes": m.sizes} for m in group.members]})

    async def control(request):
        try:
            body = await _body(request)
            sid = _sid(body.get("sid"))
        except SettingsError as e:
            return _error(e)
        session = runs.sessions.get(sid)
        if session is None:
            return _error("no run in this tab: press Start first", 404)
        action = body.get("action")
        start = _start if isinstance(session, TrainSession) else (lambda group: group.start())
        if action == "pause":
            session.pause()
        elif action == "resume":
            if session.thread is None:
                await run_in_threadpool(start, session)
            session.resume()
        elif action == "step":
            if session.thread is None:  # a run not started yet: start it paused, after its first step
                session.pause()
                await run_in_threadpool(start, session)
            else:
                session.step_once()
        elif action == "stop":
            session.stop()
        else:
            return _error(f"unknown action {action!r}; valid: pause, resume, step, stop")
        return _json({"status": session.status})

    async def set_value(request):
        try:
            body = await _body(request)
            sid = _sid(body.get("sid"))
            session = runs.sessions.get(sid)
            if session is None or isinstance(session, CompareGroup):
                raise SettingsError("no Train run in this tab: a setting changes during a run of the Train view")
            session.request_change(str(body.get("key")), body.get("value"))
        except SettingsError as e:
            return _error(e)
        return _json({"status": session.status, "step": session.trainer.step if session.trainer else 0})

    async def export(request):
        try:
            body = await _body(request)
            sid = _sid(body.get("sid"))
            session = runs.sessions.get(sid)
            if session is None or isinstance(session, CompareGroup):
                raise SettingsError("no Train run in this tab: export works on a run of the Train view")
            out = body.get("out")
            out = await run_in_threadpool(export_folder, root, f"runs/live-{session.run_id}" if out is None else out)
            path = await run_in_threadpool(session.export, out, root)
        except SettingsError as e:
            return _error(e)
        except OSError as e:
            return _error(f"cannot write the run: {e}")
        files = sorted(p.name for p in Path(path).iterdir() if p.is_file())
        return _json({"out": str(path), "root": str(root), "files": files, "step": session.trainer.step,
                      "status": session.status, "command": session.command(path)})

    async def state(request):
        """The tab's run, so that a reloaded page (same tab, same sid) draws it again."""
        try:
            sid = _sid(request.query_params.get("sid"))
        except SettingsError as e:
            return _error(e)
        session = runs.sessions.get(sid)
        if session is None:
            return _json({"run": None})
        if isinstance(session, CompareGroup):
            return _json({"run": session.run_id, "kind": "compare", "status": session.status, "seeds": session.seeds,
                          "labels": getattr(session, "labels", []),
                          "members": [{"settings": m.settings, "sizes": m.sizes} for m in session.members]})
        return _json({"run": session.run_id, "kind": "train", "status": session.status,
                      "settings": session.settings, "sizes": session.sizes, **session.drawing()})

    def _newest_frames(session):
        """The newest frame, and the newest that carries ‖ΔW‖/‖W‖ (a run's first and last frames do not)."""
        frames = [f for f in session.frames_after(0) if f.get("kind") == "frame"]
        with_ratio = [f for f in frames if any(lay.get("update_ratio") for lay in f.get("layers", []))]
        return (frames[-1] if frames else None), (with_ratio[-1] if with_ratio else None)

    async def explain(request):
        """The view's "what to look for" (mlplab.live.explain): from the tab's run when it is of that
        view, else from the settings sent (a Train form not started yet)."""
        try:
            body = await _body(request)
            sid = _sid(body.get("sid"))
        except SettingsError as e:
            return _error(e)
        session, view = runs.sessions.get(sid), body.get("view")
        if view == "compare":
            if not isinstance(session, CompareGroup):
                return _json({"lines": [], "run": None})
            firsts = session.members[::session.seeds]
            members = [(label, m.settings, m.predicted_pre_std, _newest_frames(m)[0])
                       for label, m in zip(getattr(session, "labels", []), firsts)]
            return _json({"lines": live_explain.compare_notes(members), "run": session.run_id})
        if isinstance(session, TrainSession):
            return _json({"lines": live_explain.train_notes(session.settings, session.predicted_pre_std,
                                                            *_newest_frames(session)), "run": session.run_id,
                          "theory": live_explain.theory_of(session.settings, session.sizes)})
        settings = body.get("settings")
        try:
            s, sizes = check_settings(settings)[:2] if isinstance(settings, dict) else (None, None)
        except SettingsError:
            s = None  # the Start button says what is wrong with it
        return _json({"lines": live_explain.train_notes(s) if s else [], "run": None,
                      "theory": live_explain.theory_of(s, sizes) if s else None})

    async def stream(request):
        try:
            sid = _sid(request.query_params.get("sid"))
        except SettingsError as e:
            return _error(e)

        async def events():
            runs.streams[sid] = runs.streams.get(sid, 0) + 1
            current, last = None, []
            try:
                yield "retry: 1000\n\n"
                while not runs.closing and not request.app.state.should_exit():
                    session = runs.sessions.get(sid)
                    members = getattr(session, "members", [session]) if session is not None else []
                    if session is not current:
                        current, last = session, [0] * len(members)
                    for i, member in enumerate(members):
                        for frame in member.frames_after(last[i]):
                            last[i] = frame["seq"]
                            payload = dict(frame, run=session.run_id, member=i)
                            yield f"data: {_event_json(payload)}\n\n"
                    await asyncio.sleep(0.02)
            finally:
                runs.streams[sid] -= 1
                if not runs.closing:
                    asyncio.get_running_loop().call_later(grace, _maybe_drop, sid)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def _maybe_drop(sid, session=None):
        """Free the tab's run (``session``: only if it is still that one) when no stream is open for it."""
        if runs.closing or runs.streams.get(sid, 0) or (session is not None and runs.sessions.get(sid) is not session):
            return
        runs.streams.pop(sid, None)  # no stream came (back) within the grace: the tab is gone
        asyncio.get_running_loop().run_in_executor(None, runs.drop, sid)  # joining blocks: not in the loop

    async def runs_info(request):
        workers = [getattr(s, "worker", None) for s in runs.sessions.values()] + [runs.spare]
        return _json({"runs": len(runs.sessions), "building": runs.building, "max_runs": runs.max_runs,
                      "states": sorted(s.status for s in runs.sessions.values()),
                      "streams": sum(runs.streams.values()), "frame_workers": runs.frame_workers,
                      "worker_pids": sorted(w.proc.pid for w in workers if w is not None and w.proc is not None)})

    async def function(request):
        q = request.query_params
        try:
            eig = (float(q.get("l1", 1.0)), float(q.get("l2", 10.0)))
            angle = float(q.get("angle", 0.0))
            grid = await run_in_threadpool(live_paths.function_grid, q.get("name", "f2"), eig, angle)
        except ValueError as e:  # SettingsError is a ValueError
            return _error(e)
        return _json(grid)

    async def paths(request):
        try:
            body = await _body(request)
            eig = body.get("eig") or (1.0, 10.0)
            result = await run_in_threadpool(live_paths.compute_paths, body.get("function", "f2"),
                                             body.get("start", (-7.0, 2.0)), int(body.get("steps", 200)),
                                             body.get("methods"), eig, float(body.get("angle", 0.0)))
        except (SettingsError, ValueError, TypeError) as e:
            return _error(e)
        try:  # compute_paths sends no inf/NaN: encode at once, without _finite's walk over every number
            return Response(json.dumps(result, allow_nan=False, separators=(",", ":")), media_type="application/json")
        except ValueError:  # pragma: no cover - a non-finite number slipped through
            return _json(result)

    async def lessons_list(request):
        return _json(lessons_json)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(runs.warm)
        yield
        runs.close_all()

    app = Starlette(routes=[
        Route("/", page), Route("/api/meta", meta), Route("/api/train", train, methods=["POST"]),
        Route("/api/compare", compare, methods=["POST"]), Route("/api/control", control, methods=["POST"]),
        Route("/api/export", export, methods=["POST"]), Route("/api/state", state),
        Route("/api/set", set_value, methods=["POST"]),
        Route("/api/explain", explain, methods=["POST"]),
        Route("/api/stream", stream), Route("/api/runs", runs_info), Route("/api/function", function),
        Route("/api/paths", paths, methods=["POST"]), Route("/api/lessons", lessons_list),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan, middleware=[Middleware(Guard, host=host, port=port, token=token)])
    app.state.runs, app.state.token, app.state.root = runs, token, root
    app.state.should_exit = lambda: False
    return app
