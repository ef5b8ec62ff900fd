"""Mergeable per-chunk statistics of the anchor profile (so a COCO-sized profile streams in bounded memory
and can run on several processes).

A :class:`ChunkJob` holds everything one block of images needs (picklable); :func:`chunk_stats`
matches it (:func:`bbgen.anchors.maxiou.match_chunk`) and reduces the positives to sums, histograms, a
TL-corner sample and running moments; :func:`merge_stats` combines the chunks in order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import _validate
from ..anchors import AnchorConfig
from ..anchors.assigners import ATSSAssigner, MaxIoUAssigner
from ..boxes import from_unit_frame, to_unit_frame
from ..anchors.maxiou import match_chunk

__all__ = ["REFERENCE_BOX", "ChunkJob", "ChunkStats", "chunk_stats", "merge_stats", "overlap_heatmap",
           "regression_targets", "tl_in_reference"]

REFERENCE_BOX = (0.3, 0.3, 0.6, 0.6)  # thesis §4.5.4


@dataclass(frozen=True)
class ChunkJob:
    """Images ``i0 .. i0 + n - 1`` with their valid GTs (detector frame, sorted by image); picklable.

    Parameters
    ----------
    config : AnchorConfig
    assigner : MaxIoUAssigner or ATSSAssigner
    i0 : int
        Index of the chunk's first image in the dataset.
    gt : ndarray[G, 4] of float32
    gt_image : ndarray[G] of int64
        Image index local to the chunk.
    gt_label : ndarray[G] of int64
    padded, resized : ndarray[n, 2] of int64
        Image sizes as the detector sees them (:func:`bbgen.anchors.detector_view`).
    num_classes : int
    iou_edges : ndarray[B + 1]
    target_edges : ndarray[4, B + 1]
    heatmap_size : int
    max_tl_points : int
    """

    config: AnchorConfig
    assigner: MaxIoUAssigner | ATSSAssigner
    i0: int
    gt: np.ndarray
    gt_image: np.ndarray
    gt_label: np.ndarray
    padded: np.ndarray
    resized: np.ndarray
    num_classes: int
    iou_edges: np.ndarray
    target_edges: np.ndarray
    heatmap_size: int
    max_tl_points: int


@dataclass(frozen=True)
class ChunkStats:
    """Reduced statistics of one chunk; the fields mean what they mean in :class:`bbgen.imbalance.AnchorProfile`.

    Attributes
    ----------
    positives, negatives, ignored, total : ndarray[n] of int64
    per_class : ndarray[C] of int64
    per_gt : ndarray[G] of int64
    iou_hist : ndarray[B] of int64
    per_level : ndarray[L] of int64
    tl_inside, tl_outside : int
    tl_sample : ndarray[S, 2]
        At most ``max_tl_points`` TL corners, evenly spaced over the chunk's positives.
    heat : ndarray[R, R] of int64
    target_hist : ndarray[4, B] of int64
    target_n : int
    target_mean : ndarray[4]
    target_m2 : ndarray[4]
        Sum of squared deviations (Chan et al. parallel variance).
    """

    positives: np.ndarray
    negatives: np.ndarray
    ignored: np.ndarray
    total: np.ndarray
    per_class: np.ndarray
    per_gt: np.ndarray
    iou_hist: np.ndarray
    per_level: np.ndarray
    tl_inside: int
    tl_outside: int
    tl_sample: np.ndarray
    heat: np.ndarray
    target_hist: np.ndarray
    target_n: int
    target_mean: np.ndarray
    target_m2: np.ndarray


def regression_targets(gt: np.ndarray, anchors: np.ndarray,
                       weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Box-regression targets (dx, dy, dw, dh) of GTs w.r.t. anchors (torchvision ``BoxCoder.encode``).

    R-CNN parameterisation: dx = wx (g_cx - a_cx) / a_w, dw = ww log(g_w / a_w), and likewise for y / h.
    Computed in the inputs' float precision.

    Parameters
    ----------
    gt, anchors : ndarray[K, 4]
        Corresponding boxes.
    weights : (float, float, float, float), default (1, 1, 1, 1)
        ``(wx, wy, ww, wh)``.

    Returns
    -------
    ndarray[K, 4]
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
    """Count of boxes covering each cell of the normalised image (thesis Fig. 3.15).

    Boxes are divided by their image's (width, height) and clipped to [0, 1]; a box counts in every cell it
    overlaps.  Accumulated with a 2-D difference array (O(K + R²)).

    Parameters
    ----------
    boxes : ndarray[K, 4]
    image_size : ndarray[K, 2]
        (width, height) of each box's image.
    resolution : int, default 64
        Cells per side ``R``.

    Returns
    -------
    ndarray[R, R] of int64
        Rows are y.
    """
    resolution = _validate.positive_int(resolution, "resolution")
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


def tl_in_reference(gt: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """TL corners of anchors mapped so that their GT becomes ``REFERENCE_BOX`` (thesis §4.5.4, Fig. 4.6).

    Parameters
    ----------
    gt, anchors : ndarray[K, 4]
        Corresponding boxes.

    Returns
    -------
    ndarray[K, 2]
    """
    unit = to_unit_frame(torch.from_numpy(anchors), torch.from_numpy(gt))
    return from_unit_frame(unit, torch.tensor(REFERENCE_BOX, dtype=unit.dtype))[:, :2].numpy()


def _even(n: int, k: int) -> np.ndarray:
    """k evenly spaced indices of range(n) (all of them when k >= n)."""
    return np.linspace(0, n - 1, min(k, n)).round().astype(np.int64) if n and k else np.zeros(0, np.int64)


def chunk_stats(job: ChunkJob) -> ChunkStats:
    """Match one chunk and reduce its positives.

    Parameters
    ----------
    job : ChunkJob

    Returns
    -------
    ChunkStats
    """
    n, g_count = len(job.padded), len(job.gt)
    res = match_chunk(job.gt, job.gt_image, job.padded, job.config, job.assigner, 0, n, np.arange(g_count))
    gt_box, anc = job.gt[res.pos_gt], res.pos_boxes
    tl = tl_in_reference(gt_box, anc) if len(anc) else np.zeros((0, 2), np.float32)
    x0, y0 = REFERENCE_BOX[:2]
    targets = regression_targets(gt_box, anc).astype(np.float64)  # float32 arithmetic, like the detector
    edges = job.target_edges
    t_hist = np.stack([np.histogram(np.clip(targets[:, i], edges[i, 0], edges[i, -1]), edges[i])[0]
                       for i in range(4)])
    mean = targets.mean(0) if len(targets) else np.zeros(4)
    return ChunkStats(
        positives=res.positives, negatives=res.negatives, ignored=res.ignored, total=res.total,
        per_class=np.bincount(job.gt_label[res.pos_gt], minlength=job.num_classes),
        per_gt=np.bincount(res.pos_gt, minlength=g_count),
        iou_hist=np.histogram(res.pos_iou, job.iou_edges)[0],
        per_level=np.bincount(res.pos_level, minlength=job.config.num_levels),
        tl_inside=int(((tl[:, 0] > x0) & (tl[:, 1] > y0)).sum()),
        tl_outside=int(((tl[:, 0] < x0) & (tl[:, 1] < y0)).sum()),
        tl_sample=tl[_even(len(tl), job.max_tl_points)],
        heat=overlap_heatmap(anc, job.resized[res.pos_image], job.heatmap_size),
        target_hist=t_hist, target_n=len(targets), target_mean=mean,
        target_m2=((targets - mean) ** 2).sum(0) if len(targets) else np.zeros(4),
    )


def merge_stats(parts: list[ChunkStats], max_tl_points: int) -> dict[str, np.ndarray | int | float]:
    """Combine chunk statistics in order (sums; TL sample by largest-remainder quotas; pooled moments).

    Parameters
    ----------
    parts : list of ChunkStats
        In image order.
    max_tl_points : int
        TL corners kept in all.

    Returns
    -------
    dict
        The merged arrays, keyed like :class:`ChunkStats` plus ``tl_points``, ``target_std``, ``num_positives``.
    """
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in
           ("positives", "negatives", "ignored", "total", "per_gt")}
    sums = {k: sum(getattr(p, k) for p in parts) for k in
            ("per_class", "iou_hist", "per_level", "tl_inside", "tl_outside", "heat", "target_hist")}
    n_pos = np.array([p.target_n for p in parts], np.int64)
    total_pos = int(n_pos.sum())
    want = min(max_tl_points, total_pos)
    share = want * n_pos / max(total_pos, 1)
    quota = np.floor(share).astype(np.int64)
    quota[np.argsort(quota - share, kind="stable")[:want - quota.sum()]] += 1
    tl = np.concatenate([p.tl_sample[_even(len(p.tl_sample), q)] for p, q in zip(parts, quota)] +
                        [np.zeros((0, 2), np.float32)])
    mean, m2, count = np.zeros(4), np.zeros(4), 0
    for p in parts:  # Chan et al. pairwise update of mean and M2
        if p.target_n:
            tot = count + p.target_n
            delta = p.target_mean - mean
            m2 = m2 + p.target_m2 + delta ** 2 * count * p.target_n / tot
            mean = mean + delta * p.target_n / tot
            count = tot
    std = np.sqrt(m2 / count) if count else np.zeros(4)
    return {**cat, **sums, "tl_points": tl, "target_mean": mean, "target_std": std, "num_positives": total_pos}
