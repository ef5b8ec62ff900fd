"""Figures of the Bounding Box Generator (thesis Fig. 4.2, 4.3, 4.4b, 4.6): feasible spaces and generated boxes.

Each function takes data (a reference box, thresholds, boxes) and ``ax=None`` and returns the axes, seaborn
style. Image coordinates with y pointing down, as in the thesis figures.

Example
-------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from bbgen.plot.geometry import plot_tl_boundaries
>>> ax = plot_tl_boundaries([0.3, 0.3, 0.6, 0.6], [0.5, 0.7, 0.9])
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from .._typing import ArrayLike, BoxesLike
from ..generator.feasible import br_feasible_space, tl_feasible_space, tl_rect
from ..imbalance.regression_profile import IOU_BIN_BASES
from ._axes import new_axes

__all__ = ["plot_box", "plot_polygon", "plot_feasible_spaces", "plot_generated_boxes", "plot_tl_space",
           "plot_tl_boundaries"]


def _axes(ax: Axes | None) -> Axes:
    return new_axes(ax, figsize=(5, 5))


def _finish(ax: Axes, title: str | None) -> Axes:
    ax.set_aspect("equal")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    if title:
        ax.set_title(title)
    return ax


def plot_box(box: BoxesLike, ax: Axes | None = None, **kw: object) -> Axes:
    """Draw one box as an unfilled rectangle.

    Parameters
    ----------
    box : Tensor[4] or ndarray or sequence
        ``[x1, y1, x2, y2]``.
    ax : Axes, optional
    **kw
        Passed to :class:`matplotlib.patches.Rectangle` (e.g. ``edgecolor``).
    """
    ax = _axes(ax)
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=float).reshape(4))
    kw = {"fill": False, "linewidth": 2, **kw}
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, **kw))
    ax.update_datalim([(x1, y1), (x2, y2)])
    ax.autoscale_view()
    return ax


def plot_polygon(poly: shapely.Polygon, ax: Axes | None = None, **kw: object) -> Axes:
    """Draw the exterior of a shapely polygon (a feasible space).

    Parameters
    ----------
    poly : shapely.Polygon
        E.g. from :func:`bbgen.generator.feasible.tl_feasible_space`; an empty polygon draws nothing.
    ax : Axes, optional
    **kw
        Passed to :meth:`matplotlib.axes.Axes.plot`.
    """
    ax = _axes(ax)
    if not poly.is_empty:
        x, y = poly.exterior.xy
        ax.plot(x, y, **{"color": "red", "linewidth": 1.5, **kw})
        ax.update_datalim(np.column_stack([x, y]))
        ax.autoscale_view()
    return ax


def plot_feasible_spaces(ref: BoxesLike, iou: float, box: BoxesLike, ax: Axes | None = None) -> Axes:
    """Thesis Fig. 4.2: the feasible spaces of one generated box.

    Reference box (blue), TL space and BR space given the sampled TL (red), the sampled corners (red dots) and
    the generated box (green), annotated with its IoU.

    Parameters
    ----------
    ref : Tensor[4] or ndarray or sequence
        Reference box.
    iou : float
        The threshold the box was generated for.
    box : Tensor[4] or ndarray or sequence
        A box generated with ``order="tl"`` (its TL lies in the TL space).
    ax : Axes, optional
    """
    from ..boxes import elementwise_box_iou
    import torch

    ax = _axes(ax)
    box = np.asarray(box, dtype=float)
    plot_polygon(tl_feasible_space(ref, iou), ax)
    plot_polygon(br_feasible_space(ref, iou, box[:2]), ax)
    plot_box(ref, ax, edgecolor="tab:blue")
    plot_box(box, ax, edgecolor="tab:green")
    ax.plot([box[0], box[2]], [box[1], box[3]], "o", color="red", markersize=5)
    got = float(elementwise_box_iou(torch.as_tensor(box), torch.as_tensor(ref, dtype=torch.float64)))
    return _finish(ax, f"IoU ≥ {iou}: generated box IoU = {got:.4f}")


def plot_generated_boxes(ref: BoxesLike, boxes: BoxesLike, ax: Axes | None = None, *, iou: float | None = None,
                         alpha: float = 0.15) -> Axes:
    """Thesis Fig. 4.3: many generated boxes (red) around the reference box (blue).

    Parameters
    ----------
    ref : Tensor[4] or ndarray or sequence
        Reference box.
    boxes : Tensor[K, 4] or ndarray
        Generated boxes.
    ax : Axes, optional
    iou : float, optional
        The threshold, for the title only.
    alpha : float, default 0.15
        Opacity of each generated box.
    """
    from matplotlib.collections import PolyCollection

    ax = _axes(ax)
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    verts = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)
    ax.add_collection(PolyCollection(verts, facecolors="none", edgecolors="red", linewidths=0.5, alpha=alpha))
    ax.update_datalim(b[:, :2])
    ax.update_datalim(b[:, 2:])
    plot_box(ref, ax, edgecolor="tab:blue")
    return _finish(ax, f"{len(b)} generated boxes" + (f", IoU ≥ {iou}" if iou is not None else ""))


def plot_tl_space(ref: BoxesLike, iou: float, ax: Axes | None = None, *, show_rect: bool = True) -> Axes:
    """Thesis Fig. 4.4b: the TL space (red) and its enclosing box (green dashed), the proposal's support.

    Parameters
    ----------
    ref : Tensor[4] or ndarray or sequence
        Reference box.
    iou : float
        IoU threshold in ``(0, 1]``.
    ax : Axes, optional
    show_rect : bool, default True
        Draw the bounding rectangle of Eq. 4.1.
    """
    ax = _axes(ax)
    plot_polygon(tl_feasible_space(ref, iou), ax)
    r = np.asarray(ref, dtype=float).reshape(4)
    if show_rect:
        lo, hi = tl_rect(iou)
        w, h = r[2] - r[0], r[3] - r[1]
        plot_box([r[0] + lo * w, r[1] + lo * h, r[0] + hi * w, r[1] + hi * h], ax,
                 edgecolor="tab:green", linestyle="--", linewidth=1.5)
    ax.plot([r[0]], [r[1]], "o", color="tab:blue")
    return _finish(ax, f"TL feasible space, IoU ≥ {iou}")


def plot_tl_boundaries(ref: BoxesLike, thresholds: Sequence[float] = IOU_BIN_BASES, ax: Axes | None = None, *,
                       points: ArrayLike | None = None, normalized_image: bool = True) -> Axes:
    """Thesis Fig. 4.6: TL-space boundaries for several IoU thresholds around ``ref``.

    Parameters
    ----------
    ref : Tensor[4] or ndarray or sequence
        Reference box, e.g. ``[0.3, 0.3, 0.6, 0.6]`` on the normalised image.
    thresholds : sequence of float, default ``IOU_BIN_BASES``
        One boundary per IoU threshold (default the thesis bins 0.5 … 0.9).
    ax : Axes, optional
    points : ndarray[S, 2], optional
        TL corners (e.g. of positive RoIs or anchors mapped to the reference frame), drawn as dots.
    normalized_image : bool, default True
        Limit the axes to the unit square.
    """
    import seaborn as sns

    ax = _axes(ax)
    colors = sns.color_palette("viridis", len(thresholds))
    if points is not None:
        p = np.asarray(points, dtype=float).reshape(-1, 2)
        ax.plot(p[:, 0], p[:, 1], ".", color="tab:green", markersize=2, alpha=0.5, label="TL of positives")
    for t, c in zip(thresholds, colors):
        plot_polygon(tl_feasible_space(ref, t), ax, color=c, label=f"IoU ≥ {t:g}")
    plot_box(ref, ax, edgecolor="tab:blue")
    if normalized_image:
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)
    ax.legend(loc="lower right", fontsize=8)
    return _finish(ax, "TL feasible-space boundaries")
