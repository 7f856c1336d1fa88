"""The Compare view's runs: two to four configurations trained side by side, paired.

Paired as the lab's races are: every configuration is built and trained from the same seed on the
same data with the same batch size and length, so the weights of layers that do not differ start
equal and every run sees the same mini-batches in the same order (the batch order is drawn from
the seed); only what a variant changes (initializer, optimizer, learning rate, activation, ...)
differs. Each run is a :class:`~mlplab.live.session.TrainSession` in its own thread.
"""

from __future__ import annotations

from .session import TrainSession
from .validate import SettingsError

SHARED = ("dataset", "seed", "batch_size", "epochs", "iterations")  # what pairs the runs
MAX_RUNS = 4


class CompareGroup:
    """Runs ``base`` settings overridden by each of ``variants`` (2 to 4 dicts)."""

    def __init__(self, base: dict, variants: list, fps: float = 12.0):
        if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_RUNS:
            raise SettingsError(f"compare two to {MAX_RUNS} configurations, got {len(variants or [])}")
        self.members: list[TrainSession] = []
        try:
            for i, v in enumerate(variants):
                if not isinstance(v, dict):
                    raise SettingsError(f"run {i + 1}: the overrides must be a JSON object")
                shared = sorted(set(v) & set(SHARED))
                if shared:
                    raise SettingsError(f"run {i + 1} sets {', '.join(shared)}: runs are compared on the same data, "
                                        f"seed, batches and length; set these in the base settings")
                try:
                    self.members.append(TrainSession({**base, **v}, fps=fps / len(variants)))
                except SettingsError as e:
                    raise SettingsError(f"run {i + 1}: {e}") from None
        except SettingsError:
            self.close()
            raise
        self.run_id = None

    @property
    def status(self) -> str:
        states = {m.status for m in self.members}
        return states.pop() if len(states) == 1 else "running" if "running" in states else "mixed"

    def start(self) -> None:
        for m in self.members:
            m.start()

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    def close(self, timeout: float = 5.0) -> None:
        for m in self.members:
            m.close(timeout)
