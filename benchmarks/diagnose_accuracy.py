"""How often does the diagnosis "will not train" (overall ``error``) agree with what one epoch of MNIST
actually does? And do a torch network and the mlplab network with the same weights get the same verdicts?

    python benchmarks/diagnose_accuracy.py [--networks 240] [--seed 1] [--out results.jsonl] [--speed-only]
    python benchmarks/diagnose_accuracy.py --reuse results.jsonl     # the diagnosis again, the epochs from before

The set: ``--networks`` fully-connected networks drawn from ``--seed``: depth (number of weight layers)
2, 3, 4, 6, 10, 20 or 50; width 16, 32, 64, 128, 256 or 512 (deep *and* wide nets are capped at about
1.6 M weights, so depth 50 goes up to width 128 and depth 20 to 256, to keep one epoch affordable on a
shared 2-core machine); weights zero, constant 0.01, N(0, 1), N(0, 0.01²), Xavier N(0, 2/(n_in + n_out)),
He N(0, 2/n_in), N(0, 1/n_in), N(0, 3/n_in); biases 0; activation relu, leaky_relu, tanh or sigmoid.

The protocol (fixed before looking at any result): the diagnosis sees 256 MNIST training images with
their labels and takes 3 SGD steps (lr 0.01) on a copy. The ground truth is one epoch, with mlplab
(NumPy, one BLAS thread), over a fixed subset of 6000 training images (batch 32, 188 steps) with momentum
SGD (lr 0.01, μ 0.9); the network *trains* if its accuracy on 2000 test images is then ≥ 50 %
(chance is 10 %; healthy nets of this set reach 80-95 %). A diverged run does not train.

The severity limits (``mlplab.diagnose.verdicts.RULES``) were first set on the networks of ``--seed 0``; the
figure to quote is for another seed. The same script times a 50-layer, 512-wide ReLU MLP diagnosis
beside one plain forward+backward pass of that network (the machine is shared: the ratio is the stable
number).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from mlplab import data, diagnose, nn, optim
from mlplab.diagnose.pytorch import diagnose_torch
from mlplab.train import Trainer, evaluate

DEPTHS = (2, 3, 4, 6, 10, 20, 50)
WIDTHS = (16, 32, 64, 128, 256, 512)
INITS = ("zero", "constant", "N(0,1)", "N(0,0.01²)", "xavier", "he", "1/n", "3/n")
ACTS = ("relu", "leaky_relu", "tanh", "sigmoid")
MAX_WEIGHTS = 1.6e6
TORCH_ACT = {"relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU, "tanh": torch.nn.Tanh,
             "sigmoid": torch.nn.Sigmoid}


def draw_weight(init, n_in, n_out, rng):
    if init == "zero":
        return np.zeros((n_in, n_out), np.float32)
    if init == "constant":
        return np.full((n_in, n_out), 0.01, np.float32)
    std = {"N(0,1)": 1.0, "N(0,0.01²)": 0.01, "xavier": np.sqrt(2 / (n_in + n_out)), "he": np.sqrt(2 / n_in),
           "1/n": np.sqrt(1 / n_in), "3/n": np.sqrt(3 / n_in)}[init]
    return (rng.standard_normal((n_in, n_out)) * std).astype(np.float32)


def network_set(n, seed):
    """``n`` specs (sizes, init, activation, weights), every init x activation pair equally often."""
    rng = np.random.default_rng(seed)
    pairs = [(i, a) for i in INITS for a in ACTS]
    order = [p for _ in range(n // len(pairs) + 1) for p in rng.permutation(len(pairs))]
    specs = []
    for k in range(n):
        init, act = pairs[order[k]]
        while True:
            depth, width = int(rng.choice(DEPTHS)), int(rng.choice(WIDTHS))
            if 784 * width + (depth - 2) * width * width <= MAX_WEIGHTS:
                break
        sizes = [784] + [width] * (depth - 1) + [10]
        ws = [draw_weight(init, a, b, rng) for a, b in zip(sizes[:-1], sizes[1:])]
        specs.append({"sizes": sizes, "init": init, "activation": act, "weights": ws})
    return specs


def mlplab_net(spec):
    net = nn.MLP(spec["sizes"], activation=spec["activation"], weight_init="zeros", bias_init="zeros")
    for lin, w in zip(net.linears, spec["weights"]):
        lin.weight.data[...] = w
    return net


def torch_net(spec):
    layers = []
    for i, w in enumerate(spec["weights"]):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.zero_()
        layers.append(lin)
        if i < len(spec["weights"]) - 1:
            layers.append(TORCH_ACT[spec["activation"]]())
    return torch.nn.Sequential(*layers)


def one_epoch(spec, X, y, Xt, yt, seed):
    """Test accuracy after one epoch of momentum SGD (NaN if it diverged)."""
    net = mlplab_net(spec)
    opt = optim.Momentum(net.parameters(), lr=0.01, momentum=0.9)
    hist = Trainer(net, opt, on_divergence="stop").fit(X, y, epochs=1, batch_size=32, rng=seed)
    if hist.diverged:
        return float("nan")
    with np.errstate(all="ignore"):
        return float(evaluate(net, Xt, yt)[1])


def speed(repeats=5):
    spec = {"sizes": [784] + [512] * 49 + [10], "activation": "relu", "init": "he"}
    spec["weights"] = [draw_weight("he", a, b, np.random.default_rng(0))
                       for a, b in zip(spec["sizes"][:-1], spec["sizes"][1:])]
    net = torch_net(spec)
    x = torch.rand(256, 784)
    y = torch.randint(0, 10, (256,))

    def fwd_bwd():
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()

    times = {"diagnose": [], "fwd+bwd": []}
    fwd_bwd()
    diagnose_torch(net, x, y)
    for _ in range(repeats):  # interleaved, so a busy neighbour slows both alike
        t0 = time.perf_counter()
        diagnose_torch(net, x, y)
        times["diagnose"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fwd_bwd()
        times["fwd+bwd"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"50-layer 512-wide ReLU MLP, batch 256: diagnose {med['diagnose']:.2f} s (median of {repeats}), one "
          f"forward+backward {med['fwd+bwd']:.3f} s: ratio {med['diagnose'] / med['fwd+bwd']:.1f}; "
          f"load average {__import__('os').getloadavg()[0]:.1f}")
    return med


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", type=int, default=240)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write every network's result (JSON lines)")
    ap.add_argument("--reuse", help="take each network's one-epoch accuracy from an earlier --out file of the same "
                                    "--seed and --networks (the ground truth does not depend on the diagnosis)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--no-speed", action="store_true", help="skip the timing")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(limits=1, user_api="blas"):
        if not args.no_speed:
            speed()
        if args.speed_only:
            return
        run(args)


def run(args):
    Xall, yall = data.load("mnist", "train")
    Xtest, ytest = data.load("mnist", "test")
    rng = np.random.default_rng([args.seed, 7])
    idx = rng.permutation(len(Xall))
    Xp, yp = Xall[idx[:256]], yall[idx[:256]]
    Xtr, ytr = Xall[idx[256:6256]], yall[idx[256:6256]]
    t_idx = rng.choice(len(Xtest), 2000, replace=False)
    Xt, yt = Xtest[t_idx], ytest[t_idx]
    specs = network_set(args.networks, args.seed)
    reuse = {}
    if args.reuse:
        for line in open(args.reuse):
            r = json.loads(line)
            reuse[r["k"]] = (r["depth"], r["width"], r["init"], r["activation"], r["accuracy"])
    out = open(args.out, "w") if args.out else None
    table = {(p, a): 0 for p in (True, False) for a in (True, False)}
    same, rows, t_start = 0, [], time.perf_counter()
    for k, spec in enumerate(specs):
        with np.errstate(all="ignore"):
            dm = diagnose.diagnose_model(mlplab_net(spec), Xp, yp, steps=3, activation=spec["activation"])
        dt = diagnose_torch(torch_net(spec), Xp, yp, steps=3)
        parity = ([(x.verdict, x.problem) for x in dm.layers] == [(x.verdict, x.problem) for x in dt.layers]
                  and (dm.overall, dm.problem) == (dt.overall, dt.problem))
        same += parity
        ident = (len(spec["sizes"]) - 1, spec["sizes"][1], spec["init"], spec["activation"])
        if k in reuse and reuse[k][:4] == ident:
            acc = float("nan") if reuse[k][4] is None else reuse[k][4]
        else:
            acc = one_epoch(spec, Xtr, ytr, Xt, yt, args.seed)
        trains = bool(acc >= 0.5)
        table[(dt.overall == "error", not trains)] += 1
        rec = {"k": k, "depth": len(spec["sizes"]) - 1, "width": spec["sizes"][1], "init": spec["init"],
               "activation": spec["activation"], "accuracy": None if acc != acc else acc, "trains": trains,
               "overall": dt.overall, "problem": dt.problem, "mlplab_overall": dm.overall, "parity": parity,
               "summary": dt.summary, "layers": [x.measured | {"problem": x.problem, "verdict": x.verdict}
                                                 for x in dt.layers]}
        rows.append(rec)
        if out:
            out.write(json.dumps(rec, default=float) + "\n")
            out.flush()
        flag = "" if (dt.overall == "error") == (not trains) else "  <- disagree"
        print(f"{k:3d} {rec['depth']:2d}x{rec['width']:<3d} {spec['init']:>10s} {spec['activation']:>10s}  "
              f"acc {acc:6.1%}  {dt.overall:7s} {dt.problem:10s} parity {'ok' if parity else 'DIFF'}{flag}",
              flush=True)
    n = len(specs)
    agree = table[(True, True)] + table[(False, False)]
    print(f"\n{n} networks, seed {args.seed}, {time.perf_counter() - t_start:.0f} s")
    print("                         one epoch: does not train   trains")
    print(f"diagnosis 'will not train' (error)      {table[(True, True)]:5d}   {table[(True, False)]:5d}")
    print(f"diagnosis 'trains' (ok / warning)       {table[(False, True)]:5d}   {table[(False, False)]:5d}")
    print(f"agreement {agree}/{n} = {agree / n:.1%}; torch and mlplab verdicts identical on {same}/{n}")
    for init in INITS:
        sub = [r for r in rows if r["init"] == init]
        ok = sum((r["overall"] == "error") == (not r["trains"]) for r in sub)
        print(f"  {init:>11s}: agreement {ok}/{len(sub)}, trains {sum(r['trains'] for r in sub)}/{len(sub)}")


if __name__ == "__main__":
    main()
