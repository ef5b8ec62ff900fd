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

from .anchors import AnchorConfig, LevelGeometry, anchor_coords, grid_anchors, level_geometry
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
    a, b = torch.from_numpy(np.ascontiguousarray(boxes1.T)), torch.from_numpy(np.ascontiguousarray(boxes2.T))
    return iou_xyxy(*a, *b).numpy()


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
    """Ragged expansion of windows [R] -> (window row [C], ix [C], iy [C]), row-major per window."""
    counts = nx * ny
    rep = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
    nxr = nx[rep]
    return rep, x_lo[rep] + local % nxr, y_lo[rep] + local // nxr


def _columns(config: AnchorConfig, levels: list[LevelGeometry]) -> tuple[np.ndarray, np.ndarray]:
    """(level, shape) of every anchor-shape column across levels [T]."""
    lv = np.concatenate([np.full(len(g.shapes), i) for i, g in enumerate(levels)])
    a = np.concatenate([np.arange(len(g.shapes)) for g in levels])
    return lv, a


def _grid_table(levels: list[LevelGeometry], name: str, img: np.ndarray, col_level: np.ndarray) -> np.ndarray:
    """Per-image grid attribute gathered to [G, T] (one column per level/shape)."""
    tab = np.stack([getattr(g, name) for g in levels], 1)  # [n, L]
    return tab[img][:, col_level]


def _boxes_at(config: AnchorConfig, ch: _Chunk, img: np.ndarray, level: np.ndarray, a: np.ndarray,
              ix: np.ndarray, iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact anchor boxes [C, 4] and keys [C] (image << 34 | anchor index) of grid positions."""
    step_x = np.stack([g.step_x for g in ch.levels], 1)[img, level]
    step_y = np.stack([g.step_y for g in ch.levels], 1)[img, level]
    boxes = anchor_coords(config, level, a, ix, iy, step_x, step_y, ch.padded[img])
    width = np.stack([g.width for g in ch.levels], 1)[img, level]
    offset = np.stack([g.offset for g in ch.levels], 1)[img, level]
    per_loc = np.asarray([len(g.shapes) for g in ch.levels])[level]
    key = (img.astype(np.int64) << _IMG_SHIFT) + offset + (iy * width + ix) * per_loc + a
    return boxes, key


def _nearest(config: AnchorConfig, ch: _Chunk) -> tuple[np.ndarray, ...]:
    """Grid position nearest to each GT centre, per column: (ix0, iy0) [G, T] and their IoU [G, T]."""
    col_level, col_a = _columns(config, ch.levels)
    cx = (ch.gt[:, 0].astype(np.float64) + ch.gt[:, 2]) / 2
    cy = (ch.gt[:, 1].astype(np.float64) + ch.gt[:, 3]) / 2
    tab = {k: _grid_table(ch.levels, k, ch.img, col_level)
           for k in ("width", "height", "spacing_x", "spacing_y", "origin_x", "origin_y")}
    ix0 = np.clip(np.rint((cx[:, None] - tab["origin_x"]) / tab["spacing_x"]), 0, tab["width"] - 1).astype(np.int64)
    iy0 = np.clip(np.rint((cy[:, None] - tab["origin_y"]) / tab["spacing_y"]), 0, tab["height"] - 1).astype(np.int64)
    g, t = np.indices(ix0.shape)
    boxes, _ = _boxes_at(config, ch, ch.img[g.ravel()], col_level[t.ravel()], col_a[t.ravel()],
                         ix0.ravel(), iy0.ravel())
    iou = pair_iou(ch.gt[g.ravel()], boxes).reshape(ix0.shape)
    return ix0, iou, tab


def _iou_windows(config: AnchorConfig, ch: _Chunk, t: np.ndarray, tab: dict) -> tuple[np.ndarray, ...]:
    """Windows [G, T] (x_lo, nx, y_lo, ny) holding every anchor with IoU >= t[g] (conservative)."""
    col_level, col_a = _columns(config, ch.levels)
    shapes = np.concatenate([g.shapes for g in ch.levels])  # [T, 2]
    wa, ha = shapes[None, :, 0], shapes[None, :, 1]
    gt = ch.gt.astype(np.float64)
    wg, hg = (gt[:, 2] - gt[:, 0])[:, None], (gt[:, 3] - gt[:, 1])[:, None]
    cx, cy = ((gt[:, 0] + gt[:, 2]) / 2)[:, None], ((gt[:, 1] + gt[:, 3]) / 2)[:, None]
    tm = (t.astype(np.float64) * (1 - 1e-5))[:, None]  # float32 IoU rounding margin
    area_a, area_g = wa * ha, wg * hg
    i_min = tm * np.maximum(np.maximum(area_a, area_g), (area_a + area_g) / (1 + tm))
    rx = (wa + wg) / 2 - i_min / np.minimum(ha, hg)
    ry = (ha + hg) / 2 - i_min / np.minimum(wa, wg)
    ok = (rx >= 0) & (ry >= 0) & (i_min <= np.minimum(wa, wg) * np.minimum(ha, hg) * (1 + 1e-6))
    eps = 1e-3  # grid cells; covers float32 anchor centres and widths
    x_lo = np.maximum(np.ceil((cx - rx - tab["origin_x"]) / tab["spacing_x"] - eps), 0)
    x_hi = np.minimum(np.floor((cx + rx - tab["origin_x"]) / tab["spacing_x"] + eps), tab["width"] - 1)
    y_lo = np.maximum(np.ceil((cy - ry - tab["origin_y"]) / tab["spacing_y"] - eps), 0)
    y_hi = np.minimum(np.floor((cy + ry - tab["origin_y"]) / tab["spacing_y"] + eps), tab["height"] - 1)
    nx = np.where(ok, np.maximum(x_hi - x_lo + 1, 0), 0).astype(np.int64)
    ny = np.where(ok, np.maximum(y_hi - y_lo + 1, 0), 0).astype(np.int64)
    return x_lo.astype(np.int64), nx, y_lo.astype(np.int64), ny


def _first_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal sorted keys."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)


def _argmax_over_image_gts(ch: _Chunk, key: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best GT (first among ties, as ``Tensor.max``) and its IoU for anchors [Q], over all GTs of their image."""
    img = (key >> _IMG_SHIFT).astype(np.int64)
    cnt = ch.gt_count[img]
    rep = np.repeat(np.arange(len(key)), cnt)
    gidx = ch.gt_start[img][rep] + np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    v = pair_iou(ch.gt[gidx], boxes[rep])
    order = np.lexsort((gidx, -v, rep))
    first = order[_first_per_group(rep[order])]
    return gidx[first], v[first]


def _maxiou_chunk(config: AnchorConfig, ch: _Chunk, asg: MaxIoUAssigner):
    """Sparse torchvision ``Matcher`` on one chunk -> (keys, gt, iou, boxes of positives, keys of ignored)."""
    col_level, col_a = _columns(config, ch.levels)
    _, near_iou, tab = _nearest(config, ch)
    lb = near_iou.max(1) if near_iou.size else np.zeros(len(ch.gt), np.float32)
    low, high = np.float32(asg.low), np.float32(asg.high)
    need_best = asg.allow_low_quality or asg.ssd_rule
    t = np.minimum(low, lb) if need_best else np.full(len(ch.gt), low)
    dense_imgs = np.unique(ch.img[~(lb > 0)]) if need_best else np.zeros(0, np.int64)
    sparse_gt = ~np.isin(ch.img, dense_imgs)
    x_lo, nx, y_lo, ny = _iou_windows(config, ch, t, tab)
    nx[~sparse_gt] = 0
    n_col = len(col_level)
    rep, ix, iy = _expand(x_lo.ravel(), nx.ravel(), y_lo.ravel(), ny.ravel())
    g, col = rep // n_col, rep % n_col
    boxes, key = _boxes_at(config, ch, ch.img[g], col_level[col], col_a[col], ix, iy)
    v = pair_iou(ch.gt[g], boxes)
    keep = v >= t[g]
    g, key, v, boxes = g[keep], key[keep], v[keep], boxes[keep]

    # per anchor: max over GTs, first GT among ties (Tensor.max(dim=0))
    order = np.lexsort((g, -v, key))
    first = order[_first_per_group(key[order])]
    a_key, a_v, a_g, a_box = key[first], v[first], g[first], boxes[first]
    pos = a_v >= high
    ign = (a_v >= low) & ~pos
    match, match_v = a_g.copy(), a_v.copy()
    if len(g):
        highest = np.full(len(ch.gt), -np.inf, np.float32)
        np.maximum.at(highest, g, v)
        best_rows = np.flatnonzero(v == highest[g])
        if asg.allow_low_quality:  # every highest-IoU anchor of every GT (ties) -> its best GT overall
            tie = np.isin(a_key, key[best_rows])
            exact = tie & (a_v >= low)  # enumerated max is the true max here
            pos |= exact
            redo = np.flatnonzero(tie & (a_v < low))
            if len(redo):
                match[redo], match_v[redo] = _argmax_over_image_gts(ch, a_key[redo], a_box[redo])
                pos[redo] = True
            ign &= ~pos
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
    o = np.lexsort((anc, img))
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
