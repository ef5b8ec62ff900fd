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
from ..imbalance.anchor_imbalance import anchor_profile
from ..plot.anchors import (plot_fg_bg, plot_overlap_heatmap, plot_positive_iou, plot_positives_per_class,
                            plot_positives_per_gt, plot_positives_per_level, plot_regression_targets,
                            plot_tl_corners)
from .sections import FigureSpec, Section

__all__ = ["anchor_section"]

def anchor_section(ann: Annotations, *, anchors: str | Path | AnchorConfig = "retinanet",
                   assigner: str | MaxIoUAssigner | ATSSAssigner = "maxiou", progress: bool = False) -> Section:
    """Foreground-background, per-class, IoU, feature-level and relative spatial imbalance of the anchors."""
    p = anchor_profile(ann, anchors, assigner, progress=progress)
    s = p.to_dict()["summary"]
    per_class = p.positives_per_class_per_image
    order = np.argsort(-per_class, kind="stable")
    ratio = p.fg_bg_ratio
    numbers = {
        "anchors": p.anchors,
        "assigner": p.assigner,
        "mean_positives": s["mean_positives"],
        "mean_negatives": s["mean_negatives"],
        "mean_ignored": s["mean_ignored"],
        "fg_bg_ratio": ratio,
        "negatives_per_positive": (1.0 / ratio) if ratio > 0 else None,
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
        "skipped_gts": p.skipped_gts,
    }
    figs = (
        FigureSpec("fg_bg", "Fig. 3.4a: anchors per image", partial(plot_fg_bg, p)),
        FigureSpec("positives_per_class", "Fig. 3.4b: positive anchors per class",
                   partial(plot_positives_per_class, p)),
        FigureSpec("positive_iou", "Fig. 3.12a: IoU of positive anchors", partial(plot_positive_iou, p)),
        FigureSpec("positives_per_level", "Positives per pyramid level", partial(plot_positives_per_level, p)),
        FigureSpec("positives_per_gt", "Positives per GT by size", partial(plot_positives_per_gt, p)),
        FigureSpec("tl_corners", "Fig. 4.6: TL corners of positives in the GT frame", partial(plot_tl_corners, p),
                   size=(5.5, 5.5)),
        FigureSpec("overlaps", "Fig. 3.15: per-pixel overlapping positives", partial(plot_overlap_heatmap, p),
                   size=(5.5, 4.5)),
        FigureSpec("regression_targets", "Regression targets of positives", partial(plot_regression_targets, p)),
    )
    text = (f"Anchors '{p.anchors}' labelled by {p.assigner['name']} for every image as the detector sees it "
            "(torchvision resize + padding), matched exactly (identical to dense torchvision box_iou + Matcher). "
            "Crowd and degenerate boxes are not matched (skipped_gts). TL corners: positives mapped into the "
            "frame of their GT placed at [0.3, 0.3, 0.6, 0.6]; inside = TL right of and below the GT's TL.")
    return Section("anchors", f"Anchor imbalance ({p.anchors}, {p.assigner['name']})", numbers, figs, text,
                   highlights=("mean_positives", "mean_negatives", "negatives_per_positive", "gts_without_positive"))
