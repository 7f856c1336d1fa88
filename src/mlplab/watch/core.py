"""``watch(model, optimizer)``: the live per-layer view for the user's own PyTorch training loop.

What it does to the loop, step by step (k = optimizer steps done):

* The model's first forward (a pre-hook, removed at once) shows which layers there are
  (:func:`mlplab.watch.layers.find_layers`, on a working copy with torch's random state restored), writes
  meta.json and shares one block of memory with the frame worker (:mod:`mlplab.watch.worker`).
* A frame is *armed* after a step when one is due (``every`` = N: for every N-th step, waiting for the worker
  if it is behind; else on a steady cadence of ``fps`` a second, each 1/``fps`` after the previous one was due,
  at the first step after that time when the worker has taken the previous frame, never waiting; a frame more
  than a period late starts the cadence again): the weights W are copied
  (the "before" of the update to come) and forward hooks are put on the watched modules.
* In the next forward (with gradients on: an evaluation under ``no_grad`` is not taken), each hook copies the
  first rows of its module's output z (at most ``sample`` values), and of the normalisation's output, into the
  shared memory, and registers a hook on z that copies ∂L/∂z in the backward. The hooks return nothing, so
  the values and gradients of the user's computation are not changed.
* After that step (the optimizer's step post-hook, or ``w.step(loss)`` without an optimizer) W and ∂L/∂W are
  copied, the forward hooks removed, and the worker told: it makes and records the frame from that buffer of
  the shared memory while the loop goes on, writing the next frame into the other buffer.

Nothing else runs in the loop: between frames the cost is one Python call per step (the post-hook), unless
``sharpness=`` is given (:mod:`mlplab.watch.sharpness` measures λ₁ in the loop, about 5 % of its time). The
model's parameters, buffers, gradients, the optimizer's state and torch's random state are not touched
(``tests/test_watch.py`` trains with and without watching and compares the parameters bit for bit).
"""

from __future__ import annotations

import atexit
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from .page import Page

__all__ = ["watch", "Watch"]

EXACT_WAIT = 120.0  # seconds every=N waits for the worker to take the previous frame (a loaded machine, its start)
INPUT_SAMPLE = 8192  # values of the network's input captured per frame (for the signal gain's input spread)
SAMPLE = 65536  # values of z (and ∂L/∂z) captured per layer and frame: the first rows of the batch up to this


class Watch(Page):
    """A watched training loop (see the module's docstring); made by :func:`watch`. ``folder`` is the recording,
    ``url`` the page (when a port was given or the notebook displays it), ``frames`` the frames sent,
    ``layers`` / ``not_watched`` what the first batch showed, ``broken`` why frames stopped (None if they
    did not)."""

    def __init__(self, model, optimizer=None, every=None, port=None, record=None, fps: float = 11.0,
                 sample: int = SAMPLE, sharpness=None, worker: str = "process"):
        import torch

        from .. import folderkind

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"watch() takes a torch.nn.Module, got {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer= takes a torch.optim.Optimizer (or None: call w.step(loss) after each "
                            f"update), got {type(optimizer).__name__}")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"every= is a whole number of steps ≥ 1 (or None for {fps:g} frames/s), got {every!r}")
        if not (isinstance(fps, (int, float)) and 0 < fps <= 60):
            raise ValueError(f"fps= must be in (0, 60], got {fps!r}")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
            raise ValueError(f"port= is a port number (0: any free one), got {port!r}")
        if not isinstance(sample, int) or sample < 1:
            raise ValueError(f"sample= is a number of values ≥ 1, got {sample!r}")
        if worker not in WORKERS:
            raise ValueError(f"worker= is one of {', '.join(map(repr, WORKERS))}, got {worker!r}")
        from .sharpness import Tracker, settings  # sharpness= (opt-in): λ₁ against the optimizer's limit

        spec = settings(sharpness)
        self._sharp = Tracker(spec, model, optimizer) if spec is not None else None
        self._torch = torch
        self._np_types = (torch.float32, torch.float64, torch.float16)
        self.model, self.optimizer, self.every, self.fps, self.sample = model, optimizer, every, float(fps), sample
        self._temp = record is None
        folder = Path(tempfile.mkdtemp(prefix="mlplab-watch-")) if record is None else Path(record).expanduser()
        from .record import FRAMES, META

        folderkind.check(folder, "watch", "watch()", "record=")
        if (folder / FRAMES).exists() or (folder / META).exists():
            raise ValueError(f"{folder} holds a recording already (recordings are append-only); give watch() "
                             "another record= folder")
        folderkind.claim(folder, "watch", "watch()", "record=")
        self.folder = folder
        (folder / FRAMES).touch()
        self.steps = self.frames = 0
        self.layers: list[dict] | None = None
        self.not_watched: list[dict] = []
        self.broken: str | None = None
        self.closed = self.paused = False
        self.url: str | None = None
        self._server = None
        self._handles: list = []
        self._armed = self._captured = False
        self._loss_sum, self._losses = 0.0, 0
        self._t0 = time.monotonic()
        self._next = -math.inf  # when the next frame is due (fps=)
        self._views = None
        from .worker import Inline, Worker

        self.worker = worker
        self._worker = Inline() if self.worker == "inline" else Worker(yield_cpu=every is None)
        self._pre = model.register_forward_pre_hook(self._first_forward, with_kwargs=True)
        self._post = optimizer.register_step_post_hook(lambda opt, a, k: self._after_step()) if optimizer else None
        atexit.register(self._at_exit)
        if port is not None:
            self.serve(port)

    def _at_exit(self) -> None:
        """A script that ends without close(): the end line says how (an uncaught exception, or none)."""
        if not self.closed:
            exc = getattr(sys, "last_value", None)
            self.close(f"an exception: {type(exc).__name__}: {exc}" if exc is not None
                       else "the process ended without w.close()")

    # ------------------------------------------------------------------ the first batch
    def _first_forward(self, module, args, kwargs):
        torch = self._torch
        self._pre.remove()
        self._pre = None
        try:
            from .layers import find_layers

            found, self.not_watched = find_layers(torch, self.model, args, kwargs)
        except Exception as e:  # watching never stops the run
            self._stop(f"the model's layers could not be traced ({type(e).__name__}: {e})")
            found = []
        if not found:
            self._stop(self.broken or "no layer of the model can be watched (no nn.Linear/Conv1d/Conv2d called once "
                                      "per forward)")
            self._write_meta([])
            return
        first = args[0] if args else None
        batch = int(first.shape[0]) if isinstance(first, torch.Tensor) and first.ndim else 1
        params = {id(p) for p in self.model.parameters()}
        modules = dict(self.model.named_modules())
        slots = []
        for i, lay in enumerate(found):
            m = modules[lay["name"]]
            per_row = max(1, math.prod(lay["out_shape"]))
            lay["rows"] = max(1, min(batch, self.sample // per_row))
            dt = _np_dtype(m.weight.dtype)
            row = {"z": ([lay["rows"], *lay["out_shape"]], dt), "gz": ([lay["rows"], *lay["out_shape"]], dt),
                   "w": (lay["shape"], dt), "before": (lay["shape"], dt), "gw": (lay["shape"], dt)}
            if lay["norm_module"]:
                row["zn"] = ([lay["rows"], *lay["out_shape"]], dt)
            if i == 0 and lay.get("in_shape") is not None:
                lay["in_rows"] = max(1, min(batch, INPUT_SAMPLE // max(1, math.prod(lay["in_shape"]))))
                row["x"] = ([lay["in_rows"], *lay["in_shape"]], dt)
            lay["registered"] = id(m.weight) in params
            slots.append(row)
        self.layers = found
        try:
            from .layers import theory

            for lay, t in zip(found, theory(torch, self.model, found)):
                lay["theory"] = t
        except Exception as e:  # the theory is a reading beside the frames: said, never fatal
            for lay in found:
                lay["theory"] = {"error": f"{type(e).__name__}: {e}"}
        meta = self._write_meta(found)
        try:
            views = self._worker.attach(slots, meta, self.folder / "frames.jsonl")
        except OSError as e:
            self._stop(f"no shared memory for the frames ({e.strerror or e})")
            return
        self._buffers = views  # per buffer (the worker's two), NumPy views of the shared memory
        self._torch_buffers = [[{k: torch.from_numpy(v) for k, v in row.items()} for row in b] for b in views]
        self._arrays, self._views = views[0], self._torch_buffers[0]  # the buffer being written (_put's)
        self._modules = [modules[lay["name"]] for lay in found]
        self._norms = [modules[lay["norm_module"]] if lay["norm_module"] else None for lay in found]
        self._rows = [0] * len(found)
        self._have = [dict() for _ in found]
        self._arm()  # the first frame is of the first step (the worker takes it once it has started)

    def _write_meta(self, found) -> dict:
        from ..runtime.fileio import write_json
        from .record import FORMAT, VERSION

        opt = type(self.optimizer).__name__ if self.optimizer is not None else None
        meta = {"format": FORMAT, "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "model": type(self.model).__name__, "optimizer": opt,
                "optimizer_rules": "adam" if opt and "adam" in opt.lower() else "sgd" if opt else None,
                "every": self.every, "fps": None if self.every else self.fps, "sample": self.sample,
                "worker": self.worker,
                "bins": 32, "tail": 0.001, "torch": str(self._torch.__version__),  # (a TorchVersion pickles as torch's)
                "layers": found, "not_watched": self.not_watched}
        write_json(self.folder / "meta.json", meta)
        return meta

    # ------------------------------------------------------------------ frames
    def pause(self) -> None:
        """No new frames until :meth:`resume` (the step hook stays: a Python call per step)."""
        self.paused = True

    def resume(self) -> None:
        """Frames again, the first one period (1/``fps``) from now."""
        self.paused = False
        self._next = time.monotonic() + 1.0 / self.fps

    def _due(self) -> bool:
        if self.paused:
            return False
        if self.every is not None:
            return (self.steps + 1) % self.every == 0
        return time.monotonic() >= self._next

    def _arm(self) -> None:
        if self.every is None:
            # the cadence: due 1/fps after the previous frame was *due*, not after it was sent (that added the
            # arming's wait and the armed step to every period: a CNN of 12 ms steps made 9-10 frames/s at 12)
            now, period = time.monotonic(), 1.0 / self.fps
            self._next = self._next + period if now - self._next < period else now + period
        b = self._worker.next  # the buffer the worker has done with (it makes the last frame from the other)
        self._arrays, self._views = self._buffers[b], self._torch_buffers[b]
        for i, m in enumerate(self._modules):
            self._put(i, "before", m.weight)
        self._have = [dict() for _ in self._modules]
        for i, (m, n) in enumerate(zip(self._modules, self._norms)):
            self._handles.append(m.register_forward_hook(self._forward_hook(i)))
            if n is not None:
                self._handles.append(n.register_forward_hook(self._norm_hook(i)))
        self._armed, self._captured = True, False

    def _put(self, i: int, key: str, src, rows: int | None = None) -> None:
        """Copy the tensor ``src`` (its first ``rows`` rows) into layer ``i``'s shared array ``key``.

        With NumPy when it can (a CPU tensor of a NumPy float type): a plain copy on the calling thread. torch's
        ``copy_`` splits a copy of more than 32,768 values (the first layer's weight, a convolution's outputs)
        over its intra-op threads, and on a machine whose other core is busy (with the frame worker, or anything)
        the training thread then waits for the descheduled thread: the MLP's five weights took 1.5 ms of the
        training thread's CPU (7 ms of wall time) to copy with torch at 2 threads on the loaded 2-core VM, 20 µs
        with NumPy. Other tensors (bfloat16, a GPU's) go through torch's ``copy_``, which converts them."""
        dst = self._arrays[i][key]
        if src.device.type == "cpu" and src.dtype in self._np_types:
            try:
                # the rows sliced in NumPy, a detach only when needed: torch's indexing and detach cost 10-15 µs a
                # put in the loop (26 puts a frame for the MLP), NumPy's slicing under 1 µs
                a = (src.detach() if src.requires_grad else src).numpy()
                if rows is not None:
                    a, dst = a[:rows], dst[:rows]
                np.copyto(dst, a, casting="same_kind")
                return
            except (TypeError, RuntimeError, ValueError):
                pass
        t = src.detach()
        if rows is not None:
            t = t[:rows]
        with self._torch.no_grad():
            (self._views[i][key] if rows is None else self._views[i][key][:rows]).copy_(t)

    def _forward_hook(self, i):
        torch = self._torch
        v, have = self._views[i], self._have

        def hook(module, args, out):
            if not torch.is_grad_enabled() or not isinstance(out, torch.Tensor):
                return None
            n = min(int(out.shape[0]), v["z"].shape[0])
            if tuple(out.shape[1:]) != tuple(v["z"].shape[1:]):
                return None  # another input size than the first batch's: this layer sits this frame out
            # (copies of detached tensors into tensors that need no gradient: nothing is recorded for autograd)
            self._put(i, "z", out, n)
            if "x" in v and args and isinstance(args[0], torch.Tensor) \
                    and tuple(args[0].shape[1:]) == tuple(v["x"].shape[1:]):
                k = min(int(args[0].shape[0]), v["x"].shape[0])
                self._put(i, "x", args[0], k)
                have[i]["x"] = k
            self._rows[i] = n
            have[i]["z"] = True
            self._captured = True
            if out.requires_grad:
                out.register_hook(self._grad_hook(i, n))
            return None
        return hook

    def _grad_hook(self, i, n):
        def hook(g):
            self._put(i, "gz", g, n)
            self._have[i]["gz"] = True
            return None
        return hook

    def _norm_hook(self, i):
        torch, v = self._torch, self._views[i]

        def hook(module, args, out):
            if not torch.is_grad_enabled() or not isinstance(out, torch.Tensor) \
                    or tuple(out.shape[1:]) != tuple(v["zn"].shape[1:]):
                return None
            n = min(int(out.shape[0]), v["zn"].shape[0])
            self._put(i, "zn", out, n)
            self._have[i]["zn"] = True
            return None
        return hook

    def _unhook(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _send(self) -> None:
        # made inline, the frame is made before this returns to the loop: W and ∂L/∂W are read where they are
        # (no copy; the frame only reads them, and tests/test_watch.py checks the training stays bit-identical)
        direct = [{} for _ in self._modules] if self.worker == "inline" else None
        for i, m in enumerate(self._modules):
            if direct is None or not self._read_in_place(i, direct[i], "w", m.weight):
                self._put(i, "w", m.weight)
            self._have[i]["w"] = self._have[i]["before"] = True
            if m.weight.grad is not None:
                if direct is None or not self._read_in_place(i, direct[i], "gw", m.weight.grad):
                    self._put(i, "gw", m.weight.grad)
                self._have[i]["gw"] = True
        self._unhook()
        loss = self._loss_sum / self._losses if self._losses else None
        rows = list(self._rows)
        have = [{k: bool(val) for k, val in h.items()} for h in self._have]
        info = {"step": self.steps, "time": round(time.monotonic() - self._t0, 4), "loss": loss,
                "losses": self._losses, "rows": rows, "have": have}
        if "x" in self._have[0]:
            info["x_rows"] = self._have[0]["x"]
        if self._sharp is not None and self._sharp.pending is not None:
            info["sharpness"] = self._sharp.take()
        self._loss_sum, self._losses = 0.0, 0
        self._armed = False
        if direct is None:
            self._worker.send_frame(info)
        else:
            self._worker.send_frame(info, direct)
        self.frames += 1

    def _read_in_place(self, i: int, into: dict, key: str, t) -> bool:
        """``t`` as a NumPy view, put in ``into[key]``, where it is a CPU tensor of the dtype and shape of layer
        ``i``'s buffer array ``key`` (else False: it is copied into the buffer)."""
        if t.device.type != "cpu" or t.dtype not in self._np_types:
            return False
        try:
            a = (t.detach() if t.requires_grad else t).numpy()
        except (TypeError, RuntimeError, ValueError):
            return False
        dst = self._arrays[i][key]
        if a.shape != dst.shape or a.dtype != dst.dtype or not a.flags.c_contiguous:
            return False
        into[key] = a
        return True

    def _after_step(self) -> None:
        self.steps += 1
        if self.broken is not None or self._views is None:
            return
        if self._armed and self._captured:
            if self._worker.broken is None:
                self._send()
            else:
                self._stop(self._worker.broken)
                return
        if self._sharp is not None and not self._armed and not self.paused:  # no frame capture: its hooks are off
            self._sharp.after_step(self.steps)
        if not self._armed and self._due():
            # every=N is exact: the loop waits for the worker if it is behind; at fps a frame is skipped instead
            if self._worker.free or (self.every is not None and self._worker.wait_free(EXACT_WAIT)):
                self._arm()
            elif self._worker.broken is not None:
                self._stop(self._worker.broken)

    def step(self, loss=None) -> None:
        """Call once per training step, after the update. With an optimizer given to :func:`watch`, its
        steps drive the frames and this only adds ``loss`` to the loss curve; without one, this is the step."""
        if self.closed:
            return
        if loss is not None:
            try:
                value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(f"w.step(loss): loss must be a number or a one-element tensor, got "
                                f"{type(loss).__name__}") from None
            self._loss_sum += value
            self._losses += 1
        if self.optimizer is None:
            self._after_step()

    def _stop(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
            warnings.warn(f"mlplab.watch: frames stopped: {why}; training goes on", RuntimeWarning, stacklevel=3)
        self._unhook()
        self._armed = False

    # ------------------------------------------------------------------ end
    def close(self, reason: str = "closed") -> None:
        """Stop watching: hooks removed, the frame in hand written, then an end line. The page, if one was
        started, stays until :meth:`stop_page` or the end of the Python process."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self._at_exit)
        for h in (self._pre, self._post):
            if h is not None:
                h.remove()
        self._pre = self._post = None
        self._unhook()
        end = {"step": self.steps, "reason": reason}
        if self._views is not None and self._worker.broken is None:
            self._views = None
            if not self._worker.end(end):
                self._append_end(end)
        else:
            self._views = None
            self._worker.close()
            self._append_end(end)

    def _append_end(self, end):
        from .record import LineWriter, read

        try:
            frames = len(read(self.folder).frames)
        except Exception:
            frames = None
        w = LineWriter(self.folder / "frames.jsonl")
        try:
            w.write({"type": "end", **end, "frames": frames})
        finally:
            w.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close("closed" if exc_type is None else f"an exception: {exc_type.__name__}: {exc}")
        return False

    def __repr__(self) -> str:
        n = len(self.layers) if self.layers is not None else "?"
        return (f"<mlplab.watch: {type(self.model).__name__}, {n} layers watched, {self.frames} frames, "
                f"recording {self.folder}{', closed' if self.closed else ''}>")


WORKERS = ("process", "inline")


def _np_dtype(dtype) -> str:
    import torch

    return {torch.float64: "f8", torch.float32: "f4"}.get(dtype, "f4")  # half types are widened to float32


def watch(model, optimizer=None, every: int | None = None, port: int | None = None, record=None,
          fps: float = 11.0, sample: int = SAMPLE, sharpness=None, worker: str = "process") -> Watch:
    """Watch a PyTorch model train in your own loop::

        w = watch(model, optimizer, record="runs/watch1")     # after building both
        ...                                                     # your loop, unchanged
        w.close()                                               # or: with watch(...) as w:

    ``optimizer``: its steps drive the frames (a step post-hook); without one call ``w.step(loss)`` after each
    update (with one, ``w.step(loss)`` adds the loss to the page's curve). ``every``: a frame every N steps
    (default: ``fps`` frames per second). ``record``: the folder the frames are written to (a new one; default a
    temporary folder, ``w.folder``); ``mlplab live --replay FOLDER`` shows it afterwards. ``port``: also serve the
    page live on 127.0.0.1 (0: a free port; ``w.url``). In Jupyter, ``w`` as a cell's value shows the page.
    ``sample``: values of each layer's z captured per frame (the batch's first rows up to it). ``sharpness``:
    ``(loss_fn, inputs, targets)`` on a fixed batch, a callable model → loss, or :class:`mlplab.watch.Sharpness`:
    also measure the loss's top Hessian eigenvalue against the optimizer's stability limit, at most about 5 %
    of the loop's time (:mod:`mlplab.watch.sharpness`). ``worker``: where frames are made, ``"process"`` (a
    worker process beside the loop, from shared memory) or ``"inline"`` (on the training thread, right after the
    armed step: no process, no shared memory, W and ∂L/∂W read in place; the loop pays the frame's CPU)."""
    return Watch(model, optimizer, every=every, port=port, record=record, fps=fps, sample=sample,
                 sharpness=sharpness, worker=worker)
