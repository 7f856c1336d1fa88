"""A study's numbers.json as the report shows it: every number in 4 significant digits (:func:`format_value`),
long lists summarised (n, first, last, min, max), and the nested dicts and lists as tables
(:func:`number_tables`: a dict of dicts pivoted into one table when its leaves fit in ``MAX_PIVOT_COLUMNS``
columns, a list of records as rows, at most ``MAX_TABLE_ROWS`` rows shown and the rest counted); the settings
as one line (:func:`_settings_text`). :mod:`mlplab.lab.report` places them in the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_INLINE_LIST = 6  # longer lists of numbers are summarised (n, first, last, min, max)
MAX_TABLE_ROWS = 40  # rows shown per numbers table; the rest are counted
MAX_PIVOT_COLUMNS = 10  # a dict of dicts becomes one table if its leaves fit in this many columns


def format_value(v) -> str:
    """A number or short list as text: 4 significant digits, long lists summarised."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        a = abs(v)
        if 1e-3 <= a < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return _format_list(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={format_value(x)}" for k, x in v.items())
    return str(v)


def _shape(v) -> tuple:
    shape = []
    while isinstance(v, list):
        shape.append(len(v))
        if not v:
            break
        v = v[0]
    return tuple(shape)


def _flat_numbers(v) -> list[float]:
    out: list[float] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out.append(float(x))
        elif isinstance(x, str):
            try:
                out.append(float(x))  # "nan", "inf" as written by base._jsonable
            except ValueError:
                pass
    return out


def _format_list(v: list) -> str:
    if not v:
        return "[]"
    scalar = all(not isinstance(x, (list, dict)) for x in v)
    if scalar and len(v) <= MAX_INLINE_LIST:
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if scalar:
        nums = [x for x in _flat_numbers(v) if math.isfinite(x)]
        head = f"{len(v)} values: {format_value(v[0])} … {format_value(v[-1])}"
        if nums:
            head += f" (min {format_value(min(nums))}, max {format_value(max(nums))})"
        return head
    if all(isinstance(x, dict) for x in v):
        return f"{len(v)} records"
    shape = _shape(v)
    nums = [x for x in _flat_numbers(v) if math.isfinite(x)]
    text = f"array {'×'.join(map(str, shape))}"
    if nums:
        text += f": min {format_value(min(nums))}, mean {format_value(sum(nums) / len(nums))}, " \
                f"max {format_value(max(nums))}"
    return text


@dataclass
class NumberTable:
    """One table of a study's numbers: ``title`` is the dotted path of the part of numbers.json it
    shows ('' for top-level values), ``header`` the column names, ``rows`` formatted cells."""

    title: str
    header: list[str]
    rows: list[list[str]]
    hidden: int = 0  # rows beyond MAX_TABLE_ROWS, not shown


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    """Flatten nested dicts to dotted keys; lists and scalars are leaves."""
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_leaves(v, key))
        else:
            out[key] = v
    return out


def _pivot(d: dict) -> tuple[list[str], list[list[str]]] | None:
    """A dict whose values are all dicts with (mostly) the same leaves -> a row per key."""
    if len(d) < 2 or not all(isinstance(v, dict) and v for v in d.values()):
        return None
    flat = {k: _leaves(v) for k, v in d.items()}
    columns: list[str] = []
    for leaves in flat.values():
        for c in leaves:
            if c not in columns:
                columns.append(c)
    if len(columns) > MAX_PIVOT_COLUMNS:
        return None
    filled = sum(len(leaves) for leaves in flat.values())
    if filled < 0.6 * len(columns) * len(flat):  # too ragged to read as one table
        return None
    rows = [[str(k)] + [format_value(leaves[c]) if c in leaves else "—" for c in columns]
            for k, leaves in flat.items()]
    return columns, rows


def _records_table(v: list) -> tuple[list[str], list[list[str]]] | None:
    """A list of flat dicts (per-layer or per-run records) -> one row per record."""
    if not v or not all(isinstance(x, dict) and x for x in v):
        return None
    flat = [_leaves(x) for x in v]
    columns: list[str] = []
    for leaves in flat:
        for c in leaves:
            if c not in columns:
                columns.append(c)
    if len(columns) > MAX_PIVOT_COLUMNS + 2:
        return None
    return ["#"] + columns, [[str(i)] + [format_value(x.get(c)) for c in columns] for i, x in enumerate(flat)]


def number_tables(numbers, title: str = "") -> list[NumberTable]:
    """Turn a study's numbers.json into readable tables.

    Scalars (and short lists) at one level form a two-column ``quantity | value`` table; a dict whose
    values are dicts with the same keys (e.g. optimizer -> {final loss, accuracy}) becomes one table
    with a row per key; a list of records becomes a row per record; anything else is recursed into.
    """
    if not isinstance(numbers, dict):
        if numbers is None:
            return []
        return [NumberTable(title, ["quantity", "value"], [[title or "value", format_value(numbers)]])]
    tables: list[NumberTable] = []
    simple: list[list[str]] = []
    nested: list[tuple[str, object]] = []
    for k, v in numbers.items():
        if isinstance(v, dict) and v:
            nested.append((str(k), v))
        elif isinstance(v, list) and (rec := _records_table(v)) is not None and len(v) > 1:
            nested.append((str(k), v))
        else:
            simple.append([str(k), format_value(v)])
    if simple:
        tables.append(NumberTable(title, ["quantity", "value"], simple))
    for k, v in nested:
        path = f"{title}.{k}" if title else k
        if isinstance(v, list):
            rec = _records_table(v)
            tables.append(NumberTable(path, rec[0], rec[1]))
            continue
        piv = _pivot(v)
        if piv is not None:
            tables.append(NumberTable(path, [""] + piv[0], piv[1]))
        elif all(isinstance(x, dict) and len(_leaves(x)) <= MAX_INLINE_LIST for x in v.values()):
            tables.append(NumberTable(path, ["", "values"], [[str(a), _compact_leaves(b)] for a, b in v.items()]))
        elif all(not isinstance(x, dict) for x in v.values()):
            tables.append(NumberTable(path, ["quantity", "value"], [[str(a), format_value(b)] for a, b in v.items()]))
        else:
            tables.extend(number_tables(v, path))
    # merge consecutive small key/value tables? keep separate: each has its own path as caption.
    for t in tables:
        if len(t.rows) > MAX_TABLE_ROWS:
            t.hidden = len(t.rows) - MAX_TABLE_ROWS
            t.rows = t.rows[:MAX_TABLE_ROWS]
    return tables


def _compact_leaves(d: dict) -> str:
    return ", ".join(f"{k} = {format_value(x)}" for k, x in _leaves(d).items())


def _settings_text(settings) -> str:
    """Settings as compact ``key=value`` text (nested dicts inline)."""
    if not isinstance(settings, dict) or not settings:
        return "—"
    return "; ".join(f"{k}={_compact(v)}" for k, v in settings.items())


def _compact(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_compact(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list) and len(v) > MAX_INLINE_LIST * 2:
        return _format_list(v)
    if isinstance(v, list):
        return "[" + ", ".join(_compact(x) for x in v) + "]"
    return format_value(v)
