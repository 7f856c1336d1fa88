"""Setting changes during a run: the learning rate, momentum or weight decay set anew at given steps.

A change ``k:v`` of a setting means: after step k, the setting is v (the steps k+1, k+2, ... use it),
as TensorFlow Playground changes its learning rate while it trains. ``mlplab live`` records the step
at which a change from the page took hold; ``mlplab train --lr-changes 300:0.01,800:0.001`` (or, in a
TOML file, ``[train.lr_changes]`` with ``300 = 0.01``) applies the same changes at the same steps,
so the run is reproduced bit for bit. They are a :class:`~mlplab.train.Callback`: the Trainer calls it
after each step (after the step's metrics line, so that line shows the rate the step used), and at
the start, where the changes at or before the current step are applied (step 0, or a resumed run's).

A learning-rate change and a schedule exclude each other (the schedule sets the rate every step).
"""

from __future__ import annotations

import math

from .train import Callback

CHANGEABLE = ("lr", "momentum", "weight_decay")
KEYS = {f"{k}_changes": k for k in CHANGEABLE}  # the settings' names: lr_changes, ...


class ChangeError(ValueError):
    """Changes that cannot be read; the message says what is wrong and what to write."""


def parse_changes(value, label: str = "--lr-changes") -> list[tuple[int, float]]:
    """``"300:0.01,800:0.001"``, a TOML table ``{"300": 0.01}`` or pairs ``[[300, 0.01]]`` -> sorted
    ``[(300, 0.01), (800, 0.001)]``; steps whole numbers >= 0, each once, values finite."""
    if isinstance(value, str):
        pairs = []
        for part in [p.strip() for p in value.split(",") if p.strip()]:
            step, sep, v = part.partition(":")
            if not sep:
                raise ChangeError(f"{label}: {part!r} is not STEP:VALUE; write e.g. 300:0.01,800:0.001")
            pairs.append((step.strip(), v.strip()))
    elif isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = [tuple(p) if isinstance(p, (list, tuple)) and len(p) == 2 else (p, None) for p in value]
    else:
        raise ChangeError(f"{label} must be STEP:VALUE pairs such as 300:0.01,800:0.001, got {value!r}")
    out = {}
    for step, v in pairs:
        try:
            k = int(str(step))
        except ValueError:
            raise ChangeError(f"{label}: the step {step!r} is not a whole number; write e.g. 300:0.01") from None
        try:
            x = float(v) if not isinstance(v, bool) else math.nan
        except (TypeError, ValueError):
            raise ChangeError(f"{label}: the value {v!r} at step {k} is not a number; write e.g. 300:0.01") from None
        if k < 0 or not math.isfinite(x):
            raise ChangeError(f"{label}: {step}:{v} needs a step >= 0 and a finite value")
        if k in out:
            raise ChangeError(f"{label}: step {k} is changed twice; give each step once")
        out[k] = x
    if not out:
        raise ChangeError(f"{label} is empty; write e.g. 300:0.01,800:0.001")
    return sorted(out.items())


def format_changes(changes) -> str:
    """``[(300, 0.01)]`` -> ``"300:0.01"`` (``repr`` of each float: read back, the same number)."""
    return ",".join(f"{int(k)}:{float(v)!r}" for k, v in changes)


class SettingChanges(Callback):
    """Applies changes ``{"lr": [(step, value), ...], ...}`` to the trainer's optimizer; more may be
    requested while it trains (:meth:`request`, from another thread): each takes hold after the next
    step, and is recorded in :attr:`changes` at that step."""

    def __init__(self, changes: dict | None = None):
        self.changes = {k: list(v) for k, v in (changes or {}).items() if v}
        unknown = sorted(set(self.changes) - set(CHANGEABLE))
        if unknown:
            raise ChangeError(f"only {', '.join(CHANGEABLE)} can change during a run, not {', '.join(unknown)}")
        self.pending: list[tuple[str, float]] = []

    @classmethod
    def from_settings(cls, s: dict) -> SettingChanges | None:
        """The changes a run's settings hold (``lr_changes``, ... as :func:`format_changes` wrote
        them), or None when there are none."""
        given = {k: parse_changes(s[name], name) for name, k in KEYS.items() if s.get(name)}
        return cls(given) if given else None

    def settings(self) -> dict:
        """``{"lr_changes": "300:0.01", ...}`` for config.json (None where nothing changed)."""
        return {name: format_changes(self.changes[k]) if self.changes.get(k) else None for name, k in KEYS.items()}

    def request(self, key: str, value: float) -> None:
        if key not in CHANGEABLE:
            raise ChangeError(f"only {', '.join(CHANGEABLE)} can change during a run, not {key}")
        self.pending.append((key, float(value)))

    @staticmethod
    def _apply(optimizer, key, value) -> None:
        if not hasattr(optimizer, key):
            raise ChangeError(f"{type(optimizer).__name__} has no {key} to change")
        setattr(optimizer, key, value)

    def on_train_begin(self, trainer):
        for key, steps in self.changes.items():
            for k, v in steps:
                if k <= trainer.step:
                    self._apply(trainer.optimizer, key, v)

    def on_step_end(self, trainer, step, loss):
        for key, steps in self.changes.items():
            for k, v in steps:
                if k == step:
                    self._apply(trainer.optimizer, key, v)
        while self.pending:  # asked for during this step: it holds from the next one, recorded here
            key, v = self.pending.pop(0)
            self._apply(trainer.optimizer, key, v)
            steps = [(k, x) for k, x in self.changes.get(key, []) if k != step]
            self.changes[key] = sorted([*steps, (step, v)])
