"""``mlplab live``: the lab in the browser.

A local web app (Starlette + uvicorn) whose page trains a network and shows every layer live
(Train) and redraws every optimizer's path as the start point is dragged (Paths). The
computation is the library's own (Trainer, diagnostics, functions, optimizers); the page only
draws, with uPlot and KaTeX shipped in ``static/vendor`` (``scripts/vendor_live_assets.sh``).
"""

from .server import serve

__all__ = ["serve"]
