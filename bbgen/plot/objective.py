"""Objective-imbalance figures (thesis §3.5): each loss term's share of the loss and of the gradient.

Functions take the plain dict of :func:`bbgen.imbalance.objective.objective_shares` (so a log
loaded back from JSON plots the same way) and return the axes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from ._axes import new_axes

Shares = Mapping[str, Any]  # objective_shares(...) output

__all__ = ["plot_objective_shares"]


def plot_objective_shares(shares: Shares, ax: Axes | None = None, *, kind: str = "grad") -> Axes:
    """Stacked shares of each loss term over the measured steps.

    Parameters
    ----------
    shares : mapping
        :func:`~bbgen.imbalance.objective.objective_shares` output (``steps``, ``terms``,
        ``loss_share``, ``grad_share``).
    ax : Axes, optional
        axes to draw into (default: a new figure).
    kind : {"grad", "loss"}
        gradient-norm shares on the shared parameters, or weighted loss shares.
    """
    if kind not in ("grad", "loss"):
        raise ValueError(f"kind must be 'grad' or 'loss', got {kind!r}")
    if not isinstance(shares, Mapping) or f"{kind}_share" not in shares:
        raise ValueError(f"shares must be objective_shares(...) output with '{kind}_share', got {type(shares).__name__}")
    ax = new_axes(ax)
    steps = np.asarray(shares["steps"], dtype=float)
    series = [np.asarray(shares[f"{kind}_share"][t], dtype=float) for t in shares["terms"]]
    if len(steps) == 1:  # one measured step: bars instead of an invisible area
        bottom = 0.0
        for t, y in zip(shares["terms"], series):
            ax.bar([0], y, bottom=bottom, label=t)
            bottom += y
        ax.set_xticks([0], [f"step {int(steps[0])}"])
    elif len(steps):
        ax.stackplot(steps, *series, labels=shares["terms"])
        ax.set_xlabel("training step")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of the gradient norm" if kind == "grad" else "share of the weighted loss")
    ax.set_title("gradient-norm share on the shared parameters" if kind == "grad" else "loss share")
    ax.legend(fontsize="small", loc="upper right")
    return ax
