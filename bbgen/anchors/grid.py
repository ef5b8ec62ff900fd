"""Anchor grids, bit-for-bit torchvision's (``AnchorGenerator``, ``DefaultBoxGenerator``).

Per level the anchors form a regular grid: anchor ``(iy, ix, a)`` has flat index
``offset_l + (iy * W_l + ix) * A_l + a`` (torchvision's order) and centre ``origin + i * spacing``.
:func:`level_geometry` exposes that grid so that the sparse assigners (:mod:`.maxiou`, :mod:`.atss`)
enumerate only the anchors near a ground truth, and :func:`anchor_coords` returns exact coordinates of
such anchors.  The anchor *configuration* (sizes, ratios, resize rule) lives in :mod:`.config`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .._typing import ArrayLike
from .config import AnchorConfig

__all__ = ["LevelGeometry", "anchor_columns", "anchor_coords", "cell_anchors", "feature_sizes", "grid_anchors",
           "level_geometry"]


def _read_only(a: np.ndarray) -> np.ndarray:
    """Cached arrays are shared by every caller: make writes fail loudly instead of corrupting the cache."""
    a.setflags(write=False)
    return a


def feature_sizes(padded: ArrayLike, config: AnchorConfig) -> np.ndarray:
    """Feature-map sizes of padded images.

    ResNet-FPN: every stride-2 stage maps n -> ceil(n / 2), so level stride s has ceil(padded / s)
    cells (P6/P7 ceil-halve P5).  SSD uses the network's fixed sizes.

    Parameters
    ----------
    padded : ndarray[N, 2] of int
        Padded image sizes (width, height) as the network sees them (:func:`bbgen.anchors.detector_view`).
    config : AnchorConfig

    Returns
    -------
    ndarray[N, L, 2] of int64
        (width, height) of each level.
    """
    return _feature_sizes(_padded(padded), config)


def _feature_sizes(padded: np.ndarray, config: AnchorConfig) -> np.ndarray:
    """:func:`feature_sizes` of already checked ``[N, 2]`` int64 sizes."""
    if config.fixed_feature_sizes is not None:
        f = np.asarray(config.fixed_feature_sizes, dtype=np.int64)
        return np.broadcast_to(f[None, :, None], (len(padded), len(f), 2)).copy()
    s = np.asarray(config.strides, dtype=np.int64)
    return -(-padded[:, None, :] // s[None, :, None])


def _padded(padded: ArrayLike) -> np.ndarray:
    """Padded ``(width, height)`` sizes as int64 ``[N, 2]``; ``ValueError`` / ``TypeError`` naming ``padded``."""
    try:
        p = np.asarray(padded, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # strings, ragged lists: numpy's message names no argument
        raise TypeError(f"padded must hold (width, height) image sizes [N, 2], got {repr(padded)[:200]}") from exc
    if p.shape[-1:] != (2,) or not (np.isfinite(p) & (p >= 1)).all():  # 0, negative or NaN gave nonsense sizes
        raise ValueError(f"padded must hold (width, height) image sizes [N, 2], finite and >= 1, got "
                         f"{p.tolist() if p.size <= 8 else p.shape}")
    return p.astype(np.int64).reshape(-1, 2)


@lru_cache(maxsize=32)
def cell_anchors(config: AnchorConfig) -> tuple[np.ndarray, ...]:
    """Zero-centred anchors per level, as torchvision generates them (cached; the arrays are read-only).

    grid kind: ``AnchorGenerator.generate_anchors`` (rounded half-sizes).  ssd kind: the
    (w, h) pairs of ``DefaultBoxGenerator`` (normalised, clipped to [0, 1]) as ``[0, 0, w, h]``.

    Parameters
    ----------
    config : AnchorConfig

    Returns
    -------
    tuple of ndarray[A_l, 4] of float32
        One read-only array per level.
    """
    out = []
    if config.kind == "ssd":
        scales = config.ssd_scales
        for k, ratios in enumerate(config.aspect_ratios):
            s_k, s_prime = scales[k], math.sqrt(scales[k] * scales[k + 1])
            pairs = [[s_k, s_k], [s_prime, s_prime]]
            for ar in ratios:
                sq = math.sqrt(ar)
                pairs.extend([[s_k * sq, s_k / sq], [s_k / sq, s_k * sq]])
            wh = torch.as_tensor(pairs, dtype=torch.float32).clamp(min=0, max=1)
            out.append(_read_only(torch.cat([torch.zeros_like(wh), wh], 1).numpy()))
        return tuple(out)
    for size, ratios in zip(config.sizes, config.aspect_ratios):
        scales = torch.as_tensor(size, dtype=torch.float32)
        ar = torch.as_tensor(ratios, dtype=torch.float32)
        h_ratios = torch.sqrt(ar)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        out.append(_read_only((torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round().numpy()))
    return tuple(out)


@dataclass(frozen=True)
class LevelGeometry:
    """Grid of one level for a batch of images.

    Anchor centre of column ``ix`` is ``origin_x + ix * spacing_x`` (exact for grid anchors, up to
    float32 rounding for SSD).

    Attributes
    ----------
    width, height : ndarray[N] of int64
        Feature-map size.
    step_x, step_y : ndarray[N]
        torchvision's integer stride (grid kind).
    spacing_x, spacing_y : ndarray[N] of float64
        Distance between anchor centres.
    origin_x, origin_y : ndarray[N] of float64
        Centre of the first column / row.
    offset : ndarray[N] of int64
        Flat index of the level's first anchor.
    shapes : ndarray[A_l, 2] of float64
        Anchor (width, height) in pixels (approximate for SSD).
    """

    width: np.ndarray
    height: np.ndarray
    step_x: np.ndarray
    step_y: np.ndarray
    spacing_x: np.ndarray
    spacing_y: np.ndarray
    origin_x: np.ndarray
    origin_y: np.ndarray
    offset: np.ndarray
    shapes: np.ndarray


def level_geometry(padded: ArrayLike, config: AnchorConfig) -> tuple[list[LevelGeometry], np.ndarray]:
    """Per-level grids of padded images.

    Parameters
    ----------
    padded : ndarray[N, 2] of int
        Padded image sizes (width, height).
    config : AnchorConfig

    Returns
    -------
    levels : list of LevelGeometry
        One per pyramid level.
    total : ndarray[N] of int64
        Anchors per image.
    """
    padded = _padded(padded)  # checked before the reshape: (64,) gave numpy's "cannot reshape"
    feats = _feature_sizes(padded, config)
    counts = feats[..., 0] * feats[..., 1] * np.asarray(config.anchors_per_location())[None]
    offsets = np.concatenate([np.zeros((len(padded), 1), np.int64), np.cumsum(counts, 1)], 1)
    levels = []
    for lvl, cells in enumerate(cell_anchors(config)):
        fw, fh = feats[:, lvl, 0], feats[:, lvl, 1]
        if config.kind == "ssd":
            # centre of column ix is (ix + 0.5) / (W / step) * W ~ (ix + 0.5) * step
            step = np.full(len(padded), float(config.strides[lvl]))
            size = np.asarray(config.fixed_size, dtype=np.float64)
            shapes = cells[:, 2:].astype(np.float64) * size
            levels.append(LevelGeometry(fw, fh, step, step, step, step, step / 2, step / 2,
                                        offsets[:, lvl], shapes))
        else:
            step_x, step_y = padded[:, 0] // fw, padded[:, 1] // fh
            # rounded half-sizes are symmetric (round(-x) == -round(x)), so centres sit on the shifts
            shapes = (cells[:, 2:] - cells[:, :2]).astype(np.float64)
            zero = np.zeros(len(padded))
            levels.append(LevelGeometry(fw, fh, step_x, step_y, step_x.astype(np.float64),
                                        step_y.astype(np.float64), zero, zero, offsets[:, lvl], shapes))
    return levels, offsets[:, -1]


@lru_cache(maxsize=32)
def anchor_columns(config: AnchorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (level, shape) pair of anchors as a column (cached; the arrays are read-only).

    Parameters
    ----------
    config : AnchorConfig

    Returns
    -------
    level : ndarray[T] of int
        Pyramid level of each column.
    shape : ndarray[T] of int
        Index of the anchor shape within its level.
    cells : ndarray[T, 4] of float32
        Zero-centred anchors (:func:`cell_anchors`).
    """
    cells = cell_anchors(config)
    level = np.concatenate([np.full(len(c), i) for i, c in enumerate(cells)])
    shape = np.concatenate([np.arange(len(c)) for c in cells])
    return _read_only(level), _read_only(shape), _read_only(np.concatenate(cells))


def anchor_coords(config: AnchorConfig, col: np.ndarray, ix: np.ndarray, iy: np.ndarray, step_x: np.ndarray,
                  step_y: np.ndarray, padded: np.ndarray | None = None) -> np.ndarray:
    """Exact float32 coordinates of anchors (column, ix, iy), as torchvision builds them.

    grid: ``float32(i * step) + cell`` as ``AnchorGenerator.grid_anchors``; ssd: the op sequence of
    ``DefaultBoxGenerator`` in torch float32.

    Parameters
    ----------
    config : AnchorConfig
    col : ndarray[K] of int
        Columns of :func:`anchor_columns`.
    ix, iy : ndarray[K] of int
        Grid column and row.
    step_x, step_y : ndarray[K] of int
        The level's integer strides (``padded // feature size``).
    padded : ndarray[K, 2] of int, optional
        Padded image sizes; needed for SSD.

    Returns
    -------
    ndarray[K, 4] of float32
    """
    level, shape, cells = anchor_columns(config)
    if config.kind == "ssd":
        if padded is None:
            raise ValueError("anchor_coords: SSD default boxes need the padded sizes")
        out = np.empty((len(ix), 4), np.float32)
        lv = level[col]
        for lvl in np.unique(lv).tolist():
            sel = np.flatnonzero(lv == lvl)
            out[sel] = _ssd_coords(config, lvl, ix[sel], iy[sel], shape[col[sel]], padded[sel])
        return out
    sx = (ix.astype(np.int64) * step_x).astype(np.float32)
    sy = (iy.astype(np.int64) * step_y).astype(np.float32)
    out = np.empty((len(ix), 4), np.float32)
    out[:, 0], out[:, 1] = sx + cells[col, 0], sy + cells[col, 1]
    out[:, 2], out[:, 3] = sx + cells[col, 2], sy + cells[col, 3]
    return out


def _ssd_coords(config: AnchorConfig, level: int, ix: np.ndarray, iy: np.ndarray, a: np.ndarray,
                padded: np.ndarray) -> np.ndarray:
    # Same op sequence as DefaultBoxGenerator._grid_default_boxes + forward, in torch float32.
    step = config.strides[level]
    out = np.empty((len(ix), 4), np.float32)
    wh_all = torch.tensor(cell_anchors(config)[level][:, 2:])  # a copy: the cached array is read-only
    pads = np.asarray(padded, np.int64).reshape(-1, 2)
    for pw, ph in {tuple(p) for p in pads.tolist()}:
        sel = np.flatnonzero((pads[:, 0] == pw) & (pads[:, 1] == ph))
        cx = ((torch.from_numpy(ix[sel].astype(np.int64)) + 0.5) / (pw / step)).to(torch.float32)
        cy = ((torch.from_numpy(iy[sel].astype(np.int64)) + 0.5) / (ph / step)).to(torch.float32)
        wh = wh_all[torch.from_numpy(a[sel].astype(np.int64))]
        ctr = torch.stack([cx, cy], 1)
        size = torch.tensor([pw, ph])
        out[sel] = torch.cat([(ctr - 0.5 * wh) * size, (ctr + 0.5 * wh) * size], -1).numpy()
    return out


def grid_anchors(config: AnchorConfig, padded: tuple[int, int]) -> torch.Tensor:
    """All anchors of one padded image in torchvision's order (what ``AnchorGenerator`` returns).

    Parameters
    ----------
    config : AnchorConfig
    padded : (int, int)
        Padded image size (width, height).

    Returns
    -------
    Tensor[K, 4] of float32
    """
    try:
        shape = np.shape(padded)
    except ValueError:  # ragged nested lists
        shape = None
    if shape != (2,):  # (64,) gave numpy's "cannot reshape" from inside level_geometry
        raise ValueError(f"padded must be one image size (width, height) of shape (2,), got {repr(padded)[:200]}"
                         + (f" of shape {shape}" if shape is not None else ""))
    levels, total = level_geometry(padded, config)  # checks the values
    p = np.asarray(padded, dtype=np.float64).astype(np.int64)[None]  # as level_geometry read it
    col0 = np.cumsum([0] + [len(g.shapes) for g in levels])
    out = []
    for lvl, g in enumerate(levels):
        fw, fh, na = int(g.width[0]), int(g.height[0]), len(g.shapes)
        iy, ix, a = (v.reshape(-1) for v in np.meshgrid(np.arange(fh), np.arange(fw), np.arange(na), indexing="ij"))
        k = len(ix)
        out.append(anchor_coords(config, col0[lvl] + a, ix, iy, np.full(k, g.step_x[0]), np.full(k, g.step_y[0]),
                                 np.broadcast_to(p[0], (k, 2))))
    anchors = np.concatenate(out) if out else np.zeros((0, 4), np.float32)
    assert len(anchors) == int(total[0])
    return torch.from_numpy(anchors)
