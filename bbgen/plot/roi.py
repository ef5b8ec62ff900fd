"""Plots of the pRoI studies (:mod:`bbgen.studies.roi_sources`): Fig. 4.5 and the TL corners of Fig. 4.6."""
from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from ..generator.feasible import tl_rect
from ._axes import new_axes

if TYPE_CHECKING:
    from ..studies.roi_sources import IoUHistograms, TLCorners

__all__ = ["plot_iou_histograms", "plot_roi_tl_corners"]


def plot_iou_histograms(data: IoUHistograms, ax: Axes | None = None) -> Axes:
    """Fig. 4.5: IoU density of the generated RoIs, one step line per preset.

    Parameters
    ----------
    data : IoUHistograms
        From :func:`bbgen.studies.roi_sources.iou_histograms`.
    ax : Axes, optional
    """
    ax = new_axes(ax, (5, 4))
    for i, (name, dens) in enumerate(data.density.items()):
        ax.stairs(dens, data.edges, label=name, color=f"C{i}", linewidth=1.5)
    ax.set_xlim(0.5, 1.0)
    ax.set_xlabel("IoU with the ground truth")
    ax.set_ylabel("density")
    mode = "exact (interval) mode" if data.exact else "threshold mode (paper)"
    ax.set_title(f"Fig. 4.5: IoU of {data.n:,} pRoIs, {mode}", fontsize=9)
    ax.legend(fontsize=8)
    return ax


def plot_roi_tl_corners(data: TLCorners, proposal: str, ax: Axes | None = None) -> Axes:
    """TL corners of one proposal (2-D histogram) with TL feasible boundaries and the reference TL.

    Parameters
    ----------
    data : TLCorners
        From :func:`bbgen.studies.roi_sources.tl_corners`.
    proposal : str
        Which proposal's corners (a key of ``data.points``).
    ax : Axes, optional
    """
    ax = new_axes(ax, (5, 4))
    p = data.points[proposal]
    lo, hi = tl_rect(data.iou)
    # log colours: with the random corner order, corners pile up near the GT's corner (the second corner's
    # space shrinks towards it), which would wash out a linear scale
    ax.hist2d(p[:, 0], p[:, 1], bins=60, range=[[lo, hi], [lo, hi]], cmap="Greens", cmin=1, norm=LogNorm())
    for t, ring in data.boundaries.items():
        ax.plot(ring[:, 0], ring[:, 1], color="C3", linewidth=0.8, alpha=0.4 + 0.6 * (t == data.iou))
    ax.plot([0.0], [0.0], "o", color="C0", markersize=4, label="TL of the GT")
    ax.set_xlim(lo, hi)
    ax.set_ylim(hi, lo)  # image convention: y grows downwards
    ax.set_aspect("equal")
    ax.set_xlabel("u = (x1 - gt_x1) / gt_w")
    ax.set_ylabel("v = (y1 - gt_y1) / gt_h")
    ax.set_title(f"TL corners of pRoIs with IoU ≥ {data.iou}, proposal '{proposal}'\n"
                 "(red: TL bounds for IoU ≥ 0.5 … 0.9)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return ax
