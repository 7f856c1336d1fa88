"""What the check-up covered, said rather than implied: :func:`coverage`.

A check-up only sees what one forward pass calls, so it says:

* **traced / never reached**: the layers traced, and the modules with parameters whose forward never
  ran and whose parameters got no gradient (a data-dependent exit, a branch not taken): they are not
  diagnosed.
* **unregistered**: modules and tensors held in a plain Python list, dict or attribute that
  ``nn.Module`` does not register (``self.blocks = [nn.Linear(...)]``): they are called by the forward
  but are not parameters of the model, so an optimizer built from ``model.parameters()`` never
  updates them, and ``state_dict`` does not save them. A traced layer with such weights is an
  "error": it never trains.
* **frozen**: ``requires_grad=False`` in the user's model (diagnosed as if trainable; their training
  leaves them as they are); **no gradient**: registered and reached, yet no gradient reached them
  (an output not in the loss, a ``detach``); **shared**: one tensor under several names (tied
  weights) or one weight called by several layers (its gradient is their sum, its update ratio one).
* **re-parametrized**: ``torch.nn.utils.parametrize`` (``parametrizations.weight_norm``,
  ``spectral_norm``, ``orthogonal``) and the old hook-based ``weight_norm``/``spectral_norm``: the
  weight a layer uses is computed from other parameters. Statistics and update sizes are those of the
  computed weight; :func:`mlplab.diagnose.pytorch.fix_weights` writes through the parametrization where
  it can be inverted and says where not.
"""

from __future__ import annotations

_INTERNAL = None  # the attributes every nn.Module has (filled at first use)


def span_names(names, limit: int = 6) -> str:
    """["layers.36", ..., "layers.99", "head"] -> "layers.36–99, head": runs of one numbered part collapsed."""
    groups: dict = {}
    order = []
    for n in names:
        bits = str(n).split(".")
        k = next((i for i, b in enumerate(bits) if b.isdigit()), None)
        key = (".".join(bits[:k]) + ("." if k else ""), "".join("." + b for b in bits[k + 1:])) if k is not None \
            else (n, None)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(bits[k]) if k is not None else None)
    parts = []
    for key in order:
        pre, post = key
        if post is None:
            parts.append(pre)
            continue
        nums = sorted(set(groups[key]))
        i = 0
        while i < len(nums):
            j = i
            while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
                j += 1
            parts.append(f"{pre}{nums[i]}{post}" if i == j else f"{pre}{nums[i]}–{nums[j]}{post}")
            i = j + 1
    return ", ".join(parts[:limit]) + (f", … ({len(parts) - limit} more)" if len(parts) > limit else "")


def _internal(torch) -> set:
    global _INTERNAL
    if _INTERNAL is None:
        _INTERNAL = set(vars(torch.nn.Module()))
    return _INTERNAL


_ATOMIC = frozenset({type(None), bool, int, float, str})


def unregistered(torch, model, mods: list | None = None) -> tuple[list[dict], dict]:
    """Modules and trainable tensors reachable as plain attributes/lists/dicts but not registered:
    ([{"path", "what", "parameters"}], id(tensor) -> its path). ``mods``: ``list(model.named_modules())`` if the
    caller has it (one walk over the model for the modules, their parameters and buffers)."""
    mods = list(model.named_modules()) if mods is None else mods
    registered = {id(m) for _, m in mods}
    params = {id(t) for _, m in mods for d in (m._parameters, m._buffers) for t in d.values() if t is not None}
    found, where = [], {}

    def visit(obj, path, depth=0):
        if isinstance(obj, torch.nn.Module):
            if id(obj) in registered or depth > 3:
                return
            registered.add(id(obj))
            ps = list(obj.named_parameters())
            found.append({"path": path, "what": type(obj).__name__, "parameters": int(sum(p.numel() for _, p in ps))})
            for n, p in ps:
                where.setdefault(id(p), f"{path}.{n}")
        elif isinstance(obj, torch.Tensor):
            if obj.is_leaf and obj.requires_grad and id(obj) not in params and id(obj) not in where:
                where[id(obj)] = path
                found.append({"path": path, "what": "tensor", "parameters": int(obj.numel())})
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                visit(v, f"{path}[{i}]", depth + 1)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                visit(v, f"{path}[{k!r}]", depth + 1)

    internal = _internal(torch)
    for name, m in mods:
        for attr, v in vars(m).items():
            # (a number, string or None holds nothing: not visited, as most of a module's attributes)
            if type(v) not in _ATOMIC and attr not in internal and not attr.startswith("_mlplab"):
                visit(v, f"{name}.{attr}" if name else attr)
    return found, where


def reparametrized(torch, model, mods: list | None = None) -> dict:
    """module name -> {"tensor", "how", "api"} for each re-parametrized weight (``mods`` as for
    :func:`unregistered`)."""
    from torch.nn.utils import parametrize

    out = {}
    for name, m in (model.named_modules() if mods is None else mods):
        # (is_parametrized's getattr goes through Module.__getattr__'s AttributeError for every module without
        # parametrizations: asked only of a module that has the attribute somewhere)
        if ("parametrizations" in m._modules or "parametrizations" in m.__dict__
                or hasattr(type(m), "parametrizations")) and parametrize.is_parametrized(m):
            for t, plist in m.parametrizations.items():
                how = "+".join(type(p).__name__.lstrip("_").replace("WeightNorm", "weight_norm")
                               .replace("SpectralNorm", "spectral_norm").replace("Orthogonal", "orthogonal")
                               for p in plist)
                out[name] = {"tensor": t, "how": how, "api": "parametrize"}
        for h in m._forward_pre_hooks.values():
            kind = type(h).__name__
            if kind in ("WeightNorm", "SpectralNorm"):
                out[name] = {"tensor": h.name, "how": "weight_norm" if kind == "WeightNorm" else "spectral_norm",
                             "api": "hook"}
    return out


def coverage(torch, user_model, work, layers, called: set, grad_norms: dict | None = None,
             user_params: list | None = None, mods: list | None = None) -> dict:
    """The coverage of one check-up (after the first backward on the working copy ``work``); ``grad_norms``:
    id(gradient) -> its float64 norm where the caller has taken it (the others are taken here); ``user_params``:
    ``list(user_model.parameters())`` if the caller has it (the names of frozen ones are walked for only if any);
    ``mods``: ``list(work.named_modules())`` if the caller has it."""
    names: dict[int, list[str]] = {}
    by_id = {}  # work.parameters(), from the same walk
    for n, p in work.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(n)
        by_id.setdefault(id(p), p)
    mods = list(work.named_modules()) if mods is None else mods  # one walk for the three readers below
    loose, loose_where = unregistered(torch, work, mods)
    reparam = reparametrized(torch, work, mods)

    # whether each parameter's gradient has a non-zero entry, for all of them in one call: a float64 norm is 0 exactly
    # when every entry is (no square of a float32 underflows in float64; NaN and inf give a norm ≠ 0, as they
    # are ≠ 0)
    with_grad = [p for p in by_id.values() if p.grad is not None and p.grad.layout == torch.strided
                 and p.grad.is_floating_point()]
    known = grad_norms or {}
    nonzero = {id(p): known[id(p.grad)] != 0 for p in with_grad if id(p.grad) in known}
    with_grad = [p for p in with_grad if id(p) not in nonzero]
    norms = torch._foreach_norm([p.grad.detach() for p in with_grad], 2, dtype=torch.float64) if with_grad else []
    nonzero.update({id(p): v != 0 for p, v in zip(with_grad, torch.stack(norms).tolist() if norms else [])})

    def has_grad(p):
        if p.grad is None:
            return False
        return nonzero[id(p)] if id(p) in nonzero else bool((p.grad != 0).any())  # (a sparse gradient)

    owners = {}
    for mname, m in mods:
        if ".parametrizations." in f".{mname}." or mname.endswith("parametrizations"):
            continue
        own = [p for p in m._parameters.values() if p is not None]
        if own or mname in reparam:
            owners[mname] = m
    unreached = [n for n, m in owners.items() if n and n not in called and not any(has_grad(p) for p in
                                                                                   m.parameters())]
    unreached_set = set(unreached)

    def in_unreached(pname):
        return any(pname == u or pname.startswith(u + ".") for u in unreached_set)

    no_grad = [ns[0] for pid, ns in names.items() if not in_unreached(ns[0]) and not has_grad(by_id[pid])]
    frozen = [] if user_params is not None and all(p.requires_grad for p in user_params) else \
        [n for n, p in user_model.named_parameters() if not p.requires_grad]
    shared = [{"names": ns, "layers": []} for ns in names.values() if len(ns) > 1]

    per_layer = []
    uses: dict[int, list[int]] = {}
    for i, lay in enumerate(layers):
        w = lay.op.weight
        while getattr(w, "_base", None) is not None:  # a view (a tied decoder's W.t()) is its base's weight
            w = w._base
        entry = {"layer": i + 1, "module": lay.op.where or None}
        if id(w) in names:
            entry.update(parameter=names[id(w)][0], weights="parameter")
            uses.setdefault(id(w), []).append(i + 1)
        elif id(w) in loose_where:
            entry.update(parameter=loose_where[id(w)], weights="unregistered")
            uses.setdefault(id(w), []).append(i + 1)
        elif lay.op.where in reparam:
            r = reparam[lay.op.where]
            entry.update(parameter=f"{lay.op.where}.{r['tensor']}", weights=f"re-parametrized ({r['how']})")
        else:
            entry.update(parameter=None, weights="computed in the forward")
        per_layer.append(entry)
    for pid, idx in uses.items():
        if len(idx) > 1:
            nm = names.get(pid, [loose_where.get(pid, "?")])
            group = next((s for s in shared if s["names"] == nm), None)
            if group is None:
                shared.append({"names": nm, "layers": idx})
            else:
                group["layers"] = idx

    cov = {"layers_traced": len(layers), "modules_with_parameters": len([n for n in owners if n]),
           "modules_traced": len([n for n in owners if n and n not in unreached_set]),
           "never_reached": unreached, "unregistered": loose, "frozen": frozen, "no_gradient": no_grad,
           "shared": shared, "reparametrized": [{"module": k, **v} for k, v in reparam.items()],
           "layer_weights": per_layer}
    cov["summary"] = describe(cov)
    return cov


def describe(cov: dict) -> str:
    """One sentence counting what was and was not covered."""
    parts = [f"{cov['layers_traced']} layer{'s' if cov['layers_traced'] != 1 else ''} traced"]
    n_mod = cov["modules_with_parameters"]
    if cov["never_reached"]:
        parts.append(f"{len(cov['never_reached'])} of {n_mod} modules with parameters never reached by the forward, "
                     f"so not diagnosed ({span_names(cov['never_reached'])})")
    loose_layers = [e["layer"] for e in cov["layer_weights"] if e["weights"] == "unregistered"]
    if cov["unregistered"]:
        parts.append(f"{len(cov['unregistered'])} module{'s' if len(cov['unregistered']) != 1 else ''} or tensors "
                     f"not registered with the model ({span_names([u['path'] for u in cov['unregistered']])})"
                     + (f", used by {len(loose_layers)} traced layer{'s' if len(loose_layers) != 1 else ''}"
                        if loose_layers else "")
                     + ": model.parameters() does not hold them, so an optimizer never updates them and "
                       "state_dict does not save them; use nn.ModuleList/nn.ModuleDict/nn.Parameter")
    if cov["frozen"]:
        parts.append(f"{len(cov['frozen'])} parameter{'s' if len(cov['frozen']) != 1 else ''} frozen "
                     f"(requires_grad=False: {span_names(cov['frozen'], 4)}): diagnosed as if trainable, training "
                     "leaves them as they are")
    if cov["no_gradient"]:
        parts.append(f"{len(cov['no_gradient'])} reached parameter{'s' if len(cov['no_gradient']) != 1 else ''} "
                     f"got no gradient from the loss ({span_names(cov['no_gradient'], 4)})")
    for s in cov["shared"]:
        if s["layers"]:
            parts.append(f"{' = '.join(s['names'])} is used by {len(s['layers'])} layers "
                         f"({', '.join(map(str, s['layers']))}): its gradient is their sum and its update one")
        else:
            parts.append(f"{' = '.join(s['names'])} is one shared (tied) tensor")
    if cov["reparametrized"]:
        rp = cov["reparametrized"]
        parts.append(f"{len(rp)} re-parametrized weight{'s' if len(rp) != 1 else ''}"
                     f" ({', '.join(r['module'] + ': ' + r['how'] for r in rp[:4])}): measured on the computed weight")
    return "; ".join(parts)


def complete(cov: dict) -> bool:
    """Nothing left out: every module reached and registered, no gradient missing."""
    return not (cov["never_reached"] or cov["unregistered"] or cov["no_gradient"])
