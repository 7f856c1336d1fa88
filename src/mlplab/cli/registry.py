"""``mlplab init list`` and ``mlplab optim list``: the initializer and optimizer registries as tables.

What they print comes from the registries themselves (:data:`mlplab.init.SCHEMES`,
:func:`mlplab.optim.optimizer_info`), so the list cannot drift from what the library accepts.
"""

from __future__ import annotations

from .options import console

XAVIER_NOTE = ("Note: \"Xavier\" means two things. Deep Learning from Scratch ch. 6 and the blog texts write it "
               "as N(0, 1/n_in) (here: xavier); Glorot & Bengio, torch's xavier_normal_ and Keras' "
               "glorot_normal use 2/(n_in + n_out) (here: xavier_normal, alias glorot). The two agree only "
               "when n_in = n_out.")


def cmd_init_list(args):
    from rich.table import Table

    from ..init import SCHEMES

    table = Table(title="weight initializers (use with --init / --bias-init; any case, '-' or '_')",
                  caption=XAVIER_NOTE, caption_justify="left")
    for col in ("name", "family", "distribution and variance", "aliases"):
        table.add_column(col, style="bold" if col == "name" else None, overflow="fold")
    for s in SCHEMES.values():
        formula = s.formula + (f" [dim]— {s.note}[/]" if s.note else "")
        table.add_row(s.name, s.family, formula, ", ".join(s.aliases))
    con = console(wide=True)
    con.print(table)
    con.print("Also: 'std=0.01' (N(0, 0.01²)), a bare number (a constant), and arguments in the "
                    "function's order: 'normal(0, 0.01)', 'identity(1.5)', 'he_normal(mode=fan_out)'.")
    return 0


def cmd_optim_list(args):
    from rich.table import Table

    from ..optim import OPTIMIZERS, optimizer_info

    table = Table(title="optimizers (use with --optimizer; any case, '-' or '_')")
    for col in ("name", "update", "defaults", "other settings", "aliases"):
        table.add_column(col, style="bold" if col == "name" else None, overflow="fold")
    for name in OPTIMIZERS:
        info = optimizer_info(name)
        defaults = ", ".join(f"{k}={v}" for k, v in info["defaults"].items())
        other = ", ".join(k for k in info["settings"] if k not in info["defaults"])
        table.add_row(name, info["formula"], defaults, other, ", ".join(info["aliases"]))
    con = console(wide=True)
    con.print(table)
    con.print("newton is for small problems (`mlplab lab run quadratic`), not for training a network.")
    return 0


def register(sub):
    for cmd, what, func in (("init", "weight initializers: name, family, variance, aliases", cmd_init_list),
                            ("optim", "optimizers: name, update rule, defaults, aliases", cmd_optim_list)):
        p = sub.add_parser(cmd, help=f"list the {what}")
        psub = p.add_subparsers(dest=f"{cmd}_cmd", metavar="ACTION", required=True)
        psub.add_parser("list", help=f"print the {what}")
        p.set_defaults(func=func)
