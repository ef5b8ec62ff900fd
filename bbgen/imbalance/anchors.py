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

Matching is exact and sparse (:mod:`bbgen.matching`): identical to dense torchvision matching.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..anchors import AnchorConfig, anchor_config, detector_view, scale_boxes
from ..assigners import ATSSAssigner, MaxIoUAssigner, assigner_config
from ..boxes import from_unit_frame, to_unit_frame
from ..datasets.annotations import Annotations
from ..matching import match_anchors
from .data_scale import SIZE_NAMES, size_category

__all__ = ["AnchorProfile", "REFERENCE_BOX", "anchor_profile", "overlap_heatmap", "regression_targets"]

REFERENCE_BOX = (0.3, 0.3, 0.6, 0.6)  # thesis §4.5.4
_TARGET_NAMES = ("dx", "dy", "dw", "dh")
_TARGET_RANGE = ((-0.5, 0.5), (-0.5, 0.5), (-1.5, 1.5), (-1.5, 1.5))


@dataclass(frozen=True)
class AnchorProfile:
    """Anchor imbalance statistics of a dataset.

    Per image ([N], in the order of ``annotations``): ``positives``, ``negatives``, ``ignored``,
    ``total`` anchors.  ``positives_per_class`` [C].  ``positives_per_gt`` [G] for the matched GTs
    (``gt_rows`` [G] rows of ``annotations.boxes``, ``gt_size`` [G] COCO band).
    ``iou_edges`` [B+1] / ``iou_hist`` [B] of positive IoUs.  ``positives_per_level`` [L].
    ``tl_points`` [S, 2] a deterministic subsample of TL corners in the reference frame
    ``REFERENCE_BOX``; ``tl_quadrants`` shares of all positives with TL inside (x > 0.3 and y > 0.3),
    outside (x < 0.3 and y < 0.3) and mixed.  ``overlap`` [R, R] mean count per image of positive
    anchors covering each cell of the normalised image (rows = y).  ``target_edges`` [4, B+1],
    ``target_hist`` [4, B], ``target_mean`` / ``target_std`` [4] of (dx, dy, dw, dh).
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

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (JSON-serialisable) view of every number."""
        n = max(self.num_images, 1)
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        out["category_names"] = list(self.category_names)
        out["level_names"] = list(self.level_names)
        out["summary"] = {
            "num_images": self.num_images,
            "mean_positives": float(self.positives.sum() / n),
            "mean_negatives": float(self.negatives.sum() / n),
            "mean_ignored": float(self.ignored.sum() / n),
            "fg_bg_ratio": self.fg_bg_ratio,
            "positives_per_class_per_image": (self.positives_per_class / n).tolist(),
            "gts_without_positive": self.gts_without_positive(),
            "gts_by_size": {s: int((self.gt_size == i).sum()) for i, s in enumerate(SIZE_NAMES)},
            "positives_per_gt_by_size": self.positives_per_gt_by_size(),
            "target_names": list(_TARGET_NAMES),
        }
        return out


def regression_targets(gt: np.ndarray, anchors: np.ndarray, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Box-regression targets [K, 4] (dx, dy, dw, dh) of GTs [K, 4] w.r.t. anchors [K, 4].

    torchvision ``BoxCoder.encode`` (R-CNN parameterisation): dx = wx (g_cx - a_cx) / a_w,
    dw = ww log(g_w / a_w), and likewise for y / h.  Computed in the inputs' float precision.
    """
    g, a = np.asarray(gt), np.asarray(anchors)
    if not (np.issubdtype(g.dtype, np.floating) and np.issubdtype(a.dtype, np.floating)):
        g, a = g.astype(np.float64), a.astype(np.float64)
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    dx = weights[0] * ((g[:, 0] + 0.5 * gw) - (a[:, 0] + 0.5 * aw)) / aw
    dy = weights[1] * ((g[:, 1] + 0.5 * gh) - (a[:, 1] + 0.5 * ah)) / ah
    return np.stack([dx, dy, weights[2] * np.log(gw / aw), weights[3] * np.log(gh / ah)], 1)


def overlap_heatmap(boxes: np.ndarray, image_size: np.ndarray, resolution: int = 64) -> np.ndarray:
    """Per-cell count [R, R] of boxes [K, 4] covering each cell of the normalised image (Fig. 3.15).

    Boxes are divided by their image's (width, height) [K, 2] and clipped to [0, 1]; a box counts in
    every cell it overlaps.  Accumulated with a 2-D difference array (O(K + R²)).
    """
    if not (isinstance(resolution, int) and resolution >= 1):
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    b = np.asarray(boxes, np.float64) / np.tile(np.asarray(image_size, np.float64), 2)
    b = np.clip(b, 0, 1) * resolution
    x0 = np.clip(np.floor(b[:, 0]), 0, resolution - 1).astype(np.int64)
    y0 = np.clip(np.floor(b[:, 1]), 0, resolution - 1).astype(np.int64)
    x1 = np.clip(np.ceil(b[:, 2]), x0 + 1, resolution).astype(np.int64)
    y1 = np.clip(np.ceil(b[:, 3]), y0 + 1, resolution).astype(np.int64)
    size = (resolution + 1) ** 2
    count = [np.bincount(ys * (resolution + 1) + xs, minlength=size) for ys, xs in ((y0, x0), (y0, x1), (y1, x0),
                                                                                     (y1, x1))]
    diff = (count[0] - count[1] - count[2] + count[3]).reshape(resolution + 1, resolution + 1)
    return diff.cumsum(0).cumsum(1)[:resolution, :resolution]


def _tl_in_reference(gt: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """TL corners [K, 2] of anchors mapped so that their GT becomes ``REFERENCE_BOX`` (§4.5.4)."""
    unit = to_unit_frame(torch.from_numpy(anchors), torch.from_numpy(gt))
    return from_unit_frame(unit, torch.tensor(REFERENCE_BOX, dtype=unit.dtype))[:, :2].numpy()


def _check_args(annotations: Any, iou_bins: int, heatmap_size: int, max_tl_points: int) -> None:
    if not isinstance(annotations, Annotations):
        raise TypeError(f"annotations must be a bbgen Annotations table, got {type(annotations).__name__}")
    for name, value in (("iou_bins", iou_bins), ("heatmap_size", heatmap_size), ("max_tl_points", max_tl_points)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def anchor_profile(annotations: Annotations, anchors: str | Path | AnchorConfig = "retinanet",
                   assigner: str | MaxIoUAssigner | ATSSAssigner = "maxiou", *, include_crowd: bool = False,
                   iou_bins: int = 20, heatmap_size: int = 64, target_bins: int = 40,
                   max_tl_points: int = 5000, progress: bool = True, chunk_boxes: int = 20000) -> AnchorProfile:
    """Profile the anchors of every image of ``annotations`` as the detector labels them.

    Args:
        annotations: the dataset table.
        anchors: ``"retinanet"``, ``"rpn"``, ``"ssd300"``, a JSON config path or an AnchorConfig.
        assigner: ``"maxiou"`` (the detector's Matcher thresholds), ``"atss"`` or an assigner object.
        include_crowd: match crowd/difficult boxes too (torchvision's COCO pipeline drops them).
        iou_bins, heatmap_size, target_bins: histogram resolutions; max_tl_points: TL corners kept.
        progress: show a tqdm progress bar over images.

    GTs with non-positive width or height after resizing are skipped (torchvision refuses them in
    training) and counted in ``skipped_gts``.
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

    with tqdm(total=annotations.num_images, desc=f"anchors ({config.name}, {type(asg).__name__})",
              unit="img", disable=not progress) as bar:
        res = match_anchors(scaled[rows], img[rows], padded, config, asg, chunk_boxes=chunk_boxes,
                            progress=bar.update)
    gt_rows = rows[res.pos_gt]
    gt_box, anc = scaled[gt_rows], res.pos_boxes
    per_gt = np.bincount(res.pos_gt, minlength=len(rows))
    tl = _tl_in_reference(gt_box, anc) if len(anc) else np.zeros((0, 2))
    x0, y0 = REFERENCE_BOX[:2]
    n_pos = max(len(tl), 1)
    inside = float(((tl[:, 0] > x0) & (tl[:, 1] > y0)).sum() / n_pos)
    outside = float(((tl[:, 0] < x0) & (tl[:, 1] < y0)).sum() / n_pos)
    keep = np.linspace(0, len(tl) - 1, min(max_tl_points, len(tl))).round().astype(np.int64) if len(tl) else []
    targets = regression_targets(gt_box, anc)  # float32, like the detector's own targets
    t_edges = np.stack([np.linspace(lo, hi, target_bins + 1) for lo, hi in _TARGET_RANGE])
    t_hist = np.stack([np.histogram(np.clip(targets[:, i], lo, hi), t_edges[i])[0]
                       for i, (lo, hi) in enumerate(_TARGET_RANGE)])
    iou_edges = np.linspace(0.0, 1.0, iou_bins + 1)
    heat = overlap_heatmap(anc, resized[res.pos_image], heatmap_size) / max(annotations.num_images, 1)
    return AnchorProfile(
        anchors=config.name,
        assigner={"name": type(asg).__name__, **asdict(asg)},
        category_names=tuple(annotations.category_names),
        level_names=tuple(config.level_names),
        positives=res.positives, negatives=res.negatives, ignored=res.ignored, total=res.total,
        positives_per_class=np.bincount(annotations.labels[gt_rows], minlength=annotations.num_classes),
        gt_rows=rows, gt_size=size_category(annotations.boxes[rows]), positives_per_gt=per_gt,
        iou_edges=iou_edges, iou_hist=np.histogram(res.pos_iou, iou_edges)[0],
        positives_per_level=np.bincount(res.pos_level, minlength=config.num_levels),
        tl_points=tl[keep], tl_quadrants={"inside": inside, "outside": outside, "mixed": 1.0 - inside - outside},
        overlap=heat, target_edges=t_edges, target_hist=t_hist,
        target_mean=targets.mean(0, dtype=np.float64) if len(targets) else np.zeros(4),
        target_std=targets.std(0, dtype=np.float64) if len(targets) else np.zeros(4),
        skipped_gts={"crowd": int(crowd.sum()), "degenerate": int(degenerate.sum())},
    )
