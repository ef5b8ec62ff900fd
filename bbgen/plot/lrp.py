"""LRP figures: LRP Error and its components against the score threshold (thesis Fig. 5.3c, class mean).

Plotting only; the numbers come from :func:`bbgen.evaluation.lrp.mean_sweep` (or its JSON).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from ._axes import new_axes

__all__ = ["plot_lrp_sweep"]

_LABELS = {"lrp": "LRP", "loc": "localisation (1 − IoU of TPs)", "fp": "FP (1 − precision)",
           "fn": "FN (1 − recall)"}


def plot_lrp_sweep(sweep: Mapping[str, list], ax: Axes | None = None, *, optimal: float | None = None) -> Axes:
    """LRP and its components (class means) against the score threshold.

    Parameters
    ----------
    sweep : mapping
        ``threshold [S]`` and ``lrp, loc, fp, fn [S]`` lists (None = undefined), as :func:`mean_sweep` returns.
    ax : Axes, optional
    optimal : float, optional
        moLRP, drawn as a horizontal reference line.
    """
    ax = new_axes(ax)
    if not isinstance(sweep, Mapping) or "threshold" not in sweep:
        raise ValueError("sweep must be a mapping with 'threshold' and 'lrp', 'loc', 'fp', 'fn' lists")
    x = np.asarray(sweep["threshold"], dtype=float)
    for name, label in _LABELS.items():
        y = np.array([np.nan if v is None else v for v in sweep[name]], dtype=float)
        ax.plot(x, y, label=label, lw=2.2 if name == "lrp" else 1.4)
    if optimal is not None and np.isfinite(optimal):
        ax.axhline(optimal, color="k", ls=":", lw=1, label=f"moLRP = {optimal:.3f} (per-class s*)")
    ax.set_xlabel("score threshold s (keep detections with score ≥ s)")
    ax.set_ylabel("error (mean over classes)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return ax
