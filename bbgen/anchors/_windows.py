"""Grid machinery shared by the sparse assigners (:mod:`.maxiou`, :mod:`.atss`).

A *chunk* is a block of images with their GTs; a *window* is, per (GT, anchor column), the block of
grid positions whose anchors can reach a threshold.  Everything here works on numpy columns for all
GTs of a chunk at once; nothing here decides labels (that is the assigners' job).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..boxes import iou_xyxy
from .config import AnchorConfig
from .grid import LevelGeometry, anchor_columns, anchor_coords

__all__ = ["IMG_SHIFT", "Chunk", "Windows", "best_per_key", "boxes_at", "chunk_shapes", "expand", "first_per_group",
           "grid_windows", "gt_shape", "iou_windows", "lower_bound", "pair_iou", "ragged"]

IMG_SHIFT = 34  # key = image << 34 | anchor index (anchors per image < 2**34)


def pair_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of corresponding rows [K, 4] x [K, 4] -> [K] float32 (torchvision's ``box_iou`` arithmetic)."""
    return iou_xyxy(*torch.from_numpy(boxes1).unbind(1), *torch.from_numpy(boxes2).unbind(1)).numpy()


@dataclass(frozen=True)
class Chunk:
    """GTs (sorted by image) of a block of images, with the grids of those images."""

    gt: np.ndarray        # [G, 4] float32
    img: np.ndarray       # [G] local image index
    padded: np.ndarray    # [n, 2]
    levels: list[LevelGeometry]
    total: np.ndarray     # [n]
    gt_start: np.ndarray  # [n] first GT row of each image
    gt_count: np.ndarray  # [n]

    def table(self, name: str) -> np.ndarray:
        """Grid attribute ``name`` of every image and level, [n, L]."""
        return np.stack([getattr(g, name) for g in self.levels], 1)


def ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner [C], position within owner [C]) for ``counts[r]`` items per owner r."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def expand(x_lo: np.ndarray, nx: np.ndarray, y_lo: np.ndarray, ny: np.ndarray):
    """Ragged expansion of windows [R] -> (window [C], ix [C], iy [C]), row-major per window."""
    win, dy = ragged(np.where(nx > 0, ny, 0))  # one entry per window row
    row, dx = ragged(nx[win])
    win = win[row]
    return win, x_lo[win] + dx, y_lo[win] + dy[row]


@dataclass(frozen=True)
class Windows:
    """Grid attributes of (GT, column) pairs [R]; a column is a (level, shape) of ``anchor_columns``."""

    g: np.ndarray          # GT row in the chunk
    col: np.ndarray
    level: np.ndarray
    width: np.ndarray      # grid columns / rows of the GT's image at the level
    height: np.ndarray
    spacing_x: np.ndarray  # centre spacing (float64)
    spacing_y: np.ndarray
    step_x: np.ndarray     # torchvision's integer strides
    step_y: np.ndarray
    base: np.ndarray       # image << 34 | (level offset + shape)
    per_loc: np.ndarray    # anchors per location of the level
    shape_w: np.ndarray    # anchor width / height (float64)
    shape_h: np.ndarray
    fx: np.ndarray         # GT centre in grid units (float64)
    fy: np.ndarray


def chunk_shapes(ch: Chunk) -> np.ndarray:
    return np.concatenate([g.shapes for g in ch.levels])  # [T, 2]


def grid_windows(config: AnchorConfig, ch: Chunk, g: np.ndarray, col: np.ndarray) -> Windows:
    col_level, col_a, _ = anchor_columns(config)
    img, level = ch.img[g], col_level[col]
    shapes = chunk_shapes(ch)
    per_loc = np.asarray([len(x.shapes) for x in ch.levels])

    def at(name: str) -> np.ndarray:
        return ch.table(name)[img, level]

    gt = ch.gt[g].astype(np.float64)
    sx, sy = at("spacing_x"), at("spacing_y")
    fx = ((gt[:, 0] + gt[:, 2]) / 2 - at("origin_x")) / sx
    fy = ((gt[:, 1] + gt[:, 3]) / 2 - at("origin_y")) / sy
    base = (img.astype(np.int64) << IMG_SHIFT) + at("offset") + col_a[col]
    return Windows(g, col, level, at("width"), at("height"), sx, sy, at("step_x"), at("step_y"), base,
                    per_loc[level], shapes[col, 0], shapes[col, 1], fx, fy)


def boxes_at(config: AnchorConfig, ch: Chunk, w: Windows, rep: np.ndarray, ix: np.ndarray,
              iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact anchor boxes [C, 4] and keys [C] (image << 34 | anchor index) at grid positions of windows ``rep``."""
    padded = ch.padded[ch.img[w.g[rep]]] if config.kind == "ssd" else None
    boxes = anchor_coords(config, w.col[rep], ix, iy, w.step_x[rep], w.step_y[rep], padded)
    key = w.base[rep] + (iy * w.width[rep] + ix) * w.per_loc[rep]
    return boxes, key


def gt_shape(ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
    gt = ch.gt.astype(np.float64)
    return (gt[:, 2] - gt[:, 0])[:, None], (gt[:, 3] - gt[:, 1])[:, None]


def lower_bound(config: AnchorConfig, ch: Chunk) -> np.ndarray:
    """A lower bound [G] of each GT's best IoU: IoU of the anchors nearest to its centre, for the two
    anchor shapes closest to the GT's (any anchor's IoU is a valid bound; these are usually the best)."""
    shapes = chunk_shapes(ch)
    wg, hg = gt_shape(ch)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.abs(np.log(shapes[None, :, 0] / wg)) + np.abs(np.log(shapes[None, :, 1] / hg))
    score = np.nan_to_num(score, nan=np.inf)
    k = min(2, len(shapes))
    col = np.argpartition(score, k - 1, axis=1)[:, :k].ravel()
    w = grid_windows(config, ch, np.repeat(np.arange(len(ch.gt)), k), col)
    ix = np.clip(np.rint(w.fx), 0, w.width - 1).astype(np.int64)
    iy = np.clip(np.rint(w.fy), 0, w.height - 1).astype(np.int64)
    boxes, _ = boxes_at(config, ch, w, np.arange(len(col)), ix, iy)
    return pair_iou(ch.gt[w.g], boxes).reshape(len(ch.gt), k).max(1)


def iou_windows(config: AnchorConfig, ch: Chunk, t: np.ndarray) -> tuple[Windows, tuple[np.ndarray, ...]]:
    """Windows (x_lo, nx, y_lo, ny) [R] holding every anchor with IoU >= t[g] (conservative), for the
    (GT, column) pairs whose shapes can reach t at all."""
    shapes = chunk_shapes(ch)
    wg, hg = gt_shape(ch)
    wa, ha = shapes[None, :, 0], shapes[None, :, 1]
    tm = t.astype(np.float64)[:, None] * (1 - 1e-5)  # float32 IoU rounding margin
    area_a, area_g = wa * ha, wg * hg
    i_min = tm * np.maximum(np.maximum(area_a, area_g), (area_a + area_g) / (1 + tm))
    feasible = i_min <= np.minimum(wa, wg) * np.minimum(ha, hg) * (1 + 1e-6)
    g, col = np.nonzero(feasible)  # GT-major
    w = grid_windows(config, ch, g, col)
    i_min = i_min[g, col]
    wg, hg = wg[g, 0], hg[g, 0]
    rx = ((w.shape_w + wg) / 2 - i_min / np.minimum(w.shape_h, hg)) / w.spacing_x
    ry = ((w.shape_h + hg) / 2 - i_min / np.minimum(w.shape_w, wg)) / w.spacing_y
    eps = 1e-3  # grid cells; covers float32 anchor centres and widths
    x_lo = np.maximum(np.ceil(w.fx - rx - eps), 0)
    x_hi = np.minimum(np.floor(w.fx + rx + eps), w.width - 1)
    y_lo = np.maximum(np.ceil(w.fy - ry - eps), 0)
    y_hi = np.minimum(np.floor(w.fy + ry + eps), w.height - 1)
    nx = np.maximum(x_hi - x_lo + 1, 0).astype(np.int64)
    ny = np.maximum(y_hi - y_lo + 1, 0).astype(np.int64)
    return w, (x_lo.astype(np.int64), nx, y_lo.astype(np.int64), ny)


def first_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal sorted keys."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)


def best_per_key(key: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row of the highest ``v`` for each distinct ``key``, first row among ties, sorted by key.

    Rows must come in GT order, so "first row" is ``Tensor.max``'s first GT among ties."""
    order = np.argsort(key, kind="stable")
    ks, vs = key[order], v[order]
    first = first_per_group(ks)
    grp = np.cumsum(first) - 1
    best = np.maximum.reduceat(vs, np.flatnonzero(first)) if len(vs) else vs
    cand = np.flatnonzero(vs == best[grp])
    return order[cand[first_per_group(grp[cand])]]
