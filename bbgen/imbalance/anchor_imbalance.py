"""Anchor-side imbalance profile of a dataset (thesis Ch. 3) for an anchor set and assigner.

What is measured, per thesis figure:

* foreground–background: positives / negatives / ignored anchors per image (Fig. 3.4a, §3.2.1);
* foreground–foreground: positive anchors per class (Fig. 3.4b); positives per GT and GTs without
  any positive anchor, by COCO size band;
* IoU distribution of the positive anchors (Fig. 3.12a, §3.4.2);
* feature-level scale: positives per pyramid level (§3.3.2);
* relative spatial distribution: TL corners of positive anchors mapped into the frame of their GT
  placed at [0.3, 0.3, 0.6, 0.6] (§4.5.4, Fig. 4.6) and the share of them inside vs outside the GT;
* imbalance in overlapping boxes: per-pixel count of positive anchors on the normalised image
  (Fig. 3.15, §3.4.5.5);
* regression targets (dx, dy, dw, dh) of the positives (torchvision ``BoxCoder`` encoding).

Matching is exact and sparse (:mod:`bbgen.anchors.maxiou`): identical to dense torchvision matching.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .. import _validate
from ..anchors import AnchorConfig, anchor_config, detector_view, scale_boxes
from ..anchors.assigners import ATSSAssigner, MaxIoUAssigner, assigner_config
from ..datasets.annotations import Annotations
from ..anchors.maxiou import chunk_plan
from .anchor_stats import REFERENCE_BOX, ChunkJob, chunk_stats, merge_stats, overlap_heatmap, regression_targets
from .data_measures import quantiles
from .data_scale import SIZE_NAMES, size_category

__all__ = ["AnchorProfile", "REFERENCE_BOX", "anchor_profile", "overlap_heatmap", "regression_targets"]

_TARGET_NAMES = ("dx", "dy", "dw", "dh")
_TARGET_RANGE = ((-0.5, 0.5), (-0.5, 0.5), (-1.5, 1.5), (-1.5, 1.5))


@dataclass(frozen=True)
class AnchorProfile:
    """Anchor imbalance statistics of a dataset (made by :func:`anchor_profile`; thesis Fig. 3.4, 3.12a, 3.15, 4.6).

    Every number of the anchor side lives here; plots and the report only select from it.

    Attributes
    ----------
    anchors : str
        Name of the anchor configuration.
    assigner : dict
        The assigner's name and parameters.
    category_names : tuple of str
        Class names ``[C]``.
    level_names : tuple of str
        Pyramid level names ``[L]``.
    positives, negatives, ignored, total : ndarray[N] of int64
        Anchors per image, in the order of the annotations.
    positives_per_class : ndarray[C] of int64
        Positive anchors per class over the dataset.
    gt_rows : ndarray[G] of int64
        Rows of ``annotations.boxes`` that were matched (crowd and degenerate boxes are not).
    gt_size : ndarray[G] of int64
        COCO size band of each matched GT.
    positives_per_gt : ndarray[G] of int64
        Positive anchors of each matched GT.
    iou_edges : ndarray[B + 1]
        Edges of ``iou_hist``.
    iou_hist : ndarray[B] of int64
        IoU histogram of the positives with their GT.
    positives_per_level : ndarray[L] of int64
    tl_points : ndarray[S, 2]
        Deterministic subsample of the positives' TL corners in the frame of ``REFERENCE_BOX``.
    tl_quadrants : dict of str to float
        Shares of the positives with TL ``inside`` (x > 0.3 and y > 0.3), ``outside`` (both < 0.3), ``mixed``.
    overlap : ndarray[R, R]
        Mean count per image of positive anchors covering each cell of the normalised image (rows = y).
    target_edges : ndarray[4, B + 1]
    target_hist : ndarray[4, B]
        Histograms of the regression targets (dx, dy, dw, dh).
    target_mean, target_std : ndarray[4]
    skipped_gts : dict of str to int
        GTs not matched: ``crowd`` and ``degenerate``.
    """

    anchors: str
    assigner: dict[str, Any]
    category_names: tuple[str, ...]
    level_names: tuple[str, ...]
    positives: np.ndarray
    negatives: np.ndarray
    ignored: np.ndarray
    total: np.ndarray
    positives_per_class: np.ndarray
    gt_rows: np.ndarray
    gt_size: np.ndarray
    positives_per_gt: np.ndarray
    iou_edges: np.ndarray
    iou_hist: np.ndarray
    positives_per_level: np.ndarray
    tl_points: np.ndarray
    tl_quadrants: dict[str, float]
    overlap: np.ndarray
    target_edges: np.ndarray
    target_hist: np.ndarray
    target_mean: np.ndarray
    target_std: np.ndarray
    skipped_gts: dict[str, int] = field(default_factory=dict)

    @property
    def num_images(self) -> int:
        return len(self.positives)

    @property
    def fg_bg_ratio(self) -> float:
        """Positives : negatives over the dataset (1 : x is reported as x = 1 / ratio)."""
        neg = int(self.negatives.sum())
        return float(self.positives.sum() / neg) if neg else float("inf")

    def gts_without_positive(self) -> dict[str, int]:
        """Matched-eligible GTs with no positive anchor, per COCO size band."""
        zero = self.positives_per_gt == 0
        return {n: int((zero & (self.gt_size == i)).sum()) for i, n in enumerate(SIZE_NAMES)}

    def positives_per_gt_by_size(self) -> dict[str, float]:
        """Mean positives per GT in each COCO size band (NaN-free: 0 for an empty band)."""
        out = {}
        for i, n in enumerate(SIZE_NAMES):
            sel = self.gt_size == i
            out[n] = float(self.positives_per_gt[sel].mean()) if sel.any() else 0.0
        return out

    def mean_per_image(self) -> dict[str, float]:
        """Mean ``positives``, ``negatives`` and ``ignored`` anchors per image (thesis Fig. 3.4a)."""
        n = max(self.num_images, 1)
        return {k: float(getattr(self, k).sum() / n) for k in ("positives", "negatives", "ignored")}

    def gts_by_size(self) -> dict[str, int]:
        """Matched-eligible GTs per COCO size band."""
        return {s: int((self.gt_size == i).sum()) for i, s in enumerate(SIZE_NAMES)}

    @property
    def positives_per_level_per_image(self) -> np.ndarray:
        """Mean positive anchors per image on each pyramid level, ``[L]`` (thesis §3.3.2)."""
        return self.positives_per_level / max(self.num_images, 1)

    @property
    def positives_per_class_per_image(self) -> np.ndarray:
        """Mean positive anchors per image of each class, ``[C]`` (thesis Fig. 3.4b)."""
        return self.positives_per_class / max(self.num_images, 1)

    def per_image_quantiles(self) -> dict[str, dict[str, float]]:
        """Mean and quantiles (:func:`bbgen.imbalance.data_measures.quantiles`) of the per-image counts."""
        return {"anchors_per_image": quantiles(self.total), "positives_per_image": quantiles(self.positives),
                "ignored_per_image": quantiles(self.ignored)}

    def to_dict(self) -> dict[str, object]:
        """Plain-Python (JSON-serialisable) view of every number."""
        out: dict[str, object] = {}
        for key, value in asdict(self).items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        out["category_names"] = list(self.category_names)
        out["level_names"] = list(self.level_names)
        out["summary"] = {
            "num_images": self.num_images,
            **{f"mean_{k}": v for k, v in self.mean_per_image().items()},
            "fg_bg_ratio": self.fg_bg_ratio,
            "positives_per_class_per_image": self.positives_per_class_per_image.tolist(),
            **self.per_image_quantiles(),
            "gts_without_positive": self.gts_without_positive(),
            "gts_by_size": self.gts_by_size(),
            "positives_per_gt_by_size": self.positives_per_gt_by_size(),
            "target_names": list(_TARGET_NAMES),
        }
        return out


def _check_args(annotations: Annotations, iou_bins: int, heatmap_size: int, max_tl_points: int) -> None:
    if not isinstance(annotations, Annotations):
        raise TypeError(f"annotations must be a bbgen Annotations table, got {type(annotations).__name__}")
    for name, value in (("iou_bins", iou_bins), ("heatmap_size", heatmap_size), ("max_tl_points", max_tl_points)):
        _validate.positive_int(value, name)


def anchor_profile(annotations: Annotations, anchors: str | Path | AnchorConfig = "retinanet",
                   assigner: str | MaxIoUAssigner | ATSSAssigner = "maxiou", *, include_crowd: bool = False,
                   iou_bins: int = 20, heatmap_size: int = 64, target_bins: int = 40,
                   max_tl_points: int = 5000, progress: bool = True, chunk_boxes: int = 20000) -> AnchorProfile:
    """Profile the anchors of every image of ``annotations`` as the detector labels them (thesis Ch. 3).

    GTs with non-positive width or height after resizing are skipped (torchvision refuses them in
    training) and counted in ``skipped_gts``.

    Parameters
    ----------
    annotations : Annotations
        The dataset table.
    anchors : {"retinanet", "rpn", "ssd300"} or path or AnchorConfig, default "retinanet"
        A preset, a JSON config path or a configuration.
    assigner : {"maxiou", "atss"} or MaxIoUAssigner or ATSSAssigner, default "maxiou"
        ``"maxiou"`` uses the detector's Matcher thresholds.
    include_crowd : bool, default False
        Match crowd/difficult boxes too (torchvision's COCO pipeline drops them).
    iou_bins, heatmap_size, target_bins : int
        Histogram resolutions (positive).
    max_tl_points : int, default 5000
        TL corners kept (evenly spaced over the positives in image order).
    progress : bool, default True
        Show a tqdm progress bar over images.
    chunk_boxes : int, default 20000
        GTs per chunk; statistics are reduced chunk by chunk, so memory is bounded by the chunk, not the
        dataset.

    Returns
    -------
    AnchorProfile
    """
    _check_args(annotations, iou_bins, heatmap_size, max_tl_points)
    config = anchor_config(anchors)
    asg = assigner_config(assigner, config.name)
    sizes = annotations.image_sizes
    resized, padded = detector_view(sizes, config)
    img = annotations.box_image.astype(np.int64)
    scaled = scale_boxes(annotations.boxes, sizes[img], resized[img])
    crowd = annotations.crowd.astype(bool) & (not include_crowd)
    degenerate = ~crowd & ~((scaled[:, 2] > scaled[:, 0]) & (scaled[:, 3] > scaled[:, 1]))
    rows = np.flatnonzero(~crowd & ~degenerate)
    if not np.isfinite(scaled[rows]).all():
        raise ValueError("annotations.boxes hold non-finite coordinates")
    iou_edges = np.linspace(0.0, 1.0, iou_bins + 1)
    t_edges = np.stack([np.linspace(lo, hi, target_bins + 1) for lo, hi in _TARGET_RANGE])
    plan = chunk_plan(img[rows], annotations.num_images, chunk_boxes)
    jobs = [ChunkJob(config, asg, i0, scaled[rows[r]], img[rows[r]] - i0, annotations.labels[rows[r]],
                     padded[i0:i1], resized[i0:i1], annotations.num_classes, iou_edges, t_edges, heatmap_size,
                     max_tl_points) for i0, i1, r in plan]
    parts = []
    with tqdm(total=annotations.num_images, desc=f"anchors ({config.name}, {type(asg).__name__})",
              unit="img", disable=not progress) as bar:
        for job in jobs:
            parts.append(chunk_stats(job))
            bar.update(len(job.padded))
    m = _merged(parts, jobs, plan, len(rows), annotations.num_classes, config.num_levels, iou_bins, heatmap_size,
                target_bins, max_tl_points)
    n_pos = max(m["num_positives"], 1)
    inside, outside = m["tl_inside"] / n_pos, m["tl_outside"] / n_pos
    return AnchorProfile(
        anchors=config.name,
        assigner={"name": type(asg).__name__, **asdict(asg)},
        category_names=tuple(annotations.category_names),
        level_names=tuple(config.level_names),
        positives=m["positives"], negatives=m["negatives"], ignored=m["ignored"], total=m["total"],
        positives_per_class=m["per_class"], gt_rows=rows, gt_size=size_category(annotations.boxes[rows]),
        positives_per_gt=m["per_gt"], iou_edges=iou_edges, iou_hist=m["iou_hist"],
        positives_per_level=m["per_level"], tl_points=m["tl_points"],
        tl_quadrants={"inside": inside, "outside": outside, "mixed": 1.0 - inside - outside},
        overlap=m["heat"] / max(annotations.num_images, 1), target_edges=t_edges, target_hist=m["target_hist"],
        target_mean=m["target_mean"], target_std=m["target_std"],
        skipped_gts={"crowd": int(crowd.sum()), "degenerate": int(degenerate.sum())},
    )


def _merged(parts, jobs, plan, num_gts, num_classes, num_levels, iou_bins, heatmap_size, target_bins,
            max_tl_points) -> dict:
    """Merge chunk statistics; per-GT counts are scattered back to the order of the valid GTs."""
    if not parts:
        z = np.zeros(0, np.int64)
        return {"positives": z, "negatives": z, "ignored": z, "total": z, "per_gt": np.zeros(num_gts, np.int64),
                "per_class": np.zeros(num_classes, np.int64), "iou_hist": np.zeros(iou_bins, np.int64),
                "per_level": np.zeros(num_levels, np.int64), "tl_inside": 0, "tl_outside": 0,
                "heat": np.zeros((heatmap_size, heatmap_size), np.int64),
                "target_hist": np.zeros((4, target_bins), np.int64), "tl_points": np.zeros((0, 2)),
                "target_mean": np.zeros(4), "target_std": np.zeros(4), "num_positives": 0}
    m = merge_stats(parts, max_tl_points)
    per_gt = np.zeros(num_gts, np.int64)
    per_gt[np.concatenate([r for _, _, r in plan])] = m["per_gt"]
    m["per_gt"] = per_gt
    return m
