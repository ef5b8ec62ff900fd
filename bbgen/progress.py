"""Progress bars: ``tqdm`` that draws a widget in Jupyter when it can and never warns when it cannot.

``tqdm.auto`` picks the notebook widget inside a Jupyter kernel, but without ``ipywidgets`` it
prints ``TqdmWarning: IProgress not found`` in every notebook. This module picks the widget bar
only when ``ipywidgets`` is installed (``pip install bbgen[notebooks]``) and the plain text bar
otherwise, so notebooks stay clean either way.
"""
from __future__ import annotations

import importlib.util
import sys

__all__ = ["tqdm", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with an ``IPKernelApp``).

    Returns
    -------
    bool
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.notebook import tqdm
else:
    from tqdm.std import tqdm
