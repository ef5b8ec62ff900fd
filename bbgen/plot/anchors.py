"""Anchor imbalance figures: thesis Fig. 3.4 (a, b), 3.12a, 3.15, 4.6, feature-level positives,
positives per GT by size and regression targets.  Every function is ``(profile, ax=None) -> Axes``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes

from ..imbalance.anchor_imbalance import REFERENCE_BOX, AnchorProfile
from ..imbalance.data_scale import SIZE_NAMES
from ..imbalance.regression_profile import IOU_BIN_BASES
from .data_classes import new_axes

__all__ = ["plot_fg_bg", "plot_positives_per_class", "plot_positive_iou", "plot_positives_per_level",
           "plot_positives_per_gt", "plot_tl_corners", "plot_overlap_heatmap", "plot_regression_targets"]


def _check(profile: object) -> AnchorProfile:
    if not isinstance(profile, AnchorProfile):
        raise TypeError(f"profile must be an AnchorProfile, got {type(profile).__name__}")
    return profile


def _title(p: AnchorProfile, text: str) -> str:
    return f"{text} ({p.anchors}, {p.assigner.get('name', '')})"


def plot_fg_bg(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.4a: mean positive / negative / ignored anchors per image, log y, with the fg:bg ratio.

    The ratio is over the whole dataset (``profile.fg_bg_ratio``).

    Parameters
    ----------
    profile : AnchorProfile
        Its ``mean_per_image()`` and ``fg_bg_ratio``.
    ax : Axes, optional
    """
    p, ax = _check(profile), new_axes(ax)
    means = np.array(list(p.mean_per_image().values()))
    ax.bar(["positive", "negative", "ignored"], np.where(means > 0, means, np.nan), color=["C2", "C3", "C7"])
    ax.set_yscale("log")
    ax.set_ylabel("anchors per image")
    ratio = p.fg_bg_ratio
    ax.set_title(_title(p, f"Fig. 3.4a: fg:bg = 1:{1 / ratio:,.0f}" if ratio > 0 else "Fig. 3.4a: no positives"))
    return ax


def plot_positives_per_class(profile: AnchorProfile, ax: Axes | None = None, top: int | None = None) -> Axes:
    """Fig. 3.4b: positive anchors per image for each class, classes sorted by count, log y.

    With more than 30 classes the tick labels are left out.

    Parameters
    ----------
    profile : AnchorProfile
        Its ``positives_per_class_per_image`` and class names.
    ax : Axes, optional
    top : int, optional
        Show only the ``top`` classes with most positives.
    """
    p, ax = _check(profile), new_axes(ax)
    per_image = p.positives_per_class_per_image
    order = np.argsort(-per_image, kind="stable")[:top]
    ax.bar(np.arange(len(order)), np.where(per_image[order] > 0, per_image[order], np.nan), color="C0")
    if len(order) <= 30:
        ax.set_xticks(np.arange(len(order)), [p.category_names[i] for i in order], rotation=90, fontsize=7)
    else:
        ax.set_xlabel("classes (sorted by positives)")
    ax.set_yscale("log")
    ax.set_ylabel("positive anchors per image")
    ax.set_title(_title(p, "Fig. 3.4b: positives per class"))
    return ax


def plot_positive_iou(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.12a: IoU histogram of the positive anchors with their GT.

    The assigner's positive threshold shows as the left edge of the mass.

    Parameters
    ----------
    profile : AnchorProfile
        Histogram ``iou_hist`` over ``iou_edges``.
    ax : Axes, optional
    """
    p, ax = _check(profile), new_axes(ax)
    ax.stairs(p.iou_hist, p.iou_edges, fill=True, color="C1", alpha=0.85)
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU with the matched GT")
    ax.set_ylabel("positive anchors")
    ax.set_title(_title(p, "Fig. 3.12a: IoU of positives"))
    return ax


def plot_positives_per_level(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Feature-level scale imbalance (thesis §3.3.2): one bar of positive anchors per pyramid level.

    Levels are named by the anchor configuration (P3–P7 for RetinaNet).

    Parameters
    ----------
    profile : AnchorProfile
        Counts ``positives_per_level`` with the level names of its anchor configuration.
    ax : Axes, optional
    """
    p, ax = _check(profile), new_axes(ax)
    ax.bar(list(p.level_names), p.positives_per_level_per_image, color="C4")
    ax.set_ylabel("positive anchors per image")
    ax.set_title(_title(p, "positives per pyramid level"))
    return ax


def plot_positives_per_gt(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Mean positives per GT by COCO size band; the share of GTs without any positive is annotated.

    Bands follow COCO: small < 32², medium < 96², large.

    Parameters
    ----------
    profile : AnchorProfile
        Uses ``positives_per_gt`` grouped by ``gt_size``.
    ax : Axes, optional
    """
    p, ax = _check(profile), new_axes(ax)
    mean = p.positives_per_gt_by_size()
    none = p.gts_without_positive()
    counts = p.gts_by_size()
    ax.bar(list(SIZE_NAMES), [mean[s] for s in SIZE_NAMES], color=["C0", "C1", "C2"])
    for i, s in enumerate(SIZE_NAMES):
        share = 100 * none[s] / counts[s] if counts[s] else 0.0
        ax.annotate(f"{share:.1f} % with none", (i, mean[s]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("positive anchors per GT")
    ax.set_title(_title(p, "positives per GT by size"))
    return ax


def plot_tl_corners(profile: AnchorProfile, ax: Axes | None = None,
                    thresholds: Sequence[float] = IOU_BIN_BASES) -> Axes:
    """Fig. 4.6: TL corners of positives in the frame of their GT at [0.3, 0.3, 0.6, 0.6] with the
    feasible-space boundaries (``tl_feasible_space``) for each IoU threshold.

    Parameters
    ----------
    profile : AnchorProfile
        Its ``tl_points`` (the TL corners sampled from all positives) and ``tl_quadrants``.
    ax : Axes, optional
    thresholds : sequence of float, default ``IOU_BIN_BASES``
        One boundary per IoU threshold (default the thesis bins 0.5 … 0.9).
    """
    from ..generator.feasible import tl_feasible_space

    p, ax = _check(profile), new_axes(ax)
    pts = p.tl_points
    ax.scatter(pts[:, 0], pts[:, 1], s=2, color="C2", alpha=0.5, label=f"{len(pts)} positives", rasterized=True)
    lo, hi = 0.0, 0.6
    for k, t in enumerate(thresholds):
        poly = tl_feasible_space(REFERENCE_BOX, float(t))
        if not poly.is_empty:
            x, y = poly.exterior.xy
            ax.plot(x, y, color=f"C{k % 10}", lw=1, label=f"IoU {t:g}")
            lo, hi = min(lo, *poly.bounds[:2]), max(hi, *poly.bounds[2:])
    x1, y1, x2, y2 = REFERENCE_BOX
    ax.plot([x1, x2, x2, x1, x1], [y1, y1, y2, y2, y1], color="k", lw=1.2)
    q = p.tl_quadrants
    pad = 0.02 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(hi + pad, lo - pad)  # image coordinates: y grows downwards
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(_title(p, f"Fig. 4.6: TL inside {100 * q['inside']:.1f} %, outside {100 * q['outside']:.1f} %"),
                 fontsize=9)
    return ax


def plot_overlap_heatmap(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.15: mean number of positive anchors covering each pixel of the normalised image.

    Rows are y, as in images.

    Parameters
    ----------
    profile : AnchorProfile
        Map ``overlap``.
    ax : Axes, optional
    """
    p, ax = _check(profile), new_axes(ax)
    im = ax.imshow(p.overlap, extent=(0, 1, 1, 0), cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="overlapping positives per image")
    ax.set_xlabel("x / image width")
    ax.set_ylabel("y / image height")
    ax.set_title(_title(p, "Fig. 3.15: per-pixel overlaps"))
    return ax


def plot_regression_targets(profile: AnchorProfile, ax: Axes | None = None) -> Axes:
    """Distributions of the regression targets (dx, dy, dw, dh) of the positives (clipped to the range).

    One panel per target in torchvision's ``BoxCoder`` encoding.

    Parameters
    ----------
    profile : AnchorProfile
        From :func:`bbgen.imbalance.anchor_profile`; ``target_hist`` over ``target_edges`` is drawn, one panel each.
    ax : Axes, optional
    """
    p, ax = _check(profile), new_axes(ax)
    for k, name in enumerate(("dx", "dy", "dw", "dh")):
        total = max(int(p.target_hist[k].sum()), 1)
        ax.stairs(p.target_hist[k] / total, p.target_edges[k],
                  label=f"{name}: mean {p.target_mean[k]:+.3f}, std {p.target_std[k]:.3f}")
    ax.set_xlabel("target value")
    ax.set_ylabel("share of positives")
    ax.legend(fontsize=7)
    ax.set_title(_title(p, "regression targets"))
    return ax
