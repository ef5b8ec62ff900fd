"""GENERATEBB — the Bounding Box Generator (thesis Alg. 1, §4.3.1; Öksüz et al., WACV 2020).

Given a reference box ``B`` and a threshold ``T``, sample the top-left corner uniformly (or from another
proposal, see :mod:`bbgen.generator.proposals`) in the TL feasible space (Alg. 1 lines 3–4, Table B.1), then the
bottom-right corner in the BR feasible space given that TL (lines 6–7, Tables B.2–B.3). With
``order="random"`` the corner sampled first is chosen with probability ½ by point-reflecting the problem
through the centre of ``B`` (design §1), which makes the distribution isotropic.

Modes
-----
* threshold (``max_iou=None``): ``IoU >= T`` — the paper;
* interval (``max_iou=hi``): ``T <= IoU < hi``; the first corner is drawn from the space of ``T`` and the
  second from ``R_BR(T | TL) \\ R_BR(hi | TL)``, never empty, so an IoU histogram can be hit exactly.

Image bounds (``image_size``) restrict each corner's *proposal rectangle* (a proposal draws inside its
rectangle, so the accepted corner is uniform over feasible space ∩ image), never a clamp after the fact, so
the IoU guarantee survives. Every box is finally verified in float64 on the coordinates actually returned,
image bounds included.

This module holds the pieces of Alg. 1 shared by both implementations and the *reference path*
:func:`generate_bb` (one box at a time, one proposal at a time: readable, not fast). The batched kernel
:func:`bbgen.generator.batched.generate_boxes` draws from the same distribution (tested with two-sample KS tests).

Example
-------
>>> import torch
>>> from bbgen.generator.reference import generate_bb
>>> from bbgen.boxes import box_iou
>>> ref = torch.tensor([10., 20., 50., 80.])
>>> box = generate_bb(ref, 0.7, rng=0)
>>> bool(box_iou(box[None], ref[None]) >= 0.7)
True
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import _validate
from ..boxes import from_unit_frame, iou_xyxy
from .feasible import in_br_space, in_tl_space, tl_rect, x_range
from .proposals import get_proposal, make_generator, sample_polygon

__all__ = [
    "generate_bb",
    "unit_image_bounds",
    "first_corner_ok",
    "second_corner_ok",
    "meets_constraint",
    "reflect",
]


def unit_image_bounds(ref: Tensor, region: Tensor | None, flip: Tensor) -> tuple[Tensor, Tensor]:
    """Allowed image regions ``region [R, 4]`` (``[x_min, y_min, x_max, y_max]``) in the
    unit frame of each ``ref [R, 4]``, point-reflected where ``flip``.

    Returns ``(low [R, 2], high [R, 2])`` in ``ref``'s dtype; ±inf without an image.
    """
    if region is None:
        inf = torch.full((ref.shape[0], 2), float("inf"), dtype=ref.dtype, device=ref.device)
        return -inf, inf
    size = ref[:, 2:] - ref[:, :2]
    region = region.to(ref.dtype)
    low = (region[:, :2] - ref[:, :2]) / size
    high = (region[:, 2:] - ref[:, :2]) / size
    f = flip[:, None]
    return torch.where(f, 1 - high, low), torch.where(f, 1 - low, high)


def first_corner_ok(u: Tensor, v: Tensor, params: tuple) -> Tensor:
    """Acceptance of first-corner candidates ``u, v [K, R]`` (unit frame): in the TL space of ``T [R]``
    (:func:`bbgen.generator.feasible.in_tl_space`; ``params = (T,)``). Alg. 1 lines 3–4, the exact test replacing the
    polygon. The image bound needs no test here: candidates come from :func:`first_corner_rect`, clipped."""
    return in_tl_space(u, v, params[0])


def second_corner_ok(c: Tensor, d: Tensor, params: tuple) -> Tensor:
    """Acceptance of second-corner candidates ``c, d [K, R]`` given first corners ``a, b [R]``:
    ``T <= IoU < hi`` (:func:`bbgen.generator.feasible.in_br_space`; ``params = (a, b, T, hi)``, ``hi`` ``[R]`` or
    ``None``). Alg. 1 lines 6–7; the image bound is in the rectangle of :func:`second_rect`."""
    a, b, T, hi = params
    return in_br_space(a, b, c, d, T, hi)


def first_corner_rect(T: Tensor, img_low: Tensor) -> tuple[Tensor, Tensor]:
    """Bounding rectangle of the first corner (Eq. 4.1, Fig. 4.4b) clipped to the image: ``[R, 2]`` each."""
    lo, hi = tl_rect(T)
    low = torch.maximum(torch.stack((lo, lo), -1), img_low)
    return low, torch.stack((hi, hi), -1)


def second_rect(a: Tensor, b: Tensor, T: Tensor, img_high: Tensor) -> tuple[Tensor, Tensor]:
    """Bounding rectangle of the second corner given the first (Table B.2) clipped to the image: ``[R, 2]`` each.

    :func:`bbgen.generator.feasible.second_corner_rect` with both axes in one call (the y-range is the x-range with
    the axes swapped): half the ops, which is what a small batch pays for."""
    low, high = x_range(torch.stack((a, b), -1), torch.stack((b, a), -1), T[:, None])
    return low, torch.minimum(high, img_high)


def reflect(first: Tensor, second: Tensor, flip: Tensor) -> Tensor:
    """Unit-frame boxes ``[R, 4]`` from first/second corners ``[R, 2]``, point-reflected through the centre of
    ``[0, 0, 1, 1]`` where ``flip``: ``[a, b, c, d] -> [1 - c, 1 - d, 1 - a, 1 - b]`` (turns "BR first" into
    "TL first", design §1)."""
    return torch.where(flip[:, None], 1 - torch.cat([second, first], 1), torch.cat([first, second], 1))


def meets_constraint(boxes: Tensor, ref: Tensor, lo: Tensor, hi: Tensor | None = None,
                     region: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Final check in float64 on the returned coordinates: ``lo <= IoU < hi`` and inside the image.

    ``boxes``, ``ref`` are ``[R, 4]``; ``lo``, ``hi`` ``[R]``; ``region`` an image region ``[R, 4]`` or ``None``.
    A margin of ``1e-12`` keeps the verdict identical for any float64 IoU formula.
    Returns ``(ok bool [R], iou float64 [R])``: the verdict and the IoU it was given on.
    """
    b, r = boxes.to(torch.float64), ref.to(torch.float64)
    iou = iou_xyxy(*b.unbind(-1), *r.unbind(-1))
    ok = (iou >= torch.clamp(lo + _validate.IOU_MARGIN, max=1.0)) & (b[:, 2:] > b[:, :2]).all(1)
    if hi is not None:
        ok &= iou < hi - _validate.IOU_MARGIN
    if region is not None:
        ok &= (b[:, :2] >= region[:, :2]).all(1) & (b[:, 2:] <= region[:, 2:]).all(1)
    return ok, iou


def generate_bb(ref: Any, T: float, *, max_iou: float | None = None, order: str = "random",
                proposal: Any = "uniform", image_size: Any = None,
                rng: torch.Generator | int | None = None, max_attempts: int = 100) -> Tensor:
    """GENERATEBB(B, T) (thesis Alg. 1): one box with ``IoU(box, ref) >= T`` (or ``T <= IoU < max_iou``).

    Parameters
    ----------
    ref : [4] reference box ``[x1, y1, x2, y2]`` (float32 / float64 tensor, ndarray or sequence).
    T : IoU threshold in ``(0, 1]``.
    max_iou : upper bound for the interval mode, ``T < max_iou <= 1``.
    order : ``"random"`` (the paper: TL or BR first with probability ½), ``"tl"`` or ``"br"`` first.
    proposal : ``"uniform"`` (the paper), ``"normal"``, ``"inside"`` or a callable (:mod:`bbgen.generator.proposals`).
    image_size : ``(W, H)`` (the box stays inside ``[0, W] x [0, H]``) or an allowed region
        ``[x_min, y_min, x_max, y_max]`` given as a ``[1, 4]`` tensor; ``ref`` must lie inside.
    rng : ``torch.Generator`` (on ``ref``'s device) or int seed; ``None`` draws a fresh OS seed.

    Returns
    -------
    Tensor [4] with ``ref``'s dtype and device.
    """
    r = _validate.ref_boxes_2d(torch.as_tensor(ref)[None] if not isinstance(ref, Tensor) else ref[None], "ref")
    dev = r.device
    lo = _validate.thresholds(T, 1, 1, "T", dev)[:, 0]
    hi = None if max_iou is None else _validate.thresholds(max_iou, 1, 1, "max_iou", dev)[:, 0]
    _validate.interval(lo, hi)
    region = _validate.image_sizes(image_size, r)
    order = _validate.order(order)
    g = make_generator(rng, dev)
    prop = get_proposal(proposal)
    r64 = r.to(torch.float64)  # the reference path favours clarity: unit frame in float64
    zero, one = torch.zeros(2, dtype=torch.float64, device=dev), torch.ones(2, dtype=torch.float64, device=dev)
    for _ in range(max_attempts):
        coin = torch.rand((), generator=g, device=dev) < 0.5
        flip = torch.tensor([order == "br" or (order == "random" and bool(coin))], device=dev)
        img_low, img_high = unit_image_bounds(r64, region, flip)
        # Alg. 1 lines 3-4: TL space, sample a point in it
        low, high = first_corner_rect(lo, img_low)
        prm = (lo,)
        tl = sample_polygon(low[0], high[0], zero, lambda p: bool(first_corner_ok(p[0:1], p[1:2], prm)),
                            proposal=prop, generator=g)
        if tl is None:
            continue
        a, b = tl[0:1], tl[1:2]
        # Alg. 1 lines 6-7: BR space given TL, sample a point in it
        low, high = second_rect(a, b, lo, img_high)
        prm = (a, b, lo, hi)
        br = sample_polygon(low[0], high[0], one, lambda p: bool(second_corner_ok(p[0:1], p[1:2], prm)),
                            proposal=prop, generator=g)
        if br is None:  # TL on the TL boundary: the BR space is (numerically) a point; start again
            continue
        unit = reflect(tl[None], br[None], flip)
        box = from_unit_frame(unit, r64).to(r.dtype)
        ok, _ = meets_constraint(box, r, lo, hi, region)
        if bool(ok[0]):
            return box[0]
    raise RuntimeError(f"generate_bb: no box passed the float64 check in {max_attempts} attempts for ref "
                       f"{r[0].tolist()}, T = {T}, max_iou = {max_iou}; the constraint is not representable "
                       f"in {r.dtype}")
