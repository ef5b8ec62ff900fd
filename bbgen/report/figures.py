"""Figures that exist for the report's reader (the thesis figures live in :mod:`bbgen.plot`).

``plot_fg_bg_areas`` shows the foreground-background imbalance of the anchors as areas: with
thousands of negatives per positive, bars on a log axis make the positives look like nothing and
bars on a linear axis make them invisible, but a square whose *area* is the count keeps both in
view and lets the reader see the ratio.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from ..imbalance.anchor_imbalance import AnchorProfile
from ..plot.data_classes import new_axes

__all__ = ["plot_fg_bg_areas"]

_KINDS = (("positive", "C2"), ("ignored", "C7"), ("negative", "C3"))


def _ratio(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.3g}"


def plot_fg_bg_areas(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Mean positive, ignored and negative anchors per image as squares of proportional area.

    Parameters
    ----------
    profile : AnchorProfile
        From :func:`bbgen.imbalance.anchor_profile`.
    ax : matplotlib Axes, optional
        Axes to draw into (default: a new figure).

    Returns
    -------
    matplotlib Axes
    """
    ax = new_axes(ax)
    n = max(profile.num_images, 1)
    means = np.array([profile.positives.sum(), profile.ignored.sum(), profile.negatives.sum()], dtype=float) / n
    sides = np.sqrt(means)
    big = max(float(sides.max()), 1e-9)
    gap, x = 0.06 * big, 0.0
    pos = means[0]
    for (name, colour), m, s in zip(_KINDS, means, sides):
        per_pos = f"\n  {_ratio(m / pos)} per positive" if pos > 0 else ""
        count = f"{m:,.0f}" if m >= 100 else f"{m:.3g}"
        ax.add_patch(Rectangle((x, 0.0), s, s, color=colour, label=f"{name}: {count} per image{per_pos}"))
        x += s + (gap if s > 0 else 0.0)
    ax.set_xlim(-gap, x)
    ax.set_ylim(-gap, 1.05 * big)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False,
              title="square area = anchors per image", title_fontsize=8, alignment="left")
    ratio = f"fg:bg = 1 : {_ratio(means[2] / pos)}" if pos > 0 else "no positive anchors"
    ax.set_title(ratio, fontsize=11, loc="left")
    return ax
