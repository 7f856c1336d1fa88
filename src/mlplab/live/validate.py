"""The training settings a page sends, checked by :mod:`mlplab.settings` like every front end's.

Every value from the browser goes through :func:`check_settings`: the form's text becomes
numbers here, then :func:`mlplab.settings.validate_train` checks them (so the page shows the
same one-line message the command line prints), and this module adds only what the browser
needs on top: the 2-D toy sets (whose networks start with 2 inputs instead of 784) and the limits
on layer widths, depth and steps, which are not fixed numbers but the memory estimate of
:mod:`mlplab.runtime.memory` (as ``mlplab train`` refuses a run that cannot fit): the run's peak
(parameters, gradients, optimizer state, the data, the largest phase of a step) plus what grows
with its length, ``PER_STEP_BYTES`` per step (the Trainer keeps every step's loss: a float object
and a list slot while training, a float64 in the history afterwards), must fit in the memory
available when the page asks.
"""

from __future__ import annotations

from .. import toydata

DEFAULTS = {
    "dataset": "spirals", "layers": "2,32,32,3", "activation": "relu", "init": "he", "bias_init": "zeros",
    "optimizer": "adam", "lr": None, "momentum": None, "weight_decay": 0.0, "batch_size": 32,
    "epochs": 50, "iterations": None, "seed": 0, "schedule": None, "dtype": "float32",
}
INTS = ("batch_size", "epochs", "iterations", "seed")
FLOATS = ("lr", "momentum", "weight_decay")
OPTIONAL = ("lr", "momentum", "epochs", "iterations", "schedule")  # empty means "not given"
PER_STEP_BYTES = 24 + 8 + 8  # one step's loss: a Python float, its list slot, then a float64
MNIST_IMAGES, TOY_TRAIN, TOY_TEST = (60_000, 10_000), 1000, 500  # rows of the train and test splits


class SettingsError(ValueError):
    """A setting the page sent is not valid: the message is shown in the page as it is."""


def _typed(raw: dict) -> dict:
    s = dict(DEFAULTS)
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise SettingsError(f"unknown settings {unknown}; valid: {', '.join(DEFAULTS)}")
    for key, value in raw.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            s[key] = None if key in OPTIONAL else DEFAULTS[key]
            continue
        if key in INTS:
            try:
                s[key] = int(str(value).strip())
            except ValueError:
                raise SettingsError(f"--{key.replace('_', '-')} must be a whole number, got {value!r}") from None
        elif key in FLOATS:
            try:
                s[key] = float(str(value).strip())
            except ValueError:
                raise SettingsError(f"--{key.replace('_', '-')} must be a number, got {value!r}") from None
        else:
            s[key] = str(value).strip()
    if s.get("iterations") is not None and raw.get("epochs") in (None, ""):
        s["epochs"] = None
    if s.get("iterations") is not None and s.get("epochs") is not None:
        raise SettingsError("give --epochs or --iterations, not both")
    if s["seed"] is None:
        s["seed"] = 0
    return s


def check_settings(raw: dict, memory: bool = True):
    """Typed, checked settings: returns ``(settings, layer_sizes, optimizer_name, hyperparameters)``
    or raises :class:`SettingsError` with the message to show. ``memory=False`` leaves out the check
    against the memory available now (a lesson's setting is checked when the server starts; whether
    its run fits is a question for when it starts)."""
    from .. import data
    from .. import settings as st

    s = _typed(raw)
    if s["dataset"] not in toydata.TOY_DATASETS and s["dataset"] not in data.DATASETS:
        valid = ", ".join([*toydata.TOY_DATASETS, *data.DATASETS])
        raise SettingsError(f"unknown dataset {s['dataset']!r}; valid: {valid}")
    if s.get("epochs") is None and s.get("iterations") is None:
        raise SettingsError("give --epochs or --iterations")
    given = {k: v for k, v in s.items() if v is not None}
    toy = s["dataset"] in toydata.TOY_DATASETS
    try:
        if toy:  # the settings module knows MNIST-shaped sets only: check the toy layers here, the rest there
            info = toydata.toy_info(s["dataset"])
            sizes = st.parse_layers(s["layers"])
            if sizes[0] != info["inputs"] or sizes[-1] != info["classes"]:
                raise SettingsError(f"--layers {s['layers']!r} does not fit {s['dataset']}: its points have "
                                    f"{info['inputs']} coordinates and it has {info['classes']} classes, so the "
                                    f"sizes must start with {info['inputs']} and end with {info['classes']}")
            given.update(dataset="mnist", layers=",".join(["784", *map(str, sizes[1:-1]), "10"]))
        checked = st.validate_train(given)
    except st.SettingsError as e:
        raise SettingsError(str(e)) from None
    if toy:
        checked.update(dataset=s["dataset"], layers=",".join(map(str, sizes)))
    sizes = [int(v) for v in checked["layers"].split(",")]
    if memory:
        check_memory(checked, sizes)
    return checked, sizes, checked["optimizer"], st.optimizer_hparams(checked)


def total_steps(s: dict) -> int:
    """The steps a run takes: ``iterations``, or ``epochs`` × the batches of the training split."""
    if s.get("iterations"):
        return int(s["iterations"])
    rows = TOY_TRAIN if s["dataset"] in toydata.TOY_DATASETS else MNIST_IMAGES[0]
    return int(s["epochs"]) * -(-rows // int(s["batch_size"]))


def estimate(s: dict, sizes: list):
    """The run's :class:`~mlplab.runtime.memory.MemoryEstimate`: the Trainer's peak for these settings, the
    data as loaded, and ``PER_STEP_BYTES`` per step in a part of its own."""
    from .. import settings as st
    from ..runtime import memory

    item = 8 if s["dtype"] == "float64" else 4
    rows = TOY_TRAIN + TOY_TEST if s["dataset"] in toydata.TOY_DATASETS else sum(MNIST_IMAGES)
    # the images as loaded (float32) and, for float64 runs, their float64 copy; labels as int64
    data_bytes = rows * sizes[0] * (4 + (item if item != 4 else 0)) + rows * 8
    est = memory.estimate_training(sizes, s["batch_size"], s["optimizer"], st.optimizer_hparams(s), s["dtype"],
                                   s["activation"], data_bytes=data_bytes)
    est.parts["loss per step"] = total_steps(s) * PER_STEP_BYTES
    return est


def check_memory(s: dict, sizes: list, available=None, what: str | None = None, est=None) -> None:
    """Refuse a run whose memory estimate (``est``, or :func:`estimate` of the settings) exceeds what
    is available (``available`` as :func:`mlplab.runtime.memory.available_memory` returns it; read now when
    None), in one line."""
    from ..runtime import memory

    est = est if est is not None else estimate(s, sizes)
    length = f"--iterations {s['iterations']}" if s.get("iterations") else f"--epochs {s['epochs']}"
    what = what or (f"--layers {s['layers']} with --batch-size {s['batch_size']}, {s['optimizer']} and {length} "
                    f"({total_steps(s):,} steps)")
    try:
        memory.check_fits(est, what, available)
    except memory.NotEnoughMemory as e:
        raise SettingsError(str(e).replace("use narrower or fewer layers", "use narrower or fewer layers, fewer "
                                           "steps")) from None
