"""LRP figures: LRP Error and its components against the score threshold (thesis Fig. 5.3c, class mean).

Plotting only; the numbers come from :func:`bbgen.evaluation.lrp.mean_sweep` (or its JSON).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from ._axes import new_axes

__all__ = ["plot_lrp_sweep", "plot_lrp_components"]

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


def plot_lrp_components(summaries: Mapping[str, Mapping[str, float]], ax: Axes | None = None) -> Axes:
    """moLRP and its components (grouped bars) for several runs, e.g. before/after training or per loss.

    Parameters
    ----------
    summaries : mapping run name -> stats
        Each with ``moLRP, moLRP_loc, moLRP_fp, moLRP_fn`` (``LRPResult.stats``; None/nan = undefined).
    ax : Axes, optional
    """
    ax = new_axes(ax)
    if not isinstance(summaries, Mapping) or not summaries:
        raise ValueError("summaries must be a non-empty mapping of run name -> LRP stats")
    keys = ("moLRP", "moLRP_loc", "moLRP_fp", "moLRP_fn")
    width = 0.8 / len(summaries)
    x = np.arange(len(keys))
    for j, (name, stats) in enumerate(summaries.items()):
        y = [np.nan if stats.get(k) is None else float(stats[k]) for k in keys]
        bars = ax.bar(x + (j - (len(summaries) - 1) / 2) * width, y, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, ["oLRP", "localisation", "FP", "FN"])
    ax.set_ylabel("mean over classes (lower is better)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return ax
