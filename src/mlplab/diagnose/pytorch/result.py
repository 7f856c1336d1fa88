"""What a check-up of a torch network returns: :class:`Diagnosis` and :class:`LayerDiagnosis`, the
severity limits (:data:`SEVERITY`) that make a row ok/warning/error, the sentences, the summary and
recommendation, and the table printed for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..theory_note import critical_advice
from ..verdicts import LEVELS, RULES, _finite, _nan_to_none, judge, recommendation

#: The boundaries of every rule (mlplab.diagnose.verdicts.RULES, the one definition), by rule name.
SEVERITY = {r.name: {"warning": r.warning, "error": r.error, "op": r.op, "error_with": r.error_with} for r in RULES}
SCHEMA = "mlplab.diagnosis/2"  # the JSON of Diagnosis.to_dict(); docs/diagnosis.schema.json describes it


# ------------------------------------------------------------------------------ the result
@dataclass
class LayerDiagnosis:
    """One analysed layer: ``verdict`` ok|warning|error, ``problem`` (mlplab.diagnose's verdict: healthy,
    vanishing, exploding, saturating, dead, symmetric), the measured and predicted statistics, a sentence."""

    index: int
    name: str
    kind: str
    shape: str
    activation: str
    normalization: str | None
    verdict: str
    problem: str
    sentence: str
    measured: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    rule: str | None = None  # the rule of mlplab.diagnose.verdicts.RULES that decided it (None: healthy)
    assumes: str | None = None  # the optimizer its "error" assumes (e.g. "sgd"), if it depends on one


@dataclass
class Diagnosis:
    """The check-up of a network: ``overall`` ok|warning|error, ``problem`` (the first problem from the input,
    "symmetric" if any layer is), ``summary`` and ``recommendation`` in plain words, the ``layers``, what was
    ``not_analysed``, ``notes`` (normalisations, dropout), the optimizer ``steps`` taken on a copy, the
    ``coverage`` (torch: what was traced, never reached, unregistered, frozen, shared, re-parametrized;
    :mod:`mlplab.diagnose.pytorch.coverage`), the expert's first ``checks`` (initial loss, overfit one batch) and
    what signal-propagation ``theory`` says of a plain fully-connected chain (:mod:`mlplab.diagnose.theory_note`:
    the phase, χ₁, ξ_c against the depth; ``{"applies": False, "why_not": …}`` for other networks)."""

    overall: str
    problem: str
    summary: str
    recommendation: str
    layers: list[LayerDiagnosis]
    not_analysed: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: dict = field(default_factory=dict)
    input: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    theory: dict = field(default_factory=dict)  # mlplab.diagnose.theory_note: phase, χ₁, ξ_c against the depth

    @property
    def will_train(self) -> bool:
        return self.overall != "error"

    def to_dict(self) -> dict:
        """JSON-ready (NaN as null), with ``schema`` naming the version of the documented layout."""
        return {"schema": SCHEMA, **_nan_to_none(asdict(self))}

    def _repr_html_(self) -> str:
        """Jupyter's view: the table and the sentences, by the report's renderer."""
        from ...display import html

        return html(self)

    def __str__(self) -> str:
        return _text(self)


def _severity(row: dict) -> tuple[str, str, str]:
    """(level, problem, reason) of one row: the row's own judgement if :func:`mlplab.diagnose.verdicts.judge_rows` made
    it, else :func:`mlplab.diagnose.verdicts.judge` of the row alone."""
    if "level" in row:
        return row["level"], row["verdict"], row.get("reason", "")
    j = judge(row)
    return j["level"], j["problem"], j["reason"]


_CONSEQUENCE = {"ok": "", "warning": "; it will train, but slowly or unevenly",
                "error": "; as initialised, this stops the network from training"}


def _sentence(row: dict, level: str) -> str:
    th = row.get("theory") or {}
    meas = f"activation std {_g(row.get('act_std'))} (theory {_g(th.get('act_std'))})"
    if row.get("normalization"):
        meas += f"; {row['normalization']} resets the variance here, so what came before does not compound"
    f = th.get("variance_factor")
    if _finite(f) and row["verdict"] in ("vanishing", "exploding"):
        meas += f"; theory: Var z changes {f:.3g}x at this layer (n σ² E[φ²] / Var z)"
    head = "healthy: signal and gradient within range" if row["verdict"] == "healthy" else \
        f"{row['verdict']}: {row['reason']}"
    return f"{head}{_CONSEQUENCE[level]} — {meas}"


def _g(x, pct=False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if pct:
        return f"{x:.0%}"
    if abs(x) < 1e-12:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.1e}"


_MEASURED = ("act_mean", "act_std", "saturated", "zero", "dead", "weight_grad_norm", "pre_grad_norm", "signal_gain",
             "grad_gain", "update_ratio", "total_change", "distinct_units", "weight_std0", "weight_mean0", "registered",
             "shared_uses", "label_signal")


def _from_rows(rows: list[dict], *, names=None, kinds=None, norms=None, diverged=None, steps=None, input=None,
               not_analysed=(), notes=(), activation=None, fan=None, theory=None) -> Diagnosis:
    """A Diagnosis from mlplab.diagnose-style rows (each with its verdict/reason/decided_by)."""
    out = []
    for i, r in enumerate(rows):
        level, problem, reason = _severity(r)
        r = {**r, "verdict": problem, "reason": reason, "normalization": (norms or [None] * len(rows))[i]}
        out.append(LayerDiagnosis(
            index=r["layer"], name=(names or [f"layer {r['layer']}"] * len(rows))[i],
            kind=(kinds or ["Linear"] * len(rows))[i], shape=f"{r['fan_in']}→{r['fan_out']}",
            activation=r["activation"], normalization=r["normalization"], verdict=level, problem=r["verdict"],
            sentence=_sentence(r, level), measured={k: r.get(k) for k in _MEASURED},
            predicted=dict(r.get("theory") or {}), rule=r.get("rule"), assumes=r.get("assumes")))
    overall = max((x.verdict for x in out), key=LEVELS.index, default="ok")
    problems = [x.problem for x in out if x.problem != "healthy" and x.verdict == overall]
    problem = "symmetric" if "symmetric" in problems else problems[0] if problems else "healthy"
    if diverged:
        overall = "error"
        if problem == "healthy" or problem == "vanishing":
            problem = "exploding"
    bad = [x for x in out if x.problem == problem and x.verdict == overall] or [x for x in out if x.problem == problem]
    where = f"layer {bad[0].index} ({bad[0].name})" if len(bad) == 1 else \
        f"{len(bad)} layers from layer {bad[0].index} ({bad[0].name})" if bad else ""
    if overall == "ok":
        summary = "ok: every analysed layer keeps its signal and gradient within range; it should train"
    else:
        first = bad[0].sentence.split(" — ")[0] if bad else ""
        summary = (f"{overall}: {'will not train as initialised' if overall == 'error' else 'trains, with a problem'}"
                   f"; {problem} in {where}: {first}" if bad else f"{overall}: {problem}")
        if diverged:
            summary += f"; {diverged}"
    theory = dict(theory or {})
    act = activation or next((x.activation for x in out if x.activation != "identity"), "identity")
    act_key = act if act in ("relu", "leaky_relu", "tanh", "sigmoid", "identity") else "relu"
    ws = [x.predicted.get("weight_std") for x in out if _finite(x.predicted.get("weight_std"))]
    spec = f"std={ws[min(1, len(ws) - 1)]:.3g}" if ws else "std=1"
    # the std that spec stands for, given (the registry's parse of "std=x" gives float(x): a parse fewer)
    rec = recommendation(act_key, spec, fan or rows[0]["fan_in"], weight_std=float(spec[4:]),
                         depth=len(rows), label="its current weights")["advice"]
    critical = critical_advice(theory)
    rec = critical or rec  # σ_w² on the critical line: the table's n σ² rule does not apply
    if overall != "ok" and not critical:  # a re-initialisation is no fix for weights already critical
        method = "he" if act_key in ("relu", "leaky_relu") else "xavier"
        rec += (f". Fix: fix_weights(model, {method!r}) or {'lsuv'!r} (CLI: --fix {method}) re-initialises every "
                "layer with the gain of its own activation")
    if theory.get("applies"):  # the why cites the theory; beyond 6ξ_c its advice joins the recommendation
        summary += f"; theory: {theory['sentence']}"
        if theory.get("advice"):
            rec += f"; theory: {theory['advice']}"
    return Diagnosis(overall, problem, summary, rec, out, list(not_analysed), list(notes), dict(steps or {}),
                     dict(input or {}), theory=theory)


#: Below this share of the model's parameters in analysed layers, "ok" cannot speak for the network.
MIN_ANALYSED = 0.5


def _judge_coverage(d: Diagnosis, fraction: float) -> None:
    """A network whose analysed layers hold under :data:`MIN_ANALYSED` of its parameters (recurrent modules,
    embeddings, attention kernels: not traced as layers) is not "ok" on their word: it becomes a "warning",
    problem ``not_analysed``, saying what to run to check the rest."""
    d.input["analysed_parameters"] = fraction
    if d.overall == "ok" and fraction < MIN_ANALYSED:
        d.overall, d.problem = "warning", "not_analysed"
        d.summary = (f"warning: the analysed layers are healthy, but they hold only {fraction:.0%} of the "
                     "parameters (the rest are in modules not analysed, listed below): this says nothing about "
                     "them; run the overfit-one-batch probe (overfit_batch=N, --overfit-batch N) to check the "
                     "whole network trains")


def from_result(result: dict) -> Diagnosis:
    """The ok/warning/error Diagnosis of an mlplab network, from ``mlplab.diagnose.checkup``'s dict (a Diagnosis,
    as ``mlplab.diagnose.diagnose_model`` returns, is returned as it is)."""
    if isinstance(result, Diagnosis):
        return result
    st = result.get("steps") or {}
    fans = [r["fan_in"] for r in result["layers"]]
    hidden = sorted(fans[1:]) or fans  # the weight std quoted is layer 2's: quote it at a hidden layer's fan-in
    d = _from_rows(result["layers"], diverged=st.get("diverged"), steps=st, input=result.get("input"),
                   activation=(result.get("config") or {}).get("activation"), theory=result.get("theory"),
                   fan=hidden[(len(hidden) - 1) // 2])
    if result.get("sharpness"):  # --sharpness: mlplab.diagnose.sharpness's line
        d.checks["sharpness"] = dict(result["sharpness"])
    return d


# ------------------------------------------------------------------------------ presenting
_COLUMNS = ("layer", "name", "shape", "φ", "act mean", "act std", "sat./dead", "‖∂L/∂W‖", "‖ΔW‖/‖W‖", "verdict")


def _cells(d: Diagnosis) -> list[list[str]]:
    """The table rows: measured (theory)."""
    out = []
    for lay in d.layers:
        m, p = lay.measured, lay.predicted
        if lay.activation in ("sigmoid", "tanh"):
            sd = f"{_g(m.get('saturated'), True)} ({_g(p.get('saturated'), True)})"
        elif lay.activation == "relu":
            sd = f"{_g(m.get('dead'), True)} (0%)"
        elif lay.activation == "relu6":  # a ReLU that saturates: dead units, and outputs at 6
            sd = f"{_g(m.get('dead'), True)} / {_g(m.get('saturated'), True)} ({_g(p.get('saturated'), True)})"
        else:
            sd = ""
        act = (f"{lay.normalization}+" if lay.normalization else "") + lay.activation
        out.append([str(lay.index), f"{lay.name} {lay.kind}", lay.shape, act,
                    f"{_g(m.get('act_mean'))} ({_g(p.get('act_mean'))})",
                    f"{_g(m.get('act_std'))} ({_g(p.get('act_std'))})", sd,
                    f"{_g(m.get('weight_grad_norm'))} ({_g(p.get('weight_grad_norm'))})",
                    _g(m.get("update_ratio")), f"{lay.verdict} ({lay.problem})" if lay.verdict != "ok" else "ok"])
    return out


def _text(d: Diagnosis) -> str:
    cells = [list(_COLUMNS), *_cells(d)]
    widths = [max(len(r[j]) for r in cells) for j in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["measured (theory)"]
    lines += [f"not analysed: {s['what']} in {s['where']}" for s in d.not_analysed]
    lines += [f"note: {n}" for n in d.notes]
    lines += [f"layer {lay.index} ({lay.name}): {lay.sentence}" for lay in d.layers if lay.verdict != "ok"]
    lines += [f"coverage: {d.coverage['summary']}"] if d.coverage else []
    lines += [f"check: {c['sentence']}" for c in d.checks.values()]
    lines += [f"theory: {d.theory['sentence']}"] if d.theory.get("applies") else []
    lines += [f"verdict: {d.summary}", f"recommendation: {d.recommendation}"]
    return "\n".join(lines)
