"""The README's commands, as written: every `mlplab ...` line of its ```sh blocks parses with the real
command's parser (each subcommand and flag exists, each value has the right type), and the cheap ones run.
So the README cannot drift from the command. It also says how `mlplab` gets on PATH after `make demo`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mlplab.cli import build_parser
from mlplab.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# The README's placeholders (upper-case words the reader replaces), each with a value of the right type.
PLACEHOLDERS = {"N": "1", "DIR": "somedir", "URL": "http://127.0.0.1:9/mnist", "W.pt": "w.pt",
                "tcp://HOST:PORT": "tcp://127.0.0.1:8786"}


def sh_commands(text: str = README) -> list[str]:
    """Every `mlplab` command of the ```sh blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        block = re.sub(r"\\\n\s*", " ", block)
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("mlplab "):
                commands.append(line)
    return commands


def as_argv(command: str) -> list[str]:
    """The command's words after `mlplab`, with each ``[--option VALUE]`` taken (so optional flags are
    checked too), ``A|B`` placeholders as their first choice, ``...`` (the rest of a command shown above)
    left out, and placeholders replaced by values of their type."""
    words = []
    for w in shlex.split(command)[1:]:
        w = w.strip("[]")
        if w == "...":
            continue
        if "|" in w and w.split("|")[0].isupper():
            w = w.split("|")[0]
        words.append(PLACEHOLDERS.get(w, w))
    return words


COMMANDS = sh_commands()


def test_the_readme_has_its_commands():
    assert len(COMMANDS) >= 20
    assert {c.split()[1] for c in COMMANDS} >= {"train", "data", "lab", "report", "diagnose", "init", "optim",
                                                "live", "sweep"}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_parses_with_the_real_parser(command):
    argv = as_argv(command)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except (SystemExit, Exception):  # noqa: BLE001 (the command's parser raises its one-line error)
        pytest.fail(f"the README's `{command}` does not parse: {argv}")
    assert extra == [], f"the README's `{command}` has options the command does not know: {extra}"
    assert getattr(args, "func", None) is not None, command


def test_a_planted_wrong_flag_would_be_caught():
    """The check can fail: a README line with a flag the command lacks, or a bad value, does not parse."""
    fake = "```sh\nmlplab train --learning-rate 0.1  # no such flag\nmlplab lab run paths --seed [N]\n```\n"
    bad, good = sh_commands(fake)
    assert build_parser().parse_known_args(as_argv(bad))[1] == ["--learning-rate", "0.1"]
    assert build_parser().parse_known_args(as_argv(good))[0].seed == 1
    with pytest.raises(Exception, match="--lr"):  # the command's parser: one line, not SystemExit
        build_parser().parse_known_args(["train", "--lr", "abc"])


CHEAP = ["mlplab lab list", "mlplab init list", "mlplab optim list", "mlplab data info [--verify]",
         "mlplab diagnose --layers 784,256,256,10 --activation tanh --init he"]


@pytest.mark.parametrize("command", CHEAP)
def test_the_cheap_readme_commands_run_as_written(command, capsys):
    assert command in COMMANDS, f"`{command}` is no longer in the README: update this list"
    assert cli_main(as_argv(command)) == 0
    out = capsys.readouterr()
    assert out.out.strip() and "Traceback" not in out.err


def test_the_readme_and_make_demo_say_how_mlplab_gets_on_path():
    """After `make demo` the command is .venv/bin/mlplab: the README says to activate the venv before
    "Using it", and `make demo` ends by printing it."""
    quick = README[README.index("## Quick start"):README.index("## Using it")]
    assert ". .venv/bin/activate" in quick
    demo = re.search(r"^demo:.*?(?=^\S)", (ROOT / "Makefile").read_text(), flags=re.S | re.M).group(0)
    assert ". $(VENV)/bin/activate" in demo and "echo" in demo
