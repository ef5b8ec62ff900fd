"""Scale and location figures: thesis Fig. 3.7 (a, b, c), COCO size bands, FPN levels, Fig. 3.13.

Every function is ``(profile, ax=None) -> Axes``; histograms use a log y axis as in the thesis.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from ..imbalance.data_location import LocationProfile
from ..imbalance.data_scale import SIZE_NAMES, ScaleProfile
from .data_classes import log_y, new_axes

__all__ = ["plot_relative_width", "plot_relative_height", "plot_relative_area", "plot_size_categories",
           "plot_fpn_levels", "plot_center_heatmap"]


def _relative_hist(ax: Axes, edges: np.ndarray, counts: np.ndarray, what: str, panel: str) -> Axes:
    ax.stairs(np.where(counts > 0, counts, np.nan), edges, fill=True, color="C2", alpha=0.8)
    log_y(ax, counts)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"relative {what} (box {what} / image {what})")
    ax.set_ylabel("number of boxes")
    ax.set_title(f"Fig. 3.7{panel}: relative {what}")
    return ax


def plot_relative_width(profile: ScaleProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.7a: distribution of box width relative to the image width, log y.

    Widths are divided by their image width, so every dataset shares one axis.

    Parameters
    ----------
    profile : ScaleProfile
        Histogram of width relative to image width.
    ax : Axes, optional
    """
    return _relative_hist(new_axes(ax), profile.bin_edges, profile.width_hist, "width", "a")


def plot_relative_height(profile: ScaleProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.7b: distribution of box height relative to the image height, log y.

    Heights over image heights.

    Parameters
    ----------
    profile : ScaleProfile
        The relative heights.
    ax : Axes, optional
    """
    return _relative_hist(new_axes(ax), profile.bin_edges, profile.height_hist, "height", "b")


def plot_relative_area(profile: ScaleProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.7c: distribution of box area relative to the image area, log y.

    The ratio is ``(w h) / (W H)``.

    Parameters
    ----------
    profile : ScaleProfile
        Provides the histogram of the box area divided by the image area.
    ax : Axes, optional
    """
    return _relative_hist(new_axes(ax), profile.bin_edges, profile.area_hist, "area", "c")


def plot_size_categories(profile: ScaleProfile, ax: Axes | None = None) -> Axes:
    """Boxes in COCO's small (< 32²), medium (< 96²) and large bands.

    Each bar is annotated with its percentage of all boxes.

    Parameters
    ----------
    profile : ScaleProfile
        Counts per COCO size band (small, medium, large).
    ax : Axes, optional
    """
    ax = new_axes(ax)
    ax.bar(list(SIZE_NAMES), profile.size_counts, color=["C0", "C1", "C2"])
    total = max(int(profile.size_counts.sum()), 1)
    for i, c in enumerate(profile.size_counts):
        ax.annotate(f"{100 * c / total:.1f} %", (i, c), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("number of boxes")
    ax.set_title("COCO size bands (box area)")
    return ax


def plot_fpn_levels(profile: ScaleProfile, ax: Axes | None = None) -> Axes:
    """Boxes per FPN level P2-P5 (FPN Eq. 1; thesis §3.3.2 feature-level imbalance), log y.

    A box goes to level ``⌊4 + log2(√(wh) / 224)⌋`` clipped to P2–P5.

    Parameters
    ----------
    profile : ScaleProfile
        FPN level counts.
    ax : Axes, optional
    """
    ax = new_axes(ax)
    counts = profile.fpn_counts
    ax.bar([f"P{k}" for k in profile.fpn_levels], np.where(counts > 0, counts, np.nan), color="C4")
    log_y(ax, counts)
    ax.set_ylabel("number of boxes")
    ax.set_title("Ground-truth boxes per pyramid level")
    return ax


def plot_center_heatmap(profile: LocationProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.13: density of box centres over the normalised image (y down, as in images).

    Centres are normalised by the image size.

    Parameters
    ----------
    profile : LocationProfile
        Heatmap of object centres on the normalised image, from :func:`bbgen.imbalance.location_profile`.
    ax : Axes, optional
    """
    ax = new_axes(ax)
    heat = profile.heatmap.astype(np.float64)
    density = heat / max(heat.mean(), 1e-12)  # 1 = the uniform level
    im = ax.imshow(density, extent=(0, 1, 1, 0), cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="centre density (1 = uniform)")
    ax.set_xlabel("x / image width")
    ax.set_ylabel("y / image height")
    ax.set_title("Object centres on the normalised image")
    return ax
