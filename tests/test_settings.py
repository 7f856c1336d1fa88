"""mlplab.settings: every user-supplied training setting checked in one place, one line naming the option."""

import pytest

from mlplab.settings import (
    SettingsError,
    check_blas_threads,
    check_optimizer,
    resume_differences,
    validate_diagnose,
    validate_train,
)

TOML = lambda k: f"{k} in run.toml"  # noqa: E731


@pytest.mark.parametrize("given,message", [
    ({"batch_size": True}, "--batch-size must be a whole number, got the boolean true"),
    ({"batch_size": "128"}, "--batch-size must be a whole number, got the string '128'"),
    ({"batch_size": 12.5}, "--batch-size must be a whole number, got 12.5"),
    ({"batch_size": 0}, "--batch-size must be a positive integer, got 0"),
    ({"lr": "0.1"}, "--lr must be a number, got the string '0.1'"),
    ({"lr": -1.0}, "--lr must be positive, got -1"),
    ({"lr": float("nan")}, "--lr must be a finite number"),
    ({"optimizer": "momentum", "momentum": 1.0}, "--momentum must be >= 0 and < 1, got 1"),
    ({"weight_decay": -0.1}, "--weight-decay must be >= 0, got -0.1"),
    ({"seed": -1}, "--seed must be a whole number >= 0, got -1"),
    ({"epochs": 3, "iterations": 10}, "give --epochs or --iterations, not both"),
    ({"optimizer": "adam", "momentum": 0.9}, "adam has no momentum (--momentum); its settings are lr, betas, eps"),
    ({"optimizer": "adamm"}, "--optimizer: unknown optimizer 'adamm' for training a network; valid: sgd, momentum"),
    ({"optimizer": "newton"}, "Newton's method is for small problems"),
    ({"activation": "swish"}, "--activation: unknown activation 'swish'; valid: relu, leaky_relu, tanh"),
    ({"activation": 3}, "--activation must be a name, got 3"),
    ({"init": "hee"}, "--init: unknown initializer 'hee'"),
    ({"init": True}, "--init must be an initializer name or a number, got the boolean true"),
    ({"bias_init": "normal(0, -1)"}, "--bias-init: std must be >= 0"),
    ({"layers": "784,x,10"}, "--layers '784,x,10': give comma-separated integers"),
    ({"layers": [784, 0, 10]}, "need at least an input and an output size, all positive"),
    ({"layers": "784,100,9"}, "must start with 784 and end with 10"),
    ({"dataset": "cifar"}, "--dataset: unknown dataset 'cifar'; valid: mnist, fashion-mnist"),
    ({"dtype": "float16"}, "--dtype: unknown dtype 'float16'; valid: float32, float64"),
    ({"schedule": "bogus"}, "--schedule: unknown schedule 'bogus'; valid: step"),
    ({"optimiser": "sgd"}, "unknown settings ['optimiser']"),
])
def test_bad_settings_get_one_line_naming_the_option(given, message):
    with pytest.raises(SettingsError) as e:
        validate_train(given)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_messages_name_the_option_as_the_user_wrote_it():
    with pytest.raises(SettingsError, match=r"^batch_size in run.toml must be a whole number, got the boolean true"):
        validate_train({"batch_size": True}, TOML)
    with pytest.raises(SettingsError) as e:
        validate_train({"lr": "fast"}, TOML)
    assert e.value.key == "lr" and str(e.value).startswith("lr in run.toml must be a number")


def test_defaults_and_normal_forms():
    s = validate_train({})
    assert s["epochs"] == 5 and s["iterations"] is None and s["optimizer"] == "adam" and s["layers"] == \
        "784,100,100,100,100,10"
    s = validate_train({"iterations": 60, "layers": [784, 32, 10], "optimizer": "Momentum", "activation": "ReLU",
                        "batch_size": 100.0})
    assert s["epochs"] is None and s["iterations"] == 60 and s["layers"] == "784,32,10"
    assert s["optimizer"] == "momentum" and s["activation"] == "relu" and s["batch_size"] == 100
    assert isinstance(s["batch_size"], int)


# Every name the command accepted before the registries (case and dash variants included).
ACCEPTED = [
    ("optimizer", n) for n in ["sgd", "momentum", "ema_momentum", "momentum_ema", "nesterov", "nesterov_ema",
                               "adagrad", "rmsprop", "adam", "adamw", "nadam", "Adam", "ADAMW", "ema-momentum",
                               "nesterov-ema", "RMSProp"]
] + [
    ("activation", n) for n in ["relu", "sigmoid", "tanh", "identity", "linear", "leaky_relu", "leaky-relu",
                                "ReLU", "Tanh", "LeakyReLU"]
] + [
    ("init", n) for n in ["zeros", "zero", "ones", "constant", "normal", "small", "small_random", "standard_normal",
                          "uniform", "uniform_fan_in", "truncated_normal", "orthogonal", "identity", "eye",
                          "scaled_identity", "xavier", "xavier_normal", "xavier_uniform", "glorot", "glorot_normal",
                          "glorot_uniform", "he", "kaiming", "he_normal", "kaiming_normal", "he_uniform",
                          "kaiming_uniform", "lecun", "lecun_normal", "lecun_uniform", "variance_scaling", "book",
                          "torch", "torch_default", "std=0.01", "normal(0, 0.01)", "identity(1.5)", "0.5", "He",
                          "Xavier-Normal", "he_normal(mode=fan-out)", "orthogonal(gain=1.414)"]
]


@pytest.mark.parametrize("key,name", ACCEPTED)
def test_every_name_accepted_before_is_accepted(key, name):
    validate_train({key: name})
    validate_diagnose({key: name})


@pytest.mark.parametrize("key,typed,canonical", [
    ("dataset", "MNIST", "mnist"), ("dataset", "Fashion_MNIST", "fashion-mnist"), ("dtype", "Float64", "float64"),
    ("schedule", "Cosine", "cosine"), ("schedule", "warmup-cosine", "warmup_cosine"),
    ("schedule", "Inverse-Time", "inverse_time")])
def test_every_name_is_case_and_dash_insensitive(key, typed, canonical):
    """As the README promises for names: the dataset, dtype and schedule too, stored canonical (so a resume
    with the canonical spelling finds no difference)."""
    assert validate_train({key: typed})[key] == canonical
    if key == "dataset":
        assert validate_diagnose({key: typed})[key] == canonical
        from mlplab.sweep.problem import validate_problem

        layers = "784,10"
        assert validate_problem({key: typed, "layers": layers})[key] == canonical


def test_optimizer_settings_come_from_the_constructor():
    with pytest.raises(SettingsError, match="sgd has no momentum .*; its settings are lr, weight_decay, clip_value"):
        check_optimizer("sgd", {"momentum": 0.9})
    assert check_optimizer("rmsprop", {"momentum": 0.9}) == ("rmsprop", {"momentum": 0.9})
    with pytest.raises(SettingsError, match="eps"):  # the constructor's own checks reach the user too
        check_optimizer("adam", {"eps": -1.0})


def test_blas_threads():
    assert check_blas_threads(0, cores=2) == 0 and check_blas_threads(2, cores=2) == 2
    for bad in (-1, 3, 999):
        with pytest.raises(SettingsError, match=r"--blas-threads must be 0 \(the BLAS library's default\) or a "
                                                r"thread count from 1 to 2"):
            check_blas_threads(bad, cores=2)


def test_resume_differences_name_what_differs():
    saved = validate_train({"optimizer": "sgd", "lr": 0.1, "iterations": 60})
    assert resume_differences(saved, {"lr": 0.1, "optimizer": "sgd"}) == []
    assert resume_differences(saved, {"lr": 0.01, "blas_threads": 1, "checkpoint_every": 7}) == [("lr", 0.1, 0.01)]
