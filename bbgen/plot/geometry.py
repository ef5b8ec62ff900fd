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

from typing import Any, Sequence

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from ._axes import new_axes
from ..generator.feasible import br_feasible_space, tl_feasible_space, tl_rect

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


def plot_box(box: Any, ax: Axes | None = None, **kw: Any) -> Axes:
    """Draw one ``[x1, y1, x2, y2]`` box as an unfilled rectangle."""
    ax = _axes(ax)
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=float).reshape(4))
    kw = {"fill": False, "linewidth": 2, **kw}
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, **kw))
    ax.update_datalim([(x1, y1), (x2, y2)])
    ax.autoscale_view()
    return ax


def plot_polygon(poly: shapely.Polygon, ax: Axes | None = None, **kw: Any) -> Axes:
    """Draw the exterior of a shapely polygon (a feasible space)."""
    ax = _axes(ax)
    if not poly.is_empty:
        x, y = poly.exterior.xy
        ax.plot(x, y, **{"color": "red", "linewidth": 1.5, **kw})
        ax.update_datalim(np.column_stack([x, y]))
        ax.autoscale_view()
    return ax


def plot_feasible_spaces(ref: Any, T: float, box: Any, ax: Axes | None = None) -> Axes:
    """Thesis Fig. 4.2: reference box (blue), TL space and BR space given the sampled TL (red), the sampled
    corners (red dots) and the generated box (green), annotated with its IoU."""
    from ..boxes import elementwise_box_iou
    import torch

    ax = _axes(ax)
    box = np.asarray(box, dtype=float)
    plot_polygon(tl_feasible_space(ref, T), ax)
    plot_polygon(br_feasible_space(ref, T, box[:2]), ax)
    plot_box(ref, ax, edgecolor="tab:blue")
    plot_box(box, ax, edgecolor="tab:green")
    ax.plot([box[0], box[2]], [box[1], box[3]], "o", color="red", markersize=5)
    iou = float(elementwise_box_iou(torch.as_tensor(box), torch.as_tensor(ref, dtype=torch.float64)))
    return _finish(ax, f"T = {T}: generated box IoU = {iou:.4f}")


def plot_generated_boxes(ref: Any, boxes: Any, ax: Axes | None = None, *, T: float | None = None,
                         alpha: float = 0.15) -> Axes:
    """Thesis Fig. 4.3: many generated boxes (red) around the reference box (blue)."""
    from matplotlib.collections import PolyCollection

    ax = _axes(ax)
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    verts = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)
    ax.add_collection(PolyCollection(verts, facecolors="none", edgecolors="red", linewidths=0.5, alpha=alpha))
    ax.update_datalim(b[:, :2])
    ax.update_datalim(b[:, 2:])
    plot_box(ref, ax, edgecolor="tab:blue")
    return _finish(ax, f"{len(b)} generated boxes" + (f", T = {T}" if T is not None else ""))


def plot_tl_space(ref: Any, T: float, ax: Axes | None = None, *, show_rect: bool = True) -> Axes:
    """Thesis Fig. 4.4b: TL space polygon (red) and its enclosing box (green dashed), the proposal support."""
    ax = _axes(ax)
    plot_polygon(tl_feasible_space(ref, T), ax)
    r = np.asarray(ref, dtype=float).reshape(4)
    if show_rect:
        lo, hi = tl_rect(T)
        w, h = r[2] - r[0], r[3] - r[1]
        plot_box([r[0] + lo * w, r[1] + lo * h, r[0] + hi * w, r[1] + hi * h], ax,
                 edgecolor="tab:green", linestyle="--", linewidth=1.5)
    ax.plot([r[0]], [r[1]], "o", color="tab:blue")
    return _finish(ax, f"TL feasible space, T = {T}")


def plot_tl_boundaries(ref: Any, thresholds: Sequence[float], ax: Axes | None = None, *,
                       points: Any = None, normalized_image: bool = True) -> Axes:
    """Thesis Fig. 4.6: TL-space boundaries for several thresholds around ``ref``; optional TL ``points``
    (e.g. of positive RoIs/anchors mapped to the reference frame) as dots."""
    import seaborn as sns

    ax = _axes(ax)
    colors = sns.color_palette("viridis", len(thresholds))
    if points is not None:
        p = np.asarray(points, dtype=float).reshape(-1, 2)
        ax.plot(p[:, 0], p[:, 1], ".", color="tab:green", markersize=2, alpha=0.5, label="TL of positives")
    for T, c in zip(thresholds, colors):
        plot_polygon(tl_feasible_space(ref, T), ax, color=c, label=f"IoU ≥ {T:g}")
    plot_box(ref, ax, edgecolor="tab:blue")
    if normalized_image:
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)
    ax.legend(loc="lower right", fontsize=8)
    return _finish(ax, "TL feasible-space boundaries")
