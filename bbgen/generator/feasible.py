"""Feasible spaces of the Bounding Box Generator: findTLFeasibleSpace / findBRFeasibleSpace (thesis Alg. 1, App. B).

Everything is computed in the *unit frame* of the reference box ``B`` (``B = [0, 0, 1, 1]``, see
:mod:`bbgen.boxes`). Given a first corner ``(a, b)`` of a box, the second corner ``(c, d)`` keeps
``IoU([a, b, c, d], B) >= T`` exactly when

* ``c`` lies in ``[c_min, c_max]`` — thesis Table B.2, regions IV and II (the bounds at ``d = 1``,
  where the IoU is largest for fixed ``c``), and
* ``d`` lies in ``[d_lo(c), d_hi(c)]`` — thesis Table B.3, regions I/IV (``d <= 1``) and II (``d >= 1``).

The top-left space (thesis Table B.1, Eq. 4.1–4.2) needs no separate formulas: point reflection through the
centre of ``B`` (``u -> 1 - u``) maps ``B`` to itself and a top-left corner ``(u, v)`` with bottom-right fixed
at ``BR(B)`` to a bottom-right corner ``(1 - u, 1 - v)`` with top-left fixed at ``TL(B) = (0, 0)``, so
``R_TL(T) = 1 - R_BR(T | (0, 0))``. Its bounding rectangle is ``[1 - 1/T, 1 - T]^2`` (Eq. 4.1 is its right edge).

Membership is always decided by the exact inequality ``IoU >= T`` (:func:`in_tl_space`, :func:`in_br_space`);
the shapely polygons returned by :func:`tl_feasible_space` / :func:`br_feasible_space` trace the boundary
curves for plots and areas. With the default ``resolution=256`` their relative area error is below ``1e-4`` for
every ``T`` in ``[0.01, 1)`` and below ``2e-6`` for ``T >= 0.3`` (checked against :func:`tl_area` and numerical
integration in the tests; the error falls as ``resolution^-2``).

Example
-------
>>> import torch
>>> from bbgen.generator.feasible import tl_feasible_space, tl_area
>>> poly = tl_feasible_space(torch.tensor([0., 0., 1., 1.]), 0.5)
>>> round(poly.area, 4), round(float(tl_area(0.5)), 4)
(1.1534, 1.1534)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
import torch
from torch import Tensor

from ..boxes import as_boxes, check_boxes, iou_xyxy, to_unit_frame, from_unit_frame

__all__ = [
    "x_range",
    "y_range",
    "second_corner_rect",
    "tl_rect",
    "in_tl_space",
    "in_br_space",
    "tl_area",
    "tl_feasible_space",
    "br_feasible_space",
    "check_iou_threshold",
]


def check_iou_threshold(T: Any, name: str = "T") -> float:
    """Validate a scalar IoU threshold in ``(0, 1]`` and return it as a float."""
    if isinstance(T, bool) or not isinstance(T, (int, float, np.floating, np.integer)) and not (
        isinstance(T, Tensor) and T.numel() == 1
    ):
        raise TypeError(f"{name} must be a real number in (0, 1], got {type(T).__name__}")
    t = float(T)
    if not (0.0 < t <= 1.0):
        raise ValueError(f"{name} must lie in (0, 1], got {t}")
    return t


def x_range(a: Any, b: Any, T: Any) -> tuple[Any, Any]:
    """Range ``[c_min, c_max]`` of the second corner's x given the first corner ``(a, b)`` (thesis Table B.2).

    With ``alpha = max(a, 0)``, ``beta = max(b, 0)`` and ``I0 = (1 - alpha)(1 - beta)`` (the intersection at
    ``(c, d) = (1, 1)``):

    * ``c_max = a + (I0/T + I0 - 1) / (1 - b)``                                     (region II)
    * ``c_min = (T - T·a(1-b) + alpha(T+1)(1-beta)) / ((T+1)(1-beta) - T(1-b))``       (region IV)

    Valid for ``(a, b)`` inside the top-left space of ``T``; broadcast over tensors.
    """
    alpha, beta = _pos(a), _pos(b)
    i0 = (1 - alpha) * (1 - beta)
    c_max = a + (i0 / T + i0 - 1) / (1 - b)
    c_min = (T - T * a * (1 - b) + alpha * (T + 1) * (1 - beta)) / ((T + 1) * (1 - beta) - T * (1 - b))
    return c_min, c_max


def y_range(a: Any, b: Any, c: Any, T: Any) -> tuple[Any, Any]:
    """Range ``[d_lo, d_hi]`` of the second corner's y for a given ``c`` (thesis Table B.3).

    With ``I_x = min(c, 1) - max(a, 0)`` (x-overlap) and ``K = c - a`` (box width):

    * ``d_hi = b + (I/T + I - 1) / K`` with ``I = I_x (1 - max(b, 0))``            (``d >= 1``, region II)
    * ``d_lo = (T - T·K·b + (T+1)·I_x·max(b, 0)) / ((T+1)·I_x - T·K)``              (``d <= 1``, regions I/IV)

    For fixed ``c`` the IoU is a ratio of linear functions of ``d`` on each side of ``d = 1``, increasing below
    and decreasing above, so the feasible ``d`` form one interval. Valid for ``c`` in :func:`x_range`.
    """
    ix = _min1(c) - _pos(a)
    k = c - a
    beta = _pos(b)
    inter = ix * (1 - beta)
    d_hi = b + (inter / T + inter - 1) / k
    d_lo = (T - T * k * b + (T + 1) * ix * beta) / ((T + 1) * ix - T * k)
    return d_lo, d_hi


def second_corner_rect(a: Any, b: Any, T: Any) -> tuple[Any, Any, Any, Any]:
    """Bounding rectangle ``(c_min, c_max, d_min, d_max)`` of the BR space given TL ``(a, b)`` (Table B.2).

    The y-bounds are the x-bounds with the axes swapped (the problem is symmetric in x and y).
    """
    c_min, c_max = x_range(a, b, T)
    d_min, d_max = x_range(b, a, T)
    return c_min, c_max, d_min, d_max


def tl_rect(T: Any) -> tuple[Any, Any]:
    """Bounding interval ``[1 - 1/T, 1 - T]`` of each TL coordinate (thesis Eq. 4.1, Fig. 4.4b).

    This is ``1 - x_range(0, 0, T)`` reversed (the reflection above) simplified by hand; a test checks both agree.
    """
    return 1 - 1 / T, 1 - T


def _iou_at_least(inter: Any, area: Any, T: Any) -> Any:
    """``inter / (area + 1 - inter) >= T`` without the division: ``inter (1 + T) >= (area + 1) T``.

    The candidate-sized operand comes first in every product: torch broadcasts much faster that way on CPU.
    """
    return inter * (1 + T) >= (area + 1) * T


def in_tl_space(u: Tensor, v: Tensor, T: Any) -> Tensor:
    """Exact membership of TL ``(u, v)`` (unit frame) in the TL space: ``IoU([u, v, 1, 1], B) >= T``
    (thesis Table B.1's four regions as one inequality)."""
    u, v = (x if isinstance(x, Tensor) else torch.as_tensor(x) for x in (u, v))
    p, q = 1 - u, 1 - v  # extents to BR(B): the candidate box's width and height
    return _iou_at_least(p.clamp(max=1) * q.clamp(max=1), p * q, T)


def in_br_space(a: Tensor, b: Tensor, c: Tensor, d: Tensor, T: Any, upper: Any = None) -> Tensor:
    """Exact membership of BR ``(c, d)`` given TL ``(a, b)`` (unit frame): ``IoU([a, b, c, d], B) >= T``
    (Tables B.2–B.3 as one inequality), and ``IoU < upper`` when ``upper`` is given (interval mode)."""
    a, b, c, d = (x if isinstance(x, Tensor) else torch.as_tensor(x) for x in (a, b, c, d))
    inter = (c.clamp(max=1) - a.clamp(min=0)).clamp(min=0) * (d.clamp(max=1) - b.clamp(min=0)).clamp(min=0)
    area = (c - a) * (d - b)
    ok = _iou_at_least(inter, area, T)
    if upper is not None:
        ok &= ~_iou_at_least(inter, area, upper)
    return ok


def tl_area(T: Any) -> Any:
    """Exact area of the TL space in the unit frame (integral of the Table B.1 curves).

    ``A(T) = [(1-T) + T ln T] + 2 [(1/T - 1) + ln T] + [1 - 1/T - ln(T)/T]`` — inside-quadrant, the two mixed
    quadrants and the outside quadrant. Multiply by ``w·h`` for image coordinates.
    """
    if isinstance(T, Tensor):
        lnT = torch.log(T)
    else:
        lnT = math.log(T)
    return (1 - T + T * lnT) + 2 * (1 / T - 1 + lnT) + (1 - 1 / T - lnT / T)


def _pos(x: Any) -> Any:
    return x.clamp(min=0) if isinstance(x, Tensor) else np.maximum(x, 0.0)


def _min1(x: Any) -> Any:
    return x.clamp(max=1) if isinstance(x, Tensor) else np.minimum(x, 1.0)


def _trace(a: float, b: float, T: float, resolution: int) -> np.ndarray | None:
    """Boundary of the BR space given TL ``(a, b)`` in the unit frame as a closed ring, float64 ``[K, 2]``.

    ``c`` runs over nodes on ``[c_min, 1]`` and ``[1, c_max]`` (the curves have a kink at ``c = 1``), lower
    curve forward and upper curve back. ``None`` when the space is one point.
    """
    c_min, c_max = x_range(a, b, T)
    if not (c_max - c_min > 1e-12 * max(1.0, abs(c_max))):
        return None
    # the curves are hyperbolas in c, so nodes are Chebyshev–Lobatto in log(c) (c > max(a, 0) >= 0 here)
    t = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, resolution))
    lo, hi = math.log(c_min), math.log(c_max)
    left = np.exp(lo + (min(0.0, hi) - lo) * t)
    right = np.exp(max(0.0, lo) + (hi - max(0.0, lo)) * t)
    c = np.unique(np.concatenate([left, right]))
    d_lo, d_hi = y_range(a, b, c, T)
    # at the ends both curves meet the point d = 1 analytically; clamp rounding so the ring never crosses itself
    d_lo = np.minimum(d_lo, 1.0)
    d_hi = np.maximum(d_hi, 1.0)
    return np.concatenate([np.stack([c, d_lo], 1), np.stack([c[::-1], d_hi[::-1]], 1)])


def _ref_tensor(ref: Any) -> Tensor:
    r = as_boxes(ref, "ref", dtype=torch.float64)
    if r.shape != (4,):
        raise ValueError(f"ref must be a single box of shape [4], got {tuple(r.shape)}")
    check_boxes(r, "ref")
    return r


def _resolution(resolution: Any) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 8:
        raise ValueError(f"resolution must be an integer >= 8, got {resolution!r}")
    return int(resolution)


def _to_image(ring: np.ndarray, ref: Tensor) -> shapely.Polygon:
    pts = torch.from_numpy(ring)
    boxes = torch.cat([pts, pts], dim=1)  # map points as degenerate boxes through the same affine map
    img = from_unit_frame(boxes, ref)[:, :2].numpy()
    return shapely.Polygon(img)


def tl_feasible_space(ref: Any, T: float, *, resolution: int = 256) -> shapely.Polygon:
    """findTLFeasibleSpace(B, T) (thesis Alg. 1 line 3, Table B.1): polygon of top-left corners with IoU >= T.

    Parameters
    ----------
    ref : [4] box ``[x1, y1, x2, y2]`` (tensor, ndarray or sequence).
    T : IoU threshold in ``(0, 1]``.
    resolution : boundary points per curve piece; area error ~ ``resolution^-2`` (< 1e-4 relative at 256).

    Returns
    -------
    shapely.Polygon in image coordinates; for ``T = 1`` the space is the point ``TL(B)`` and an empty
    polygon is returned.
    """
    r = _ref_tensor(ref)
    T = check_iou_threshold(T)
    ring = _trace(0.0, 0.0, T, _resolution(resolution))
    if ring is None:
        return shapely.Polygon()
    return _to_image(1.0 - ring, r)  # point reflection: R_TL = 1 - R_BR(T | (0, 0))


def br_feasible_space(ref: Any, T: float, tl: Any, *, resolution: int = 256) -> shapely.Polygon:
    """findBRFeasibleSpace(B, T, TL(B̄)) (thesis Alg. 1 line 6, Tables B.2–B.3): BR corners with IoU >= T.

    ``tl`` is the sampled top-left corner ``(x1, y1)`` in image coordinates; it must lie in the TL space.
    When ``tl`` is on the border of the TL space the BR space shrinks to the point ``BR(B)``
    (thesis App. B.2) and an empty polygon is returned.
    """
    r = _ref_tensor(ref)
    T = check_iou_threshold(T)
    try:
        p = torch.as_tensor(tl, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"tl must be a point (x, y), got {tl!r}") from exc
    if p.shape != (2,) or not bool(torch.isfinite(p).all()):
        raise ValueError(f"tl must be a finite point (x, y), got {tl!r}")
    a, b = to_unit_frame(torch.cat([p, p]), r)[:2].tolist()
    iou = float(iou_xyxy(a, b, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0))
    if iou < T * (1 - 1e-9):
        raise ValueError(f"tl = {p.tolist()} is outside the TL feasible space of ref for T = {T} (IoU {iou:.6g})")
    ring = _trace(a, b, T, _resolution(resolution))
    if ring is None:
        return shapely.Polygon()
    return _to_image(ring, r)
