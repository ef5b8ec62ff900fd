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

from .anchors import AnchorConfig
from .assigners import ATSSAssigner
from .matching import _Chunk, _boxes_at, _columns, _expand, _first_per_group, _grid_table, pair_iou

__all__ = ["atss_chunk", "centre_distance"]


def centre_distance(gt: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Distance [K] between the centres of corresponding boxes [K, 4], float32 (as mmdetection)."""
    two = np.float32(2)
    dx = (gt[:, 0] + gt[:, 2]) / two - (boxes[:, 0] + boxes[:, 2]) / two
    dy = (gt[:, 1] + gt[:, 3]) / two - (boxes[:, 1] + boxes[:, 3]) / two
    return np.sqrt(dx * dx + dy * dy)


def _block_windows(ch: _Chunk, k: int, col_level: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per GT and column, a grid window [G, T] that contains the k anchors nearest to the GT centre."""
    tab = {n: _grid_table(ch.levels, n, ch.img, col_level)
           for n in ("width", "height", "spacing_x", "spacing_y", "origin_x", "origin_y")}
    per_loc = np.asarray([len(g.shapes) for g in ch.levels])[col_level][None, :]
    w, h = tab["width"], tab["height"]
    side = np.ceil(np.sqrt(k / per_loc)).astype(np.int64)
    bx = np.minimum(w, side)
    by = np.minimum(h, np.maximum(side, -(-k // (per_loc * bx))))
    bx = np.minimum(w, np.maximum(bx, -(-k // (per_loc * by))))
    gt = ch.gt.astype(np.float64)
    cx, cy = ((gt[:, 0] + gt[:, 2]) / 2)[:, None], ((gt[:, 1] + gt[:, 3]) / 2)[:, None]
    fx, fy = (cx - tab["origin_x"]) / tab["spacing_x"], (cy - tab["origin_y"]) / tab["spacing_y"]
    x0 = np.clip(np.rint(fx).astype(np.int64) - (bx - 1) // 2, 0, w - bx)
    y0 = np.clip(np.rint(fy).astype(np.int64) - (by - 1) // 2, 0, h - by)
    # farthest block corner from the centre bounds the distance of the k nearest anchors
    dx = np.maximum(np.abs(x0 - fx), np.abs(x0 + bx - 1 - fx)) * tab["spacing_x"]
    dy = np.maximum(np.abs(y0 - fy), np.abs(y0 + by - 1 - fy)) * tab["spacing_y"]
    d = np.sqrt(dx * dx + dy * dy) * (1 + 1e-6) + 1e-3
    x_lo = np.maximum(np.ceil(fx - d / tab["spacing_x"]), 0).astype(np.int64)
    x_hi = np.minimum(np.floor(fx + d / tab["spacing_x"]), w - 1).astype(np.int64)
    y_lo = np.maximum(np.ceil(fy - d / tab["spacing_y"]), 0).astype(np.int64)
    y_hi = np.minimum(np.floor(fy + d / tab["spacing_y"]), h - 1).astype(np.int64)
    return x_lo, x_hi - x_lo + 1, y_lo, y_hi - y_lo + 1


def atss_chunk(config: AnchorConfig, ch: _Chunk, asg: ATSSAssigner):
    """ATSS on one chunk -> (keys, gt, iou, boxes of positives, keys of ignored (none))."""
    col_level, col_a = _columns(config, ch.levels)
    n_col, n_lvl = len(col_level), len(ch.levels)
    x_lo, nx, y_lo, ny = _block_windows(ch, asg.topk, col_level)
    rep, ix, iy = _expand(x_lo.ravel(), nx.ravel(), y_lo.ravel(), ny.ravel())
    g, col = rep // n_col, rep % n_col
    level = col_level[col]
    boxes, key = _boxes_at(config, ch, ch.img[g], level, col_a[col], ix, iy)
    dist = centre_distance(ch.gt[g], boxes)
    group = g * n_lvl + level
    order = np.lexsort((key, dist, group))
    start = np.flatnonzero(_first_per_group(group[order]))
    rank = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    cand = order[rank < asg.topk]
    cand = np.sort(cand)  # back to generation order: grouped by GT (g-major)
    g, key, boxes = g[cand], key[cand], boxes[cand]
    v = pair_iou(ch.gt[g], boxes)
    n = np.bincount(g, minlength=len(ch.gt)).astype(np.float64)
    v64 = v.astype(np.float64)
    mean = np.bincount(g, v64, minlength=len(ch.gt)) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(np.bincount(g, (v64 - mean[g]) ** 2, minlength=len(ch.gt)) / (n - 1))
    thr = mean + std
    two = np.float32(2)
    acx, acy = (boxes[:, 0] + boxes[:, 2]) / two, (boxes[:, 1] + boxes[:, 3]) / two
    gt = ch.gt[g]
    inside = np.minimum(np.minimum(acx - gt[:, 0], acy - gt[:, 1]),
                        np.minimum(gt[:, 2] - acx, gt[:, 3] - acy)) > np.float32(asg.centre_eps)
    pos = (v64 >= thr[g]) & inside
    g, key, v, boxes = g[pos], key[pos], v[pos], boxes[pos]
    order = np.lexsort((g, -v, key))
    first = order[_first_per_group(key[order])]
    return key[first], g[first], v[first], boxes[first], np.zeros(0, np.int64)
