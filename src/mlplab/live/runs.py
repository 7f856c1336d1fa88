"""The live server's runs: one per tab (sid -> its TrainSession or CompareGroup), how many event streams each tab
has open, the count and memory limits a new run is checked against, and the spare frame worker handed to the next
Train run."""

from __future__ import annotations

import threading

from . import limits
from .framer import FrameWorker
from .session import TrainSession


class Runs:
    """The tabs' runs: sid -> TrainSession, and how many streams each tab has open.

    With ``frame_workers``, a Train run's frames are made in a process of its own
    (:mod:`mlplab.live.framer`): one worker is started with the server (``warm``) and handed to the
    next run, and a finished run hands its worker back, so a run does not wait for one to start."""

    def __init__(self, frame_workers: bool = True, max_runs: int | None = None):
        self.max_runs, self.why_max = limits.max_runs() if max_runs is None else (int(max_runs), "set by its caller")
        self.sessions: dict[str, TrainSession] = {}
        self.streams: dict[str, int] = {}
        self.closing = False
        self.building = 0  # runs being built now (not yet in sessions): a large network takes seconds
        self.frame_workers = frame_workers
        self.spare: FrameWorker | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        if self.frame_workers and self.spare is None and not self.closing:
            self.spare = FrameWorker()

    def take_worker(self) -> FrameWorker | None:
        if not self.frame_workers or self.closing:
            return None
        with self._lock:
            w, self.spare = self.spare, None
        if w is not None and w.broken is not None:
            w.close()
            w = None
        return w if w is not None else FrameWorker()

    def _retire(self, session) -> None:
        if not isinstance(session, TrainSession):
            session.close(timeout=2.0)
            return
        w = session.close(timeout=2.0, keep_worker=self.frame_workers and not self.closing)
        if w is not None:
            with self._lock:
                if self.spare is None:
                    self.spare, w = w, None
            if w is not None:
                w.close()

    def others(self, sid: str) -> list:
        """The runs of the other tabs (a tab's new run replaces its own)."""
        return [s for k, s in list(self.sessions.items()) if k != sid]

    def check_room(self, sid: str, need: int | None = None) -> None:
        """Refuse (:class:`~mlplab.live.limits.RunRefused`) a new run for tab ``sid`` that is over the
        count limit, or, with ``need`` (bytes it may take), over the memory available beside the others'."""
        others = self.others(sid)
        limits.check_count(len(others), self.max_runs, self.why_max)
        if need is not None:
            limits.check_memory(others, need)

    def replace(self, sid: str, session: TrainSession) -> None:
        old = self.sessions.get(sid)
        self.sessions[sid] = session
        if old is not None and old is not session:
            self._retire(old)

    def drop(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            self._retire(session)

    def close_all(self) -> None:
        self.closing = True
        for sid in list(self.sessions):
            self.drop(sid)
        with self._lock:
            w, self.spare = self.spare, None
        if w is not None:
            w.close()
