"""Exact sparse anchor matching: the anchors a GT can label, enumerated from their regular grid.

Dense matching computes IoU between every GT and every anchor (~180 k anchors per image for
RetinaNet at 800x1216).  But an anchor of shape (w_a, h_a) reaches IoU >= t with a GT (w_g, h_g)
only if its centre offset satisfies |dx| <= (w_a + w_g)/2 - I_min / min(h_a, h_g) (and the same in y),
with I_min = t * max(max(A_a, A_g), (A_a + A_g)/(1 + t)) the smallest intersection that IoU >= t
allows (IoU = I / (A_a + A_g - I) and U >= max(A_a, A_g)).  Per level and shape the anchor centres form
a regular grid, so each GT's candidates are a small window of rows and columns, found in closed
form (with a conservative margin) and enumerated for all GTs of many images at once.

Exactness: IoU is evaluated with torchvision's arithmetic (float32, :func:`bbgen.boxes.iou_xyxy`),
and the window threshold of each GT is t_g = min(low, LB_g), where LB_g is the IoU of its best
anchor nearest to its centre (a lower bound of its best IoU).  So the window holds every anchor with
IoU >= low and every highest-IoU anchor of the GT (ties included): positives, ignored anchors and
``allow_low_quality_matches`` follow exactly; negatives are the rest.  Images where a GT overlaps
none of its nearest anchors (LB_g = 0, pathological configs) fall back to dense matching.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .anchors import AnchorConfig, LevelGeometry, anchor_columns, anchor_coords, grid_anchors, level_geometry
from .assigners import ATSSAssigner, MaxIoUAssigner, max_iou_matches
from .boxes import iou_xyxy

__all__ = ["MatchResult", "match_anchors", "pair_iou"]

_IMG_SHIFT = 34  # key = image << 34 | anchor index (anchors per image < 2**34)


@dataclass(frozen=True)
class MatchResult:
    """Labels of all anchors of N images; positives listed individually (P of them).

    positives, negatives, ignored, total : [N] int64 counts per image.
    pos_image, pos_anchor, pos_level, pos_gt : [P] int64 — image row, anchor index within the image
    (torchvision order), pyramid level, matched GT (row of the ``gt_boxes`` given).
    pos_iou : [P] float32 IoU with the matched GT.  pos_boxes : [P, 4] float32 anchor boxes.
    """

    positives: np.ndarray
    negatives: np.ndarray
    ignored: np.ndarray
    total: np.ndarray
    pos_image: np.ndarray
    pos_anchor: np.ndarray
    pos_level: np.ndarray
    pos_gt: np.ndarray
    pos_iou: np.ndarray
    pos_boxes: np.ndarray


def pair_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of corresponding rows [K, 4] x [K, 4] -> [K] float32 (torchvision's ``box_iou`` arithmetic)."""
    return iou_xyxy(*torch.from_numpy(boxes1).unbind(1), *torch.from_numpy(boxes2).unbind(1)).numpy()


@dataclass(frozen=True)
class _Chunk:
    """GTs (sorted by image) of a block of images, with the grids of those images."""

    gt: np.ndarray        # [G, 4] float32
    img: np.ndarray       # [G] local image index
    padded: np.ndarray    # [n, 2]
    levels: list[LevelGeometry]
    total: np.ndarray     # [n]
    gt_start: np.ndarray  # [n] first GT row of each image
    gt_count: np.ndarray  # [n]


def _expand(x_lo: np.ndarray, nx: np.ndarray, y_lo: np.ndarray, ny: np.ndarray):
    """Ragged expansion of windows [R] -> (window [C], ix [C], iy [C]), row-major per window."""
    counts = nx * ny
    rep = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
    nxr = nx[rep]
    return rep, x_lo[rep] + local % nxr, y_lo[rep] + local // nxr


@dataclass(frozen=True)
class _Windows:
    """Grid attributes gathered per (GT, column) and flattened to [G * T] (column = level/shape pair)."""

    n_col: int
    col: np.ndarray       # [T]
    width: np.ndarray     # [G*T] grid columns / rows of the GT's image at the column's level
    height: np.ndarray
    spacing_x: np.ndarray  # centre spacing / origin (float64)
    spacing_y: np.ndarray
    origin_x: np.ndarray
    origin_y: np.ndarray
    step_x: np.ndarray    # torchvision's integer strides
    step_y: np.ndarray
    base: np.ndarray      # image << 34 | (level offset + shape)
    per_loc: np.ndarray   # anchors per location of the level
    shape_w: np.ndarray   # anchor (width, height), float64
    shape_h: np.ndarray


def _windows(config: AnchorConfig, ch: _Chunk) -> _Windows:
    col_level, col_a, _ = anchor_columns(config)
    shapes = np.concatenate([g.shapes for g in ch.levels])  # [T, 2]
    per_loc = np.asarray([len(g.shapes) for g in ch.levels])

    def gather(name: str) -> np.ndarray:
        return np.stack([getattr(g, name) for g in ch.levels], 1)[ch.img][:, col_level].ravel()

    g_count = len(ch.gt)
    base = ((ch.img.astype(np.int64) << _IMG_SHIFT)[:, None]
            + np.stack([g.offset for g in ch.levels], 1)[ch.img][:, col_level] + col_a[None, :]).ravel()
    return _Windows(len(col_level), np.arange(len(col_level)), gather("width"), gather("height"),
                    gather("spacing_x"), gather("spacing_y"), gather("origin_x"), gather("origin_y"),
                    gather("step_x"), gather("step_y"), base, np.tile(per_loc[col_level], g_count),
                    np.tile(shapes[:, 0], g_count), np.tile(shapes[:, 1], g_count))


def _boxes_at(config: AnchorConfig, ch: _Chunk, w: _Windows, flat: np.ndarray, ix: np.ndarray,
              iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact anchor boxes [C, 4] and keys [C] (image << 34 | anchor index) at grid positions of windows ``flat``."""
    padded = ch.padded[ch.img[flat // w.n_col]] if config.kind == "ssd" else None
    boxes = anchor_coords(config, flat % w.n_col, ix, iy, w.step_x[flat], w.step_y[flat], padded)
    key = w.base[flat] + (iy * w.width[flat] + ix) * w.per_loc[flat]
    return boxes, key


def _centres(ch: _Chunk, w: _Windows) -> tuple[np.ndarray, np.ndarray]:
    """GT centres in grid units of every window [G*T] (float64)."""
    gt = ch.gt.astype(np.float64)
    cx = np.repeat((gt[:, 0] + gt[:, 2]) / 2, w.n_col)
    cy = np.repeat((gt[:, 1] + gt[:, 3]) / 2, w.n_col)
    return (cx - w.origin_x) / w.spacing_x, (cy - w.origin_y) / w.spacing_y


def _lower_bound(config: AnchorConfig, ch: _Chunk, w: _Windows, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """A lower bound [G] of each GT's best IoU: IoU of the anchors nearest to its centre, for the two
    anchor shapes closest to the GT's (any anchor's IoU is a valid bound; these are usually the best)."""
    g_count = len(ch.gt)
    wg = np.repeat(ch.gt[:, 2].astype(np.float64) - ch.gt[:, 0], w.n_col)
    hg = np.repeat(ch.gt[:, 3].astype(np.float64) - ch.gt[:, 1], w.n_col)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.abs(np.log(w.shape_w / wg)) + np.abs(np.log(w.shape_h / hg))
    score = np.nan_to_num(score, nan=np.inf).reshape(g_count, w.n_col)
    k = min(2, w.n_col)
    pick = (np.argpartition(score, k - 1, axis=1)[:, :k] + np.arange(g_count)[:, None] * w.n_col).ravel()
    ix = np.clip(np.rint(fx[pick]), 0, w.width[pick] - 1).astype(np.int64)
    iy = np.clip(np.rint(fy[pick]), 0, w.height[pick] - 1).astype(np.int64)
    boxes, _ = _boxes_at(config, ch, w, pick, ix, iy)
    return pair_iou(ch.gt[pick // w.n_col], boxes).reshape(g_count, k).max(1)


def _iou_windows(ch: _Chunk, w: _Windows, t: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> tuple[np.ndarray, ...]:
    """Windows [G*T] (x_lo, nx, y_lo, ny) holding every anchor with IoU >= t[g] (conservative)."""
    gt = ch.gt.astype(np.float64)
    wg = np.repeat(gt[:, 2] - gt[:, 0], w.n_col)
    hg = np.repeat(gt[:, 3] - gt[:, 1], w.n_col)
    wa, ha = w.shape_w, w.shape_h
    tm = np.repeat(t.astype(np.float64) * (1 - 1e-5), w.n_col)  # float32 IoU rounding margin
    area_a, area_g = wa * ha, wg * hg
    i_min = tm * np.maximum(np.maximum(area_a, area_g), (area_a + area_g) / (1 + tm))
    rx = ((wa + wg) / 2 - i_min / np.minimum(ha, hg)) / w.spacing_x
    ry = ((ha + hg) / 2 - i_min / np.minimum(wa, wg)) / w.spacing_y
    ok = (rx >= 0) & (ry >= 0) & (i_min <= np.minimum(wa, wg) * np.minimum(ha, hg) * (1 + 1e-6))
    eps = 1e-3  # grid cells; covers float32 anchor centres and widths
    x_lo = np.maximum(np.ceil(fx - rx - eps), 0)
    x_hi = np.minimum(np.floor(fx + rx + eps), w.width - 1)
    y_lo = np.maximum(np.ceil(fy - ry - eps), 0)
    y_hi = np.minimum(np.floor(fy + ry + eps), w.height - 1)
    nx = np.where(ok, np.maximum(x_hi - x_lo + 1, 0), 0).astype(np.int64)
    ny = np.where(ok, np.maximum(y_hi - y_lo + 1, 0), 0).astype(np.int64)
    return x_lo.astype(np.int64), nx, y_lo.astype(np.int64), ny


def _first_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal sorted keys."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)


def _best_per_key(key: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row of the highest ``v`` for each distinct ``key``, first row among ties, sorted by key.

    Rows must come in GT order, so "first row" is ``Tensor.max``'s first GT among ties."""
    order = np.argsort(key, kind="stable")
    ks, vs = key[order], v[order]
    first = _first_per_group(ks)
    grp = np.cumsum(first) - 1
    best = np.maximum.reduceat(vs, np.flatnonzero(first)) if len(vs) else vs
    cand = np.flatnonzero(vs == best[grp])
    return order[cand[_first_per_group(grp[cand])]]


def _argmax_over_image_gts(ch: _Chunk, key: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best GT (first among ties, as ``Tensor.max``) and its IoU for anchors [Q], over all GTs of their image."""
    img = (key >> _IMG_SHIFT).astype(np.int64)
    cnt = ch.gt_count[img]
    rep = np.repeat(np.arange(len(key)), cnt)
    gidx = ch.gt_start[img][rep] + np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    v = pair_iou(ch.gt[gidx], boxes[rep])
    best = _best_per_key(rep, v)
    return gidx[best], v[best]


def _maxiou_chunk(config: AnchorConfig, ch: _Chunk, asg: MaxIoUAssigner):
    """Sparse torchvision ``Matcher`` on one chunk -> (keys, gt, iou, boxes of positives, keys of ignored)."""
    w = _windows(config, ch)
    fx, fy = _centres(ch, w)
    low, high = np.float32(asg.low), np.float32(asg.high)
    need_best = asg.allow_low_quality or asg.ssd_rule
    if need_best:
        lb = _lower_bound(config, ch, w, fx, fy)
        t = np.minimum(low, lb)
        dense_imgs = np.unique(ch.img[~(lb > 0)])
    else:
        t, dense_imgs = np.full(len(ch.gt), low), np.zeros(0, np.int64)
    x_lo, nx, y_lo, ny = _iou_windows(ch, w, t, fx, fy)
    if len(dense_imgs):
        nx[np.repeat(np.isin(ch.img, dense_imgs), w.n_col)] = 0
    flat, ix, iy = _expand(x_lo, nx, y_lo, ny)
    boxes, key = _boxes_at(config, ch, w, flat, ix, iy)
    g = flat // w.n_col
    v = pair_iou(ch.gt[g], boxes)
    keep = np.flatnonzero(v >= t[g])
    g, key, v, boxes = g[keep], key[keep], v[keep], boxes[keep]

    first = _best_per_key(key, v)  # per anchor: max over GTs (Matcher's max(dim=0))
    a_key, a_v, a_g, a_box = key[first], v[first], g[first], boxes[first]
    pos = a_v >= high
    ign = (a_v >= low) & ~pos
    match, match_v = a_g.copy(), a_v.copy()
    if len(g) and need_best:
        starts = np.flatnonzero(_first_per_group(g))
        highest = np.full(len(ch.gt), np.inf, np.float32)
        highest[g[starts]] = np.maximum.reduceat(v, starts)
        best_rows = np.flatnonzero(v == highest[g])
        if asg.allow_low_quality:  # every highest-IoU anchor of every GT (ties) -> its best GT overall
            tie = np.zeros(len(a_key), bool)
            tie[np.searchsorted(a_key, key[best_rows])] = True
            pos |= tie & (a_v >= low)  # there the enumerated max is the true max
            redo = np.flatnonzero(tie & (a_v < low))
            if len(redo):
                match[redo], match_v[redo] = _argmax_over_image_gts(ch, a_key[redo], a_box[redo])
                pos[redo] = True
        if asg.ssd_rule:  # each GT's first best anchor is forced to it; later GTs overwrite earlier ones
            bo = best_rows[np.lexsort((key[best_rows], g[best_rows]))]
            bo = bo[_first_per_group(g[bo])]
            bo = bo[np.lexsort((g[bo], key[bo]))]
            bo = bo[np.r_[key[bo][1:] != key[bo][:-1], True]]
            where = np.searchsorted(a_key, key[bo])
            match[where], match_v[where], pos[where] = g[bo], v[bo], True
        ign &= ~pos
    out = (a_key[pos], match[pos], match_v[pos], a_box[pos], a_key[ign])
    if len(dense_imgs):
        out = tuple(np.concatenate([x, y]) for x, y in zip(out, _dense_chunk(config, ch, asg, dense_imgs)))
    return out


def _dense_chunk(config: AnchorConfig, ch: _Chunk, asg: MaxIoUAssigner, images: np.ndarray):
    """Dense fallback (torchvision semantics) for the given local images."""
    parts = []
    for i in images.tolist():
        anchors = grid_anchors(config, tuple(ch.padded[i].tolist()))
        gt = torch.from_numpy(ch.gt[ch.gt_start[i]:ch.gt_start[i] + ch.gt_count[i]])
        iou = iou_xyxy(*gt.T[:, :, None], *anchors.T[:, None, :])
        m = max_iou_matches(iou, asg)
        p, q = torch.where(m >= 0)[0], torch.where(m == -2)[0]
        key = (np.int64(i) << _IMG_SHIFT) + p.numpy()
        parts.append((key, ch.gt_start[i] + m[p].numpy(), iou[m[p], p].numpy(), anchors[p].numpy(),
                      (np.int64(i) << _IMG_SHIFT) + q.numpy()))
    return tuple(np.concatenate(x) for x in zip(*parts))


def match_anchors(gt_boxes: np.ndarray, gt_image: np.ndarray, padded: np.ndarray, config: AnchorConfig,
                  assigner: MaxIoUAssigner | ATSSAssigner, *, chunk_boxes: int = 20000,
                  progress: Callable[[int], object] | None = None) -> MatchResult:
    """Label the anchors of N padded images [N, 2] against GTs [M, 4] (detector frame) of image rows [M].

    Results equal dense torchvision matching (``box_iou`` + ``Matcher``) for max-IoU, and the
    dense ATSS definition of :mod:`bbgen.assigners` for ATSS.  GTs are processed in chunks of about
    ``chunk_boxes``; ``progress(n_images)`` is called after each chunk.
    """
    from .atss import atss_chunk  # ATSS shares this module's grid helpers

    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    gt_image = np.asarray(gt_image, np.int64).reshape(-1)
    padded = np.asarray(padded, np.int64).reshape(-1, 2)
    n = len(padded)
    if len(gt_image) != len(gt_boxes) or (len(gt_image) and (gt_image.min() < 0 or gt_image.max() >= n)):
        raise ValueError(f"gt_image must hold one image row in [0, {n}) per GT box")
    order = np.argsort(gt_image, kind="stable")
    counts = np.bincount(gt_image, minlength=n)
    starts = np.cumsum(counts) - counts
    bounds = np.unique(np.r_[np.searchsorted(np.cumsum(counts), np.arange(chunk_boxes, len(order), chunk_boxes)),
                             np.arange(0, n, 20000), n, 0])
    pieces, pos_n, ign_n, total = [], np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i0, i1 in zip(bounds[:-1], bounds[1:]):
        rows = order[starts[i0]:starts[i0] + counts[i0:i1].sum()]
        levels, tot = level_geometry(padded[i0:i1], config)
        total[i0:i1] = tot
        ch = _Chunk(gt_boxes[rows], gt_image[rows] - i0, padded[i0:i1], levels, tot,
                    starts[i0:i1] - starts[i0], counts[i0:i1])
        if len(rows):
            run = atss_chunk if isinstance(assigner, ATSSAssigner) else _maxiou_chunk
            key, g, v, boxes, ign_key = run(config, ch, assigner)
            img = (key >> _IMG_SHIFT) + i0
            pos_n += np.bincount(img, minlength=n)
            ign_n += np.bincount((ign_key >> _IMG_SHIFT) + i0, minlength=n)
            pieces.append((img, key & ((1 << _IMG_SHIFT) - 1), rows[g], v, boxes))
        if progress is not None:
            progress(int(i1 - i0))
    img, anc, gt, v, boxes = (np.concatenate(x) for x in zip(*pieces)) if pieces else (
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
        np.zeros((0, 4), np.float32))
    o = np.lexsort((anc, img)) if len(img) > 1 and np.any(np.diff(img) < 0) else np.arange(len(img))
    level = _level_of(config, padded, img[o], anc[o])
    return MatchResult(pos_n, total - pos_n - ign_n, ign_n, total, img[o], anc[o], level, gt[o], v[o], boxes[o])


def _level_of(config: AnchorConfig, padded: np.ndarray, img: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Pyramid level of anchors given by (image row, index within image)."""
    if not len(img):
        return np.zeros(0, np.int64)
    uniq, inv = np.unique(img, return_inverse=True)
    levels, _ = level_geometry(padded[uniq], config)
    offsets = np.stack([g.offset for g in levels], 1)[inv]  # [P, L]
    return (anchor[:, None] >= offsets).sum(1) - 1
