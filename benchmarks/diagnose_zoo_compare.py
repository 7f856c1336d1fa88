"""Do two versions of the check-up give the zoo the same diagnoses? (issue 30's time work: a speed-up may change
numbers in their last bits, never a verdict, a severity or a message.)

    PYTHONPATH=OLD/src python benchmarks/diagnose_zoo_compare.py --dump before.json   # with the old code
    PYTHONPATH=NEW/src python benchmarks/diagnose_zoo_compare.py --dump after.json    # with the new code
    python benchmarks/diagnose_zoo_compare.py --compare before.json after.json

``--dump`` diagnoses every case of the zoo (``benchmarks/diagnose_zoo.py``'s cases and settings: 256 examples
with their labels, 3 steps, one thread; ``--models``/``--inits`` restrict them) and writes each
``Diagnosis.to_dict()``. ``--compare`` says, for two dumps: every string (verdicts, severities, problems, rules,
sentences, summaries, recommendations, notes, coverage, checks' sentences) identical, every boolean and integer
equal, and every number within a relative ``--rtol`` (default 1e-6; ``--rtol32`` 1e-5 for the statistics taken
from the model's float32 tensors) or an absolute 1e-9 near zero (an activation's mean: ``--rtol`` of its std,
for a mean that is 0 in exact arithmetic is the rounding of terms the size of the std: the theory's mean of an
identity output layer of std 5e15 read -0.5 or -0.25 by the order of its additions); it prints the largest
relative difference of each field and exits 1 on any difference beyond them. ``input.threads`` (the thread
count's reason) and ``input.memory_estimate`` (bytes the traced pass saved) are compared as the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: fields computed from the model's float32 tensors (their last bits depend on the order of float32 operations)
FLOAT32 = ("act_mean", "act_std", "weight_grad_norm", "pre_grad_norm", "signal_gain", "grad_gain", "update_ratio",
           "total_change", "label_signal", "loss_before", "loss_after", "loss", "ratio", "loss_start", "loss_end")


def dump(args) -> None:
    import diagnose_zoo as dz
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    out = {}
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        for e, init, opt in dz.cases(args.models, args.inits):
            d, secs, _ = dz.diagnose_case(e, init, opt)
            out[dz.key(e.name, init, opt)] = d.to_dict()
            print(f"{dz.key(e.name, init, opt):45s} {d.overall:8s} {secs * 1e3:8.0f} ms", flush=True)
    args.dump.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"{len(out)} diagnoses in {time.perf_counter() - t0:.0f} s -> {args.dump}")


def walk(a, b, path, diffs, rtol, rtol32, atol=1e-9):
    """Append (path, what, relative difference) for each difference of ``b`` from ``a`` beyond the tolerances;
    record every numeric field's largest relative difference in ``diffs['max']``."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            diffs["bad"].append((path, f"keys differ: {sorted(set(a) ^ set(b))}", None))
        for k in a.keys() & b.keys():
            # a mean next to its std is compared on the std's scale: an expectation that is 0 in exact arithmetic
            # (the identity's or tanh's mean) is the rounding of a sum of terms of the size of the std
            scale = a.get("act_std") if k == "act_mean" and isinstance(a.get("act_std"), float) else None
            walk(a[k], b[k], f"{path}.{k}", diffs, rtol, rtol32,
                 max(atol, rtol * abs(scale)) if scale is not None and math.isfinite(scale) else atol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs["bad"].append((path, f"lengths {len(a)} != {len(b)}", None))
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{path}[{i}]", diffs, rtol, rtol32, atol)
    elif isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            if a != b:
                diffs["bad"].append((path, f"{a!r} != {b!r}", None))
            return
        a, b = float(a), float(b)
        if math.isnan(a) and math.isnan(b) or a == b:
            rel = 0.0
        elif not (math.isfinite(a) and math.isfinite(b)):
            rel = math.inf
        else:
            rel = abs(a - b) / max(abs(a), abs(b))
        field = path.rsplit(".", 1)[-1].split("[")[0]
        tol = rtol32 if field in FLOAT32 else rtol
        key = field
        diffs["max"][key] = max(diffs["max"].get(key, 0.0), rel)
        if rel > tol and abs(a - b) > atol:
            diffs["bad"].append((path, f"{a!r} != {b!r}", rel))
    elif a != b:
        diffs["bad"].append((path, f"{a!r} != {b!r}", None))


def compare(args) -> int:
    before, after = (json.loads(Path(p).read_text()) for p in args.compare)
    diffs = {"bad": [], "max": {}}
    if set(before) != set(after):
        print(f"cases differ: {sorted(set(before) ^ set(after))}")
        return 1
    for k in before:
        walk(before[k], after[k], k, diffs, args.rtol, args.rtol32)
    changed = {k for k in before if before[k]["overall"] != after[k]["overall"]}
    print(f"{len(before)} diagnoses compared; overall verdicts changed: {len(changed)}")
    moved = {k: v for k, v in diffs["max"].items() if v > 0}
    print("largest relative difference per field (fields not listed: identical): " +
          (", ".join(f"{k} {v:.1e}" for k, v in sorted(moved.items(), key=lambda kv: -kv[1])) or "none"))
    for path, what, rel in diffs["bad"][:40]:
        print(f"  DIFFERS {path}: {what}" + (f" (relative {rel:.1e})" if rel is not None else ""))
    if diffs["bad"]:
        print(f"{len(diffs['bad'])} differences beyond the tolerance")
        return 1
    print(f"every string, flag and count identical; every number within {args.rtol:g} "
          f"({args.rtol32:g} for float32 statistics) or 1e-9")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dump", type=Path, help="diagnose the zoo's cases and write their diagnoses here")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--models", type=lambda s: s.split(","))
    ap.add_argument("--inits", type=lambda s: s.split(","))
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--rtol32", type=float, default=1e-5)
    args = ap.parse_args()
    if args.dump:
        dump(args)
    if args.compare:
        sys.exit(compare(args))


if __name__ == "__main__":
    main()
