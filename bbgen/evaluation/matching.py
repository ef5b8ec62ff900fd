"""Vectorised COCO-style greedy matching of detections to ground truth (bbox IoU).

The rule is pycocotools' ``evaluateImg`` (and the authors' LRP-Error fork, which only adds the IoU
of each match): per image and category, detections in descending score order each take the free
ground truth with the largest IoU >= t (a later box wins a tie); a non-ignored ground truth is
always preferred over an ignored one (crowd, or outside the area range); a crowd box stays free.
Unmatched detections outside the area range are ignored.

Instead of a Python loop over images, categories and detections, only the (detection, ground
truth) pairs with IoU >= min(t) are kept ("edges") and the greedy rule runs once per detection
rank over all images, categories and thresholds at once. What is computed from the matches
(AP, LRP) lives in :mod:`.ap` and :mod:`.lrp`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .io import Detections, GroundTruth

__all__ = ["Matches", "match_detections", "pair_iou"]

_MAX_EDGES_PER_CHUNK = 2_000_000


@dataclass(frozen=True)
class Matches:
    """Result of :func:`match_detections` for ``A`` area ranges and ``T`` IoU thresholds.

    Detections are those kept by ``max_det`` (highest scores per image and category), in the input
    order of the kept rows.

    Attributes
    ----------
    det_rows : ndarray [D] int64
        Row of each kept detection in the input :class:`Detections`.
    det_rank : ndarray [D] int64
        Rank by score within its image and category (0 = highest; ties by input order).
    matched : ndarray [A, T, D] bool
        Matched to some ground truth.
    ignored : ndarray [A, T, D] bool
        Matched to an ignored ground truth, or unmatched and outside the area range.
    iou : ndarray [A, T, D] float64
        IoU with the matched ground truth (0 when unmatched).
    gt_ignored : ndarray [A, G] bool
        Crowd, or area outside the range.
    """

    det_rows: np.ndarray
    det_rank: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    iou: np.ndarray
    gt_ignored: np.ndarray


def pair_iou(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray, det_area: np.ndarray | None = None) -> np.ndarray:
    """IoU of row-aligned box pairs; intersection over the detection's area for crowd boxes (COCO).

    Parameters
    ----------
    det : ndarray [E, 4]
        Detection boxes, xyxy.
    gt : ndarray [E, 4]
        Ground-truth boxes, xyxy.
    crowd : ndarray [E] bool
        Whether the ground truth of each pair is a crowd box.
    det_area : ndarray [E], optional
        Detection areas when known exactly (``w * h`` of a COCO result); default from ``det``.

    Returns
    -------
    ndarray [E] float64, 0 where the union is empty.
    """
    e = len(det) if np.ndim(det) == 2 else -1
    if np.shape(det) != (e, 4) or np.shape(gt) != (e, 4) or np.shape(crowd) != (e,) \
            or det_area is not None and np.shape(det_area) != (e,):
        raise ValueError(f"pair_iou expects det [E, 4], gt [E, 4], crowd [E] and det_area [E] or None, got shapes "
                         f"{np.shape(det)}, {np.shape(gt)}, {np.shape(crowd)} and "
                         f"{None if det_area is None else np.shape(det_area)}")
    w = np.clip(np.minimum(det[:, 2], gt[:, 2]) - np.maximum(det[:, 0], gt[:, 0]), 0, None)
    h = np.clip(np.minimum(det[:, 3], gt[:, 3]) - np.maximum(det[:, 1], gt[:, 1]), 0, None)
    inter = w * h
    da = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1]) if det_area is None else det_area
    ga = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    union = np.where(crowd, da, da + ga - inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _rank_within_group(keys: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order by (group key, score descending, input order) and each row's rank inside its group."""
    order = np.lexsort((np.arange(len(keys)), -scores, keys))
    k = keys[order]
    start = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1]
    group_start = np.repeat(start, np.diff(np.r_[start, len(k)]))
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys)) - group_start
    return order, rank


def _edges(gt: GroundTruth, det: Detections, rows: np.ndarray, min_iou: float, progress: bool):
    """All (detection, gt) pairs of the same image and category with IoU >= ``min_iou``."""
    from ..progress import tqdm

    k = gt.num_classes
    gkey = gt.box_image * k + gt.labels
    gorder = np.argsort(gkey, kind="stable")
    gkey_sorted = gkey[gorder]
    dkey = det.image_index[rows] * k + det.labels[rows]
    lo = np.searchsorted(gkey_sorted, dkey, "left")
    cnt = np.searchsorted(gkey_sorted, dkey, "right") - lo
    cum = np.cumsum(cnt)
    bounds = np.searchsorted(cum, np.arange(_MAX_EDGES_PER_CHUNK, cum[-1] + _MAX_EDGES_PER_CHUNK,
                                            _MAX_EDGES_PER_CHUNK) if len(cum) and cum[-1] else [], "right")
    bounds = np.unique(np.r_[0, np.minimum(bounds, len(rows)), len(rows)])
    out_d, out_g, out_iou = [], [], []
    for a, b in tqdm(list(zip(bounds[:-1], bounds[1:])), desc="matching", disable=not progress, leave=False):
        c = cnt[a:b]
        d_local = np.repeat(np.arange(a, b), c)
        offs = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        g = gorder[np.repeat(lo[a:b], c) + offs]
        iou = pair_iou(det.boxes[rows[d_local]], gt.boxes[g], gt.crowd[g], det.area[rows[d_local]])
        keep = iou >= min_iou
        out_d.append(d_local[keep]), out_g.append(g[keep]), out_iou.append(iou[keep])
    cat = (lambda x, dt: np.concatenate(x) if x else np.zeros(0, dt))
    return cat(out_d, np.int64), cat(out_g, np.int64), cat(out_iou, np.float64)


def match_detections(gt: GroundTruth, det: Detections, iou_thresholds: Sequence[float],
                     area_ranges: np.ndarray, max_det: int, progress: bool = False) -> Matches:
    """Greedy COCO matching at every IoU threshold and area range (see the module docstring).

    Parameters
    ----------
    gt : GroundTruth
    det : Detections
    iou_thresholds : sequence of float [T]
        A match needs IoU >= t (t capped at 1 - 1e-10, as pycocotools does).
    area_ranges : ndarray [A, 2]
        ``[lo, hi]`` areas; ground truth with area outside is ignored.
    max_det : int
        Detections kept per image and category (highest scores).
    progress : bool
        Show a tqdm progress bar.
    """
    thr = np.minimum(np.asarray(iou_thresholds, dtype=np.float64), 1 - 1e-10)
    area_ranges = np.asarray(area_ranges, dtype=np.float64).reshape(-1, 2)
    dkey_all = det.image_index * gt.num_classes + det.labels
    _, rank_all = _rank_within_group(dkey_all, det.scores)
    rows = np.flatnonzero(rank_all < max_det)
    rank = rank_all[rows]
    e_det, e_gt, e_iou = _edges(gt, det, rows, float(thr.min()), progress)
    n_a, n_t, n_d, n_g = len(area_ranges), len(thr), len(rows), len(gt.labels)
    matched = np.zeros((n_a, n_t, n_d), bool)
    ignored = np.zeros((n_a, n_t, n_d), bool)
    iou_out = np.zeros((n_a, n_t, n_d))
    gt_ignored = np.zeros((n_a, n_g), bool)
    det_area = det.area[rows]
    for a, (lo, hi) in enumerate(area_ranges):
        g_ig = gt.crowd | (gt.area < lo) | (gt.area > hi)
        gt_ignored[a] = g_ig
        _greedy(e_det, e_gt, e_iou, rank[e_det], g_ig, gt.crowd, thr, n_g,
                matched[a], ignored[a], iou_out[a])
        outside = (det_area < lo) | (det_area > hi)
        ignored[a] |= ~matched[a] & outside[None, :]
    return Matches(rows, rank, matched, ignored, iou_out, gt_ignored)


def _greedy(e_det, e_gt, e_iou, e_rank, g_ig, crowd, thr, n_g, matched, ignored, iou_out) -> None:
    """Run the greedy rule rank by rank over all edges; fills ``matched/ignored/iou_out [T, D]`` in place.

    Within one detection the preferred edge is the largest (not ignored, IoU, gt index): edges are
    sorted by it, so the preferred *valid* edge is the last valid one of the detection's run.
    """
    if len(e_det) == 0:
        return
    order = np.lexsort((e_gt, e_iou, ~g_ig[e_gt], e_det, e_rank))
    e_det, e_gt, e_iou, e_rank = e_det[order], e_gt[order], e_iou[order], e_rank[order]
    n_t = len(thr)
    taken = np.zeros((n_g, n_t), bool)
    passes = e_iou[:, None] >= thr[None, :]
    rank_bounds = np.r_[0, np.flatnonzero(np.diff(e_rank)) + 1, len(e_rank)]
    for s, e in zip(rank_bounds[:-1], rank_bounds[1:]):
        g = e_gt[s:e]
        valid = passes[s:e] & (crowd[g][:, None] | ~taken[g])
        d = e_det[s:e]
        run = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]
        pos = np.where(valid, np.arange(e - s)[:, None], -1)
        best = np.maximum.reduceat(pos, run, axis=0)  # [runs, T]
        ok = best >= run[:, None]
        r_idx, t_idx = np.nonzero(ok)
        edge = best[r_idx, t_idx]
        det_i, gt_i = d[edge], g[edge]
        matched[t_idx, det_i] = True
        ignored[t_idx, det_i] = g_ig[gt_i]
        iou_out[t_idx, det_i] = e_iou[s:e][edge]
        taken[gt_i, t_idx] = True
