"""The training settings a page sends, checked by :mod:`mlplab.settings` like every front end's.

Every value from the browser goes through :func:`check_settings`: the form's text becomes
numbers here, then :func:`mlplab.settings.validate_train` checks them (so the page shows the
same one-line message the command line prints), and this module adds only what the browser
needs on top: the 2-D toy sets (whose networks start with 2 inputs instead of 784) and limits on
size, so a page cannot ask the server for a network that does not fit in memory.
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
MAX_WIDTH, MAX_LAYERS, MAX_STEPS, MAX_PARAMS = 4096, 16, 2_000_000, 20_000_000


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


def check_settings(raw: dict):
    """Typed, checked settings: returns ``(settings, layer_sizes, optimizer_name, hyperparameters)``
    or raises :class:`SettingsError` with the message to show."""
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
    if len(sizes) - 1 > MAX_LAYERS or max(sizes) > MAX_WIDTH:
        raise SettingsError(f"--layers {checked['layers']!r}: the live view takes at most {MAX_LAYERS} layers of "
                            f"at most {MAX_WIDTH} units")
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if params > MAX_PARAMS:
        raise SettingsError(f"--layers {checked['layers']!r}: {params:,} parameters; the live view takes at most "
                            f"{MAX_PARAMS:,}")
    if checked.get("iterations") and checked["iterations"] > MAX_STEPS:
        raise SettingsError(f"--iterations {checked['iterations']}: at most {MAX_STEPS:,} in the live view")
    return checked, sizes, checked["optimizer"], st.optimizer_hparams(checked)
