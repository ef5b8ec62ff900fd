"""Report section for the anchor side of the imbalance taxonomy (thesis Fig. 3.4, 3.12a, 3.15, 4.6).

The numbers are a compact view of :class:`bbgen.imbalance.AnchorProfile` (per-image counts are
summarised by quantiles so that a 100 k-image report stays small); the full per-image and per-GT
arrays are available from ``anchor_profile(...).to_dict()``.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ..anchors import AnchorConfig
from ..anchors.assigners import ATSSAssigner, MaxIoUAssigner
from ..datasets.annotations import Annotations
from ..imbalance.anchor_imbalance import AnchorProfile, anchor_profile
from ..plot.anchors import (plot_overlap_heatmap, plot_positive_iou, plot_positives_per_class,
                            plot_positives_per_gt, plot_positives_per_level, plot_regression_targets,
                            plot_tl_corners)
from .figures import plot_fg_bg_areas
from .sections import FigureSpec, Section

__all__ = ["anchor_section"]

def _iou_caption(p: AnchorProfile, low_share: float | None) -> str:
    share = "" if low_share is None else f" ({100 * low_share:.1f} % of positives here)"
    if p.assigner.get("name") == "MaxIoUAssigner" and p.assigner.get("allow_low_quality"):
        return (f"Positives below IoU {p.assigner.get('high', 0.5):g}{share} are low-quality matches: like "
                "torchvision's Matcher(allow_low_quality_matches=True) in RetinaNet and Faster R-CNN, the assigner "
                "makes every GT's best anchor(s) positive even below the threshold, so that tiny or thin GTs that no "
                "anchor overlaps well still get a positive. They are the bars left of 0.5.")
    if p.assigner.get("name") == "ATSSAssigner":
        return (f"ATSS sets a threshold per GT (mean + std of its candidates' IoU), which is below 0.5 for small "
                f"GTs; positives with IoU < 0.5{share} come from there.")
    return f"Positives with IoU < 0.5{share}."


def _target_caption(p: AnchorProfile, edge: dict[str, float]) -> str:
    low_quality = ("low-quality matches" if p.assigner.get("name") == "MaxIoUAssigner"
                   else "positives with a poor overlap")
    return ("Targets as torchvision's BoxCoder encodes them (weights 1): dx, dy = centre offset / anchor size, "
            "dw, dh = log(GT size / anchor size). The histogram stops at ±0.5 (dx, dy) and ±1.5 (dw, dh) and piles "
            "everything beyond into its end bins: a spike at −1.5 (or +1.5) collects GTs more than e^1.5 ≈ 4.5 times "
            "narrower or lower (wider or higher) than their anchor "
            f"(dw {100 * edge['dw']:.1f} %, dh {100 * edge['dh']:.1f} % of positives in the end bins). Their IoU "
            f"is at most 1 / 4.5 ≈ 0.22, so they are all {low_quality}, of tiny or thin GTs that even the smallest "
            "anchor dwarfs.")


def anchor_section(ann: Annotations, *, anchors: str | Path | AnchorConfig = "retinanet",
                   assigner: str | MaxIoUAssigner | ATSSAssigner = "maxiou", progress: bool = False) -> Section:
    """Foreground-background, per-class, IoU, feature-level and relative spatial imbalance of the anchors.

    Parameters
    ----------
    ann : Annotations
        The dataset.
    anchors : str, Path or AnchorConfig
        ``"retinanet"``, ``"rpn"``, ``"ssd300"``, a JSON config file or a config.
    assigner : str, MaxIoUAssigner or ATSSAssigner
        ``"maxiou"`` (the detector's own thresholds) or ``"atss"``, or an assigner.
    progress : bool
        Show a tqdm bar over the images.

    Returns
    -------
    Section
    """
    p = anchor_profile(ann, anchors, assigner, progress=progress)
    s = p.to_dict()["summary"]
    per_class = p.positives_per_class_per_image
    order = np.argsort(-per_class, kind="stable")
    ratio = p.fg_bg_ratio
    num_pos = int(p.iou_hist.sum())
    low_iou = float(p.iou_hist[p.iou_edges[1:] <= 0.5 + 1e-9].sum() / num_pos) if num_pos else None
    edge = {name: float((h[0] + h[-1]) / max(int(h.sum()), 1)) for name, h in zip(s["target_names"], p.target_hist)}
    numbers = {
        "anchors": p.anchors,
        "assigner": p.assigner,
        "mean_positives": s["mean_positives"],
        "mean_negatives": s["mean_negatives"],
        "mean_ignored": s["mean_ignored"],
        "fg_bg_ratio": ratio,
        "negatives_per_positive": (1.0 / ratio) if ratio > 0 else None,
        "low_iou_positive_fraction": low_iou,
        "anchors_per_image": s["anchors_per_image"],
        "positives_per_image": s["positives_per_image"],
        "ignored_per_image": s["ignored_per_image"],
        "images_without_positive": int((p.positives == 0).sum()),
        "positives_per_class_per_image": {p.category_names[i]: float(per_class[i]) for i in order},
        "gts_by_size": s["gts_by_size"],
        "gts_without_positive": s["gts_without_positive"],
        "positives_per_gt_by_size": s["positives_per_gt_by_size"],
        "positives_per_level": {name: int(c) for name, c in zip(p.level_names, p.positives_per_level)},
        "iou_edges": p.iou_edges.tolist(),
        "positive_iou_hist": p.iou_hist.tolist(),
        "tl_quadrants": p.tl_quadrants,
        "regression_target_mean": dict(zip(s["target_names"], p.target_mean.tolist())),
        "regression_target_std": dict(zip(s["target_names"], p.target_std.tolist())),
        "regression_target_end_bin_fraction": edge,
        "skipped_gts": p.skipped_gts,
    }
    many = len(p.category_names) > 20
    figs = (
        FigureSpec("fg_bg", "Fig. 3.4a as areas: anchors per image", partial(plot_fg_bg_areas, p),
                   "The tiny green square is the positives; the negatives' square is the background the "
                   "classifier sees for each of them.", size=(7.0, 3.4)),
        FigureSpec("positives_per_class", "Fig. 3.4b: positive anchors per class", partial(plot_positives_per_class, p),
                   size=(max(6.4, 0.16 * len(p.category_names)), 4.4) if many else (6.4, 4.0), wide=many),
        FigureSpec("positive_iou", "Fig. 3.12a: IoU of positive anchors", partial(plot_positive_iou, p),
                   _iou_caption(p, low_iou)),
        FigureSpec("positives_per_level", "Positives per pyramid level", partial(plot_positives_per_level, p)),
        FigureSpec("positives_per_gt", "Positives per GT by size", partial(plot_positives_per_gt, p)),
        FigureSpec("tl_corners", "Fig. 4.6: TL corners of positives in the GT frame", partial(plot_tl_corners, p),
                   size=(5.5, 5.5)),
        FigureSpec("overlaps", "Fig. 3.15: per-pixel overlapping positives", partial(plot_overlap_heatmap, p),
                   size=(5.5, 4.5)),
        FigureSpec("regression_targets", "Regression targets of positives", partial(plot_regression_targets, p),
                   _target_caption(p, edge)),
    )
    text = (f"Anchors '{p.anchors}' labelled by {p.assigner['name']} for every image as the detector sees it "
            "(torchvision resize + padding), matched exactly (identical to dense torchvision box_iou + Matcher). "
            "Crowd and degenerate boxes are not matched (skipped_gts). TL corners: positives mapped into the "
            "frame of their GT placed at [0.3, 0.3, 0.6, 0.6]; inside = TL right of and below the GT's TL.")
    how = ("How the detector's anchors are labelled (thesis Fig. 3.4, 3.12a, 3.15, 4.6): per image a few positives "
           "face a vast number of negatives (the fg:bg imbalance, first figure: areas, not bars), unevenly spread "
           "over classes, IoUs and pyramid levels. GTs without any positive anchor are never learnt.")
    return Section("anchors", f"Anchor imbalance ({p.anchors}, {p.assigner['name']})", numbers, figs, text,
                   highlights=("mean_positives", "mean_negatives", "negatives_per_positive",
                               "low_iou_positive_fraction", "gts_without_positive"), how_to_read=how)
