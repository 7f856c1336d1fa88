"""The layering of the package, checked on the source: the core imports no front end, and no
module imports another that (directly or not) imports it back.

Every import counts, also those inside functions: a lazy import still ties two modules together.
"""

import ast
import functools
from pathlib import Path

import mlplab

SRC = Path(mlplab.__file__).parent
PRESENTATION = ("rich", "matplotlib")
FRONT_ENDS = ("cli", "lab")  # sub-packages allowed to draw and print
# what the core (tensor, nn, init, optim, data, train, diagnostics, diagnose, settings, ...) must not import:
# the presentation packages and the front ends built on the core (the live lab in the browser, sweeps, watch)
ABOVE_THE_CORE = (*FRONT_ENDS, "live", "sweep", "watch")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache  # each file parsed once for the three checks (seconds for the whole package)
def imports(path: Path, root: Path) -> frozenset[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved; ``from . import x``
    is module ``pkg.x`` when that file exists)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            subs = set()
            for a in node.names:
                sub = f"{mod}.{a.name}"
                rel = Path(*sub.split(".")[1:])
                if (root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists():
                    subs.add(sub)
            found.update(subs if len(subs) == len(node.names) else {mod, *subs})
    return frozenset(found)


def graph(root: Path) -> dict[str, set[str]]:
    top = root.name
    g = {}
    for path in sorted(root.rglob("*.py")):
        g[module_name(path, root)] = {m for m in imports(path, root) if m == top or m.startswith(top + ".")}
    for mod in g:  # importing a.b.c runs a/__init__ and a/b/__init__ too: not an edge we count
        g[mod] = {m for m in g[mod] if m in g and m != mod}
    return g


def presentation_outside_front_ends(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in FRONT_ENDS:
            continue
        for m in imports(path, root):
            if m.split(".")[0] in PRESENTATION:
                bad.append(f"{rel} imports {m}")
    return bad


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (one per back edge)."""
    found, state, stack = [], {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(g[u]):
            if state.get(v) == "open":
                found.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = "done"

    for u in sorted(g):
        if u not in state:
            visit(u)
    return found


def core_imports_of_front_ends(g, top="mlplab"):
    above = lambda mod: mod.split(".")[1:2] in ([f] for f in ABOVE_THE_CORE)  # noqa: E731
    return [f"{m} imports {d}" for m, ds in g.items() for d in ds
            if not above(m) and above(d) and m not in (top, f"{top}.__main__")]


def test_rich_and_matplotlib_only_in_cli_and_lab():
    assert presentation_outside_front_ends(SRC) == []


def test_no_import_cycle():
    assert cycles(graph(SRC)) == []


def test_core_imports_neither_cli_nor_lab():
    assert core_imports_of_front_ends(graph(SRC)) == []


def test_the_checks_can_fail(tmp_path):
    """A planted cycle (a -> b -> a, through a function-level import) and a planted rich import are found."""
    pkg = tmp_path / "pkg"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("from ..a import f\n")
    (pkg / "a.py").write_text("from . import b\n\ndef f():\n    from rich.console import Console\n")
    (pkg / "b.py").write_text("def g():\n    from .a import f\n    from .cli import main\n")
    g = graph(pkg)
    assert g["pkg.a"] == {"pkg.b"} and g["pkg.b"] == {"pkg.a", "pkg.cli"}
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.a", "pkg.b", "pkg.cli", "pkg.a"]]
    assert core_imports_of_front_ends(g, "pkg") == ["pkg.b imports pkg.cli"]
    assert presentation_outside_front_ends(pkg) == ["a.py imports rich.console"]
