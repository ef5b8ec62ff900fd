"""Sparse ATSS assignment (Zhang et al., CVPR 2020, Alg. 1) over the anchor grids of many images.

Per GT and level the ``topk`` anchors whose centres are nearest to the GT centre are candidates
(ties broken by anchor index).  They are found without scanning the level: a block of grid
positions next to the GT centre holds at least ``topk`` anchors, all within distance D of the
centre, so the ``topk`` nearest anchors lie in the square window |dx|, |dy| <= D.  Threshold:
mean + std (unbiased) of the candidates' IoUs over all levels, in float64; positive if
IoU >= threshold and the anchor centre is inside the GT by more than ``centre_eps``; an anchor
claimed by several GTs goes to the highest IoU (first GT among ties).
"""
from __future__ import annotations

import numpy as np

from ._windows import Chunk, Windows, best_per_key, boxes_at, expand, first_per_group, grid_windows, pair_iou
from .assigners import ATSSAssigner
from .config import AnchorConfig
from .grid import anchor_columns

__all__ = ["atss_chunk", "centre_distance"]


def centre_distance(gt: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Distance between the centres of corresponding boxes, in float32 (as mmdetection).

    Parameters
    ----------
    gt, boxes : ndarray[K, 4] of float32

    Returns
    -------
    ndarray[K] of float32
    """
    two = np.float32(2)
    dx = (gt[:, 0] + gt[:, 2]) / two - (boxes[:, 0] + boxes[:, 2]) / two
    dy = (gt[:, 1] + gt[:, 3]) / two - (boxes[:, 1] + boxes[:, 3]) / two
    return np.sqrt(dx * dx + dy * dy)


def _block_windows(w: Windows, k: int) -> tuple[np.ndarray, ...]:
    """Per window [R], a grid window holding the k anchors of the level nearest to the GT centre."""
    side = np.ceil(np.sqrt(k / w.per_loc)).astype(np.int64)
    bx = np.minimum(w.width, side)
    by = np.minimum(w.height, np.maximum(side, -(-k // (w.per_loc * bx))))
    bx = np.minimum(w.width, np.maximum(bx, -(-k // (w.per_loc * by))))
    fx, fy = w.fx, w.fy
    x0 = np.clip(np.rint(fx).astype(np.int64) - (bx - 1) // 2, 0, w.width - bx)
    y0 = np.clip(np.rint(fy).astype(np.int64) - (by - 1) // 2, 0, w.height - by)
    # the farthest block corner bounds the distance of the k nearest anchors
    dx = np.maximum(np.abs(x0 - fx), np.abs(x0 + bx - 1 - fx)) * w.spacing_x
    dy = np.maximum(np.abs(y0 - fy), np.abs(y0 + by - 1 - fy)) * w.spacing_y
    d = np.sqrt(dx * dx + dy * dy) * (1 + 1e-6) + 1e-3
    x_lo = np.maximum(np.ceil(fx - d / w.spacing_x), 0).astype(np.int64)
    x_hi = np.minimum(np.floor(fx + d / w.spacing_x), w.width - 1).astype(np.int64)
    y_lo = np.maximum(np.ceil(fy - d / w.spacing_y), 0).astype(np.int64)
    y_hi = np.minimum(np.floor(fy + d / w.spacing_y), w.height - 1).astype(np.int64)
    return x_lo, x_hi - x_lo + 1, y_lo, y_hi - y_lo + 1


def atss_chunk(config: AnchorConfig, ch: Chunk, asg: ATSSAssigner) -> tuple[np.ndarray, ...]:
    """ATSS on one chunk of images (the sparse counterpart of the dense definition in :mod:`.assigners`).

    Parameters
    ----------
    config : AnchorConfig
    ch : Chunk
        GTs and grids of a block of images (:mod:`._windows`).
    asg : ATSSAssigner

    Returns
    -------
    tuple of ndarray
        ``(keys [P], gt [P], iou [P], boxes [P, 4], level [P])`` of the positives and the keys of the ignored
        anchors (none for ATSS), as :func:`bbgen.anchors.maxiou.match_chunk` expects.
    """
    n_col, n_lvl = len(anchor_columns(config)[0]), len(ch.levels)
    w = grid_windows(config, ch, np.repeat(np.arange(len(ch.gt)), n_col), np.tile(np.arange(n_col), len(ch.gt)))
    rep, ix, iy = expand(*_block_windows(w, asg.topk))
    boxes, key = boxes_at(config, ch, w, rep, ix, iy)
    g, level = w.g[rep], w.level[rep]
    dist = centre_distance(ch.gt[g], boxes)
    group = g * n_lvl + level
    order = np.lexsort((key, dist, group))
    start = np.flatnonzero(first_per_group(group[order]))
    rank = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    cand = np.sort(order[rank < asg.topk])  # back to generation order: grouped by GT
    g, key, boxes, level = g[cand], key[cand], boxes[cand], level[cand]
    v = pair_iou(ch.gt[g], boxes)
    n = np.bincount(g, minlength=len(ch.gt)).astype(np.float64)
    v64 = v.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, v64, minlength=len(ch.gt)) / n
        std = np.sqrt(np.bincount(g, (v64 - mean[g]) ** 2, minlength=len(ch.gt)) / (n - 1))
    thr = mean + std
    two = np.float32(2)
    acx, acy = (boxes[:, 0] + boxes[:, 2]) / two, (boxes[:, 1] + boxes[:, 3]) / two
    gt = ch.gt[g]
    inside = np.minimum(np.minimum(acx - gt[:, 0], acy - gt[:, 1]),
                        np.minimum(gt[:, 2] - acx, gt[:, 3] - acy)) > np.float32(asg.centre_eps)
    pos = np.flatnonzero((v64 >= thr[g]) & inside)
    g, key, v, boxes, level = g[pos], key[pos], v[pos], boxes[pos], level[pos]
    first = best_per_key(key, v)
    return key[first], g[first], v[first], boxes[first], level[first], np.zeros(0, np.int64)
