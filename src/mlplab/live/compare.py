"""The Compare view's runs: two to four configurations trained side by side, paired.

Paired as the lab's races are: every configuration is built and trained from the same seed on the
same data with the same batch size and length, so the weights of layers that do not differ start
equal and every run sees the same mini-batches in the same order (the batch order is drawn from
the seed); only what a variant changes (initializer, optimizer, learning rate, activation, ...)
differs. Each run is a :class:`~mlplab.live.session.TrainSession` in its own thread.

With ``seeds`` = S > 1 each configuration is trained S times, from seeds s, s+1, ..., s+S-1
(configuration j, seed k is member ``j·S + k``); run k of every configuration shares seed s+k, so
the pairing holds seed by seed, and the page draws each configuration's mean ± spread (the
smallest and largest of its S runs) over the seeds.
"""

from __future__ import annotations

from .session import TrainSession
from .validate import SettingsError

SHARED = ("dataset", "seed", "batch_size", "epochs", "iterations")  # what pairs the runs
MAX_RUNS = 4
MAX_SEEDS = 5


def _own_optimizer_settings(base: dict, variant: dict) -> dict:
    """A variant that names another optimizer than the base's, and not its η (μ), runs with that
    optimizer's own defaults, not the base form's values (Adam at a momentum rate of 0.1 would
    compare a setting nobody uses): {"lr": None, "momentum": None} for what it does not set."""
    if "optimizer" not in variant or str(variant["optimizer"]).strip() == str(base.get("optimizer", "")).strip():
        return {}
    return {k: None for k in ("lr", "momentum") if k not in variant}


class CompareGroup:
    """Runs ``base`` settings overridden by each of ``variants`` (2 to 4 dicts)."""

    def __init__(self, base: dict, variants: list, fps: float = 12.0, seeds=1):
        if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_RUNS:
            raise SettingsError(f"compare two to {MAX_RUNS} configurations, got {len(variants or [])}")
        try:
            self.seeds = int(str(seeds).strip())
        except ValueError:
            raise SettingsError(f"seeds must be a whole number, got {seeds!r}") from None
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise SettingsError(f"seeds must be between 1 and {MAX_SEEDS}, got {self.seeds}")
        try:
            seed0 = int(str(base.get("seed") or 0).strip())
        except ValueError:
            raise SettingsError(f"--seed must be a whole number, got {base.get('seed')!r}") from None
        self.members: list[TrainSession] = []
        try:
            for i, v in enumerate(variants):
                if not isinstance(v, dict):
                    raise SettingsError(f"run {i + 1}: the overrides must be a JSON object")
                shared = sorted(set(v) & set(SHARED))
                if shared:
                    raise SettingsError(f"run {i + 1} sets {', '.join(shared)}: runs are compared on the same data, "
                                        f"seed, batches and length; set these in the base settings")
                own = _own_optimizer_settings(base, v)
                for k in range(self.seeds):
                    try:
                        self.members.append(TrainSession({**base, **own, **v, "seed": seed0 + k},
                                                         fps=fps / (len(variants) * self.seeds), boundary=False))
                    except SettingsError as e:
                        raise SettingsError(f"run {i + 1}: {e}") from None
        except SettingsError:
            self.close()
            raise
        self.run_id = None
        self._check_memory()

    def _check_memory(self) -> None:
        """The members train at once: their estimates together must fit, beside what the members
        built so far hold (each was checked alone as it was made; their peaks come later, together)."""
        from ..runtime import memory
        from .validate import check_memory, estimate

        parts: dict = {}
        for m in self.members:
            for key, value in estimate(m.settings, m.sizes).parts.items():
                parts[key] = parts.get(key, 0) + value
        held = {}  # already allocated, so already missing from the available memory (shared arrays once)
        for m in self.members:
            for a in [p.data for p in m.model.parameters()] + [m.X, m.y, m.Xt, m.yt]:
                base = a if a.base is None else a.base
                held[id(base)] = base.nbytes
        parts["already held"] = -sum(held.values())
        s = self.members[0].settings
        try:
            check_memory(s, self.members[0].sizes, est=memory.MemoryEstimate(parts),
                         what=f"{len(self.members)} runs of --layers {s['layers']}-like networks side by side")
        except SettingsError:
            self.close()
            raise

    @property
    def status(self) -> str:
        states = {m.status for m in self.members}
        return states.pop() if len(states) == 1 else "running" if "running" in states else "mixed"

    def start(self) -> None:
        for m in self.members:
            m.start()

    @property
    def thread(self):
        """The first member's training thread (None before the comparison starts)."""
        return self.members[0].thread if self.members else None

    # pause, resume and single steps act on every member at once: the runs stay step for step paired
    def pause(self) -> None:
        for m in self.members:
            m.pause()

    def resume(self) -> None:
        for m in self.members:
            m.resume()

    def step_once(self) -> None:
        for m in self.members:
            m.step_once()

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    def close(self, timeout: float = 5.0) -> None:
        for m in self.members:
            m.close(timeout)
