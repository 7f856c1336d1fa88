"""How fast mlplab.theory computes the tanh phase diagram (issue 26's budget: the critical line at 200 values of
σ_b² in ≤ 1 s, a 100 × 100 grid of ξ_c in ≤ 5 s), and how close the grid is to the paper's ξ_c.

    PYTHONPATH=src python benchmarks/theory_speed.py [--repeats 3]

Prints the median wall time of ``repeats`` runs of each and the load average (the machine is shared: compare
medians, not single runs). The grid spans σ_w² ∈ [1, 4] × σ_b² ∈ [0, 0.5], both phases; its ξ_c at σ_b² = 0.05
is compared with Schoenholz et al. 2017 (3.63 / 15.8 / 25.2 / 11.8 / 6.98 at σ_w² = 1 / 1.5 / 2 / 2.5 / 4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from mlplab import theory as T

PAPER_XI_C = {1.0: 3.63, 1.5: 15.8, 2.0: 25.2, 2.5: 11.8, 4.0: 6.98}


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"== mlplab.theory speed (load average {os.getloadavg()[0]:.1f}; 1-D order {T.ORDER_1D}+, "
          f"2-D order {T.ORDER_2D}+)")
    sb2 = np.linspace(0.0, 1.0, 200)
    t, (w, q) = timed(lambda: T.critical_line(sb2, "tanh"), args.repeats)
    print(f"critical line, tanh, 200 values of σ_b² in [0, 1]: {t:.3f} s (budget 1 s); "
          f"σ_w² from {w[0]:.3f} to {w[-1]:.3f}")
    sw2_axis = np.linspace(1.0, 4.0, 100)
    W, B = np.meshgrid(sw2_axis, np.linspace(0.0, 0.5, 100))
    t, p = timed(lambda: T.propagation(W, B, "tanh"), args.repeats)
    phases = {k: int(v) for k, v in zip(*np.unique(p.phase(), return_counts=True))}
    print(f"ξ_c on a 100 × 100 grid (σ_w² ∈ [1, 4], σ_b² ∈ [0, 0.5]): {t:.3f} s (budget 5 s); phases {phases}")
    at = T.propagation(np.array(list(PAPER_XI_C)), 0.05, "tanh").xi_c
    worst = max(abs(a / b - 1) for a, b in zip(at, PAPER_XI_C.values()))
    print("ξ_c at σ_b² = 0.05: " + ", ".join(f"σ_w² {k:g}: {a:.3g} (paper {b:g})" for (k, b), a in
                                             zip(PAPER_XI_C.items(), at)) + f"; worst {100 * worst:.2f} %")


if __name__ == "__main__":
    main()
