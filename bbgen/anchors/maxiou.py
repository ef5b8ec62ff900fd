"""Exact sparse anchor matching: the anchors a GT can label, enumerated from their regular grid.

Dense matching computes IoU between every GT and every anchor (~180 k anchors per image for
RetinaNet at 800x1216).  But an anchor of shape (w_a, h_a) reaches IoU >= t with a GT (w_g, h_g)
only if its centre offset satisfies |dx| <= (w_a + w_g)/2 - I_min / min(h_a, h_g) (and the same in y),
with I_min = t * max(max(A_a, A_g), (A_a + A_g)/(1 + t)) the smallest intersection that IoU >= t
allows (IoU = I / (A_a + A_g - I) and U >= max(A_a, A_g)).  Per level and shape the anchor centres form
a regular grid, so each GT's candidates are a small window of rows and columns, found in closed
form (with a conservative margin) and enumerated for all GTs of many images at once.

Exactness: IoU is evaluated with torchvision's arithmetic (float32, :func:`bbgen.boxes.iou_xyxy`),
and the window threshold of each GT is t_g = min(low, LB_g), where LB_g is the IoU of the anchors
nearest to its centre for the two best-fitting shapes (a lower bound of its best IoU).  So the windows
hold every anchor with IoU >= low and every highest-IoU anchor of the GT (ties included): positives,
ignored anchors and ``allow_low_quality_matches`` follow exactly; negatives are the rest.  Anchors whose
low-quality match must be re-resolved (best IoU < low) are compared with all GTs of their image.
Images where a GT overlaps none of those nearest anchors (LB_g = 0: GTs outside the image, exotic
configs) fall back to dense matching.  The grid machinery shared with ATSS lives in :mod:`._windows`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import numpy as np
import torch

from .. import _validate
from ..boxes import iou_xyxy
from ._windows import (IMG_SHIFT, Chunk, best_per_key, boxes_at, expand, first_per_group, iou_windows, lower_bound,
                       pair_iou, ragged)
from .assigners import ATSSAssigner, MaxIoUAssigner, max_iou_matches
from .atss import atss_chunk
from .config import AnchorConfig
from .grid import grid_anchors, level_geometry

__all__ = ["MatchResult", "chunk_plan", "match_anchors", "match_chunk"]



@dataclass(frozen=True)
class MatchResult:
    """Labels of all anchors of N images; positives listed individually (P of them).

    Attributes
    ----------
    positives, negatives, ignored, total : ndarray[N] of int64
        Counts per image.
    pos_image : ndarray[P] of int64
        Image row of each positive.
    pos_anchor : ndarray[P] of int64
        Anchor index within the image (torchvision order).
    pos_level : ndarray[P] of int64
        Pyramid level.
    pos_gt : ndarray[P] of int64
        Matched GT (row of the ``gt_boxes`` given).
    pos_iou : ndarray[P] of float32
        IoU with the matched GT.
    pos_boxes : ndarray[P, 4] of float32
        Anchor boxes.
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


def _argmax_over_image_gts(ch: Chunk, key: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best GT (first among ties, as ``Tensor.max``) and its IoU for anchors [Q], over all GTs of their image."""
    img = (key >> IMG_SHIFT).astype(np.int64)
    rep, local = ragged(ch.gt_count[img])
    gidx = ch.gt_start[img][rep] + local
    v = pair_iou(ch.gt[gidx], boxes[rep])
    best = best_per_key(rep, v)
    return gidx[best], v[best]


def _maxiou_chunk(config: AnchorConfig, ch: Chunk, asg: MaxIoUAssigner):
    """Sparse torchvision ``Matcher`` on one chunk -> (keys, gt, iou, boxes, level of positives, keys of ignored)."""
    low, high = np.float32(asg.low), np.float32(asg.high)
    need_best = asg.allow_low_quality or asg.ssd_rule
    if need_best:
        lb = lower_bound(config, ch)
        t = np.minimum(low, lb)
        dense_imgs = np.unique(ch.img[~(lb > 0)])
        t[np.isin(ch.img, dense_imgs)] = np.inf  # no sparse candidates there
    else:
        t, dense_imgs = np.full(len(ch.gt), low), np.zeros(0, np.int64)
    w, windows = iou_windows(config, ch, t)
    rep, ix, iy = expand(*windows)
    boxes, key = boxes_at(config, ch, w, rep, ix, iy)
    g = w.g[rep]
    v = pair_iou(ch.gt[g], boxes)
    keep = np.flatnonzero(v >= t[g])
    g, key, v = g[keep], key[keep], v[keep]

    first = best_per_key(key, v)  # per anchor: max over GTs (Matcher's max(dim=0))
    a_key, a_v, a_g, a_row = key[first], v[first], g[first], keep[first]  # a_row: candidate row
    pos = a_v >= high
    ign = (a_v >= low) & ~pos
    match, match_v = a_g.copy(), a_v.copy()
    if len(g) and need_best:
        starts = np.flatnonzero(first_per_group(g))
        highest = np.full(len(ch.gt), np.inf, np.float32)
        highest[g[starts]] = np.maximum.reduceat(v, starts)
        best_rows = np.flatnonzero(v == highest[g])
        if asg.allow_low_quality:  # every highest-IoU anchor of every GT (ties) -> its best GT overall
            tie = np.zeros(len(a_key), bool)
            tie[np.searchsorted(a_key, key[best_rows])] = True
            pos |= tie & (a_v >= low)  # there the enumerated max is the true max
            redo = np.flatnonzero(tie & (a_v < low))
            if len(redo):
                match[redo], match_v[redo] = _argmax_over_image_gts(ch, a_key[redo], boxes[a_row[redo]])
                pos[redo] = True
        if asg.ssd_rule:  # each GT's first best anchor is forced to it; later GTs overwrite earlier ones
            bo = best_rows[np.lexsort((key[best_rows], g[best_rows]))]
            bo = bo[first_per_group(g[bo])]
            bo = bo[np.lexsort((g[bo], key[bo]))]
            bo = bo[np.r_[key[bo][1:] != key[bo][:-1], True]]
            where = np.searchsorted(a_key, key[bo])
            match[where], match_v[where], pos[where] = g[bo], v[bo], True
        ign &= ~pos
    rows = a_row[pos]
    out = (a_key[pos], match[pos], match_v[pos], boxes[rows], w.level[rep[rows]], a_key[ign])
    if len(dense_imgs):
        out = tuple(np.concatenate([x, y]) for x, y in zip(out, _dense_chunk(config, ch, asg, dense_imgs)))
    return out


def _dense_chunk(config: AnchorConfig, ch: Chunk, asg: MaxIoUAssigner, images: np.ndarray):
    """Dense fallback (torchvision semantics) for the given local images."""
    parts = []
    for i in images.tolist():
        anchors = grid_anchors(config, tuple(ch.padded[i].tolist()))
        gt = torch.from_numpy(ch.gt[ch.gt_start[i]:ch.gt_start[i] + ch.gt_count[i]])
        iou = iou_xyxy(*gt.T[:, :, None], *anchors.T[:, None, :])
        m = max_iou_matches(iou, asg)
        p, q = torch.where(m >= 0)[0], torch.where(m == -2)[0]
        level = np.searchsorted(ch.table("offset")[i], p.numpy(), side="right") - 1
        parts.append(((np.int64(i) << IMG_SHIFT) + p.numpy(), ch.gt_start[i] + m[p].numpy(), iou[m[p], p].numpy(),
                      anchors[p].numpy(), level, (np.int64(i) << IMG_SHIFT) + q.numpy()))
    return tuple(np.concatenate(x) for x in zip(*parts))


def _check_inputs(gt_boxes, gt_image, padded, chunk_boxes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    gt_image = np.asarray(gt_image, np.int64).reshape(-1)
    padded = np.asarray(padded, np.int64).reshape(-1, 2)
    n = len(padded)
    if len(gt_image) != len(gt_boxes) or (len(gt_image) and (gt_image.min() < 0 or gt_image.max() >= n)):
        raise ValueError(f"gt_image must hold one image row in [0, {n}) per GT box")
    if not np.isfinite(gt_boxes).all():
        raise ValueError(f"gt_boxes must be finite, row {int(np.flatnonzero(~np.isfinite(gt_boxes).all(1))[0])} "
                         "is not")
    _validate.positive_int(chunk_boxes, "chunk_boxes")
    return gt_boxes, gt_image, padded


def chunk_plan(gt_image: np.ndarray, num_images: int, chunk_boxes: int = 20000) -> list[tuple[int, int, np.ndarray]]:
    """Blocks of consecutive images with about ``chunk_boxes`` GTs each.

    Parameters
    ----------
    gt_image : ndarray[M] of int
        Image row of each GT.
    num_images : int
    chunk_boxes : int, default 20000
        Target GTs per block (blocks also never exceed 20000 images).

    Returns
    -------
    list of (int, int, ndarray)
        ``(i0, i1, rows)``: images ``i0 .. i1-1`` and the GT rows of those images, sorted by image.
    """
    num_images = _validate.count(num_images, "num_images")
    chunk_boxes = _validate.positive_int(chunk_boxes, "chunk_boxes")  # 0 divided by zero
    gt_image = np.asarray(gt_image, np.int64).reshape(-1)
    if gt_image.size and (gt_image.min() < 0 or gt_image.max() >= num_images):  # such GTs were silently dropped
        raise ValueError(f"gt_image must hold image rows in [0, num_images = {num_images}), got "
                         f"{int(gt_image[(gt_image < 0) | (gt_image >= num_images)][0])}")
    order = np.argsort(gt_image, kind="stable")
    counts = np.bincount(gt_image, minlength=num_images)
    ends = np.cumsum(counts)
    bounds = np.unique(np.r_[np.searchsorted(ends, np.arange(chunk_boxes, len(order), chunk_boxes)),
                             np.arange(0, num_images, 20000), num_images, 0])
    return [(int(i0), int(i1), order[ends[i0] - counts[i0]:ends[i1 - 1]]) for i0, i1 in zip(bounds[:-1], bounds[1:])]


def match_chunk(gt_boxes: np.ndarray, gt_image: np.ndarray, padded: np.ndarray, config: AnchorConfig,
                assigner: MaxIoUAssigner | ATSSAssigner, i0: int, i1: int, rows: np.ndarray) -> MatchResult:
    """Match one block of images of :func:`chunk_plan`.

    Parameters
    ----------
    gt_boxes : ndarray[M, 4] of float32
        GT boxes in the detector frame.
    gt_image : ndarray[M] of int64
        Image row of each GT.
    padded : ndarray[N, 2] of int64
        Padded image sizes.
    config : AnchorConfig
    assigner : MaxIoUAssigner or ATSSAssigner
    i0, i1 : int
        The images ``i0 .. i1-1`` of the block.
    rows : ndarray of int64
        Their GT rows, sorted by image.

    Returns
    -------
    MatchResult
        Counts for the ``i1 - i0`` images; positives with global image and GT indices.
    """
    counts = np.bincount(gt_image[rows] - i0, minlength=i1 - i0)
    levels, total = level_geometry(padded[i0:i1], config)
    ch = Chunk(gt_boxes[rows], gt_image[rows] - i0, padded[i0:i1], levels, total, np.cumsum(counts) - counts,
                counts)
    if not len(rows):
        z = np.zeros(i1 - i0, np.int64)
        e = np.zeros(0, np.int64)
        return MatchResult(z, total, z, total, e, e, e, e, np.zeros(0, np.float32), np.zeros((0, 4), np.float32))
    run = atss_chunk if isinstance(assigner, ATSSAssigner) else _maxiou_chunk
    key, g, v, boxes, level, ign_key = run(config, ch, assigner)
    img = key >> IMG_SHIFT
    if len(img) > 1 and np.any(np.diff(img) < 0):  # dense-fallback rows come last
        o = np.lexsort((key & ((1 << IMG_SHIFT) - 1), img))
        key, g, v, boxes, level, img = key[o], g[o], v[o], boxes[o], level[o], img[o]
    pos = np.bincount(img, minlength=i1 - i0)
    ign = np.bincount(ign_key >> IMG_SHIFT, minlength=i1 - i0)
    return MatchResult(pos, total - pos - ign, ign, total, img + i0, key & ((1 << IMG_SHIFT) - 1), level, rows[g],
                       v, boxes)


def match_anchors(gt_boxes: np.ndarray, gt_image: np.ndarray, padded: np.ndarray, config: AnchorConfig,
                  assigner: MaxIoUAssigner | ATSSAssigner, *, chunk_boxes: int = 20000,
                  progress: Callable[[int], object] | None = None) -> MatchResult:
    """Label the anchors of many images exactly, without materialising them.

    Results equal dense torchvision matching (``box_iou`` + ``Matcher``) for max-IoU, and the
    dense ATSS definition of :mod:`bbgen.anchors.assigners` for ATSS.

    Parameters
    ----------
    gt_boxes : ndarray[M, 4]
        GT boxes in the detector frame (finite).
    gt_image : ndarray[M] of int
        Image row of each GT, in ``[0, N)``.
    padded : ndarray[N, 2] of int
        Padded image sizes (width, height).
    config : AnchorConfig
    assigner : MaxIoUAssigner or ATSSAssigner
    chunk_boxes : int, default 20000
        GTs per chunk (:func:`chunk_plan`); memory is bounded by the chunk.
    progress : callable, optional
        ``progress(n_images)`` is called after each chunk.

    Returns
    -------
    MatchResult
    """
    gt_boxes, gt_image, padded = _check_inputs(gt_boxes, gt_image, padded, chunk_boxes)
    parts = []
    for i0, i1, rows in chunk_plan(gt_image, len(padded), chunk_boxes):
        parts.append(match_chunk(gt_boxes, gt_image, padded, config, assigner, i0, i1, rows))
        if progress is not None:
            progress(i1 - i0)
    if not parts:
        z, e = np.zeros(0, np.int64), np.zeros(0, np.int64)
        return MatchResult(z, z, z, z, e, e, e, e, np.zeros(0, np.float32), np.zeros((0, 4), np.float32))
    return MatchResult(*(np.concatenate(x) for x in zip(*(_fields_of(r) for r in parts))))


def _fields_of(r: MatchResult) -> tuple[np.ndarray, ...]:
    """The fields of a :class:`MatchResult` in order (no copies)."""
    return tuple(getattr(r, f.name) for f in fields(r))
