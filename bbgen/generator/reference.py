"""GENERATEBB — the Bounding Box Generator (thesis Alg. 1, §4.3.1; Öksüz et al., WACV 2020).

Given a reference box ``B`` and a threshold ``T`` (the argument ``iou``), sample the top-left corner uniformly
(or from another proposal, see :mod:`bbgen.generator.proposals`) in the TL feasible space (Alg. 1 lines 3–4, Table B.1), then the
bottom-right corner in the BR feasible space given that TL (lines 6–7, Tables B.2–B.3). With
``order="random"`` the corner sampled first is chosen with probability ½ by point-reflecting the problem
through the centre of ``B`` (docs/architecture.md, "Unit frame"), which makes the distribution isotropic.

Modes
-----
* threshold (``max_iou=None``): ``IoU >= iou`` — the paper;
* interval (``max_iou=hi``): ``iou <= IoU < hi``; the first corner is drawn from the space of ``iou`` and the
  second from ``R_BR(iou | TL) \\ R_BR(hi | TL)``, never empty, so an IoU histogram can be hit exactly.

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
>>> box = generate_bb(ref, 0.7, generator=0)
>>> bool(box_iou(box[None], ref[None]) >= 0.7)
True
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import _validate
from .._typing import BoxesLike, ImageSizeLike, SeedLike
from ..boxes import from_unit_frame, iou_xyxy
from .feasible import in_br_space, in_tl_space, tl_rect, x_range
from .proposals import Proposal, get_proposal, sample_polygon

__all__ = [
    "generate_bb",
    "unit_image_bounds",
    "first_corner_ok",
    "second_corner_ok",
    "meets_constraint",
    "reflect",
    "first_corner_rect",
    "second_rect",
]


def unit_image_bounds(ref: Tensor, region: Tensor | None, flip: Tensor) -> tuple[Tensor, Tensor]:
    """Allowed image regions in the unit frame of each reference box, point-reflected where ``flip``.

    Parameters
    ----------
    ref : Tensor[R, 4]
        Reference boxes.
    region : Tensor[R, 4] or None
        Allowed regions ``[x_min, y_min, x_max, y_max]`` (:func:`bbgen._validate.image_sizes`); ``None``: no image.
    flip : Tensor[R] of bool
        Rows sampled "BR first" (point-reflected through the centre of the unit box).

    Returns
    -------
    low, high : Tensor[R, 2]
        In ``ref``'s dtype; ±inf without an image.
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


def first_corner_ok(u: Tensor, v: Tensor, params: tuple[Tensor]) -> Tensor:
    """Acceptance test of first-corner candidates (thesis Alg. 1 lines 3–4, the exact test replacing the polygon).

    The image bound needs no test here: candidates come from :func:`first_corner_rect`, clipped.

    Parameters
    ----------
    u, v : Tensor[K, R]
        Candidates in the unit frame.
    params : tuple of (Tensor[R],)
        ``(iou,)``, the thresholds (:func:`bbgen.generator.feasible.in_tl_space`).

    Returns
    -------
    Tensor[K, R] of bool
    """
    return in_tl_space(u, v, params[0])


def second_corner_ok(c: Tensor, d: Tensor, params: tuple[Tensor, Tensor, Tensor, Tensor | None]) -> Tensor:
    """Acceptance test of second-corner candidates: ``iou <= IoU < max_iou`` (thesis Alg. 1 lines 6–7).

    The image bound is in the rectangle of :func:`second_rect`.

    Parameters
    ----------
    c, d : Tensor[K, R]
        Candidates in the unit frame.
    params : tuple
        ``(a, b, iou, max_iou)``: first corners ``a, b`` ``Tensor[R]``, thresholds ``Tensor[R]`` and upper
        bounds ``Tensor[R]`` or ``None`` (:func:`bbgen.generator.feasible.in_br_space`).

    Returns
    -------
    Tensor[K, R] of bool
    """
    a, b, iou, max_iou = params
    return in_br_space(a, b, c, d, iou, max_iou)


def first_corner_rect(iou: Tensor, img_low: Tensor) -> tuple[Tensor, Tensor]:
    """Bounding rectangle of the first corner (Eq. 4.1, Fig. 4.4b) clipped to the image.

    Parameters
    ----------
    iou : Tensor[R]
        Thresholds, one per row.
    img_low : Tensor[R, 2]
        Lower image bound in the unit frame (:func:`unit_image_bounds`).

    Returns
    -------
    low, high : Tensor[R, 2]
    """
    lo, hi = tl_rect(iou)
    low = torch.maximum(torch.stack((lo, lo), -1), img_low)
    return low, torch.stack((hi, hi), -1)


def second_rect(a: Tensor, b: Tensor, iou: Tensor, img_high: Tensor) -> tuple[Tensor, Tensor]:
    """Bounding rectangle of the second corner given the first (Table B.2) clipped to the image.

    :func:`bbgen.generator.feasible.second_corner_rect` with both axes in one call (the y-range is the x-range
    with the axes swapped): half the ops, which is what a small batch pays for.

    Parameters
    ----------
    a, b : Tensor[R]
        First corners in the unit frame.
    iou : Tensor[R]
        Thresholds.
    img_high : Tensor[R, 2]
        Upper image bound in the unit frame (:func:`unit_image_bounds`).

    Returns
    -------
    low, high : Tensor[R, 2]
    """
    low, high = x_range(torch.stack((a, b), -1), torch.stack((b, a), -1), iou[:, None])
    return low, torch.minimum(high, img_high)


def reflect(first: Tensor, second: Tensor, flip: Tensor) -> Tensor:
    """Unit-frame boxes from first/second corners, point-reflected where ``flip``.

    ``[a, b, c, d] -> [1 - c, 1 - d, 1 - a, 1 - b]`` is the point reflection through the centre of
    ``[0, 0, 1, 1]``; it turns "BR first" into "TL first" (docs/architecture.md, "Unit frame").

    Parameters
    ----------
    first, second : Tensor[R, 2]
        The corner sampled first and the one sampled second.
    flip : Tensor[R] of bool
        Rows sampled "BR first".

    Returns
    -------
    Tensor[R, 4]
    """
    return torch.where(flip[:, None], 1 - torch.cat([second, first], 1), torch.cat([first, second], 1))


def meets_constraint(boxes: Tensor, ref: Tensor, iou: Tensor, max_iou: Tensor | None = None,
                     region: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Final check in float64 on the returned coordinates: ``iou <= IoU < max_iou`` and inside the image.

    A margin of ``1e-12`` keeps the verdict identical for any float64 IoU formula.

    Parameters
    ----------
    boxes, ref : Tensor[R, 4]
        Generated boxes and their reference boxes.
    iou : Tensor[R]
        Thresholds.
    max_iou : Tensor[R], optional
        Upper bounds (interval mode).
    region : Tensor[R, 4], optional
        Allowed image regions.

    Returns
    -------
    ok : Tensor[R] of bool
        The verdict.
    ious : Tensor[R] of float64
        The IoU it was given on.
    """
    b, r = boxes.to(torch.float64), ref.to(torch.float64)
    got = iou_xyxy(*b.unbind(-1), *r.unbind(-1))
    ok = (got >= torch.clamp(iou + _validate.IOU_MARGIN, max=1.0)) & (b[:, 2:] > b[:, :2]).all(1)
    if max_iou is not None:
        ok &= got < max_iou - _validate.IOU_MARGIN
    if region is not None:
        ok &= (b[:, :2] >= region[:, :2]).all(1) & (b[:, 2:] <= region[:, 2:]).all(1)
    return ok, got


def generate_bb(ref: BoxesLike, iou: float, *, max_iou: float | None = None, order: str = "random",
                proposal: str | Proposal = "uniform", image_size: ImageSizeLike = None,
                generator: SeedLike = None, max_attempts: int = 100) -> Tensor:
    """GENERATEBB(B, T) (thesis Alg. 1): one box with ``IoU(box, ref) >= iou`` (or ``iou <= IoU < max_iou``).

    Parameters
    ----------
    ref : Tensor[4] or ndarray or sequence
        Reference box ``[x1, y1, x2, y2]``, float32 or float64.
    iou : float
        IoU threshold ``T`` in ``(0, 1]``.
    max_iou : float, optional
        Upper bound for the interval mode, ``iou < max_iou <= 1``.
    order : {"random", "tl", "br"}, default "random"
        ``"random"`` (the paper: TL or BR first with probability ½), or which corner is sampled first.
    proposal : {"uniform", "normal", "inside"} or callable, default "uniform"
        The proposal distribution (:mod:`bbgen.generator.proposals`); ``"uniform"`` is the paper's.
    image_size : (W, H) or Tensor[1, 4], optional
        The box stays inside ``[0, W] x [0, H]``, or inside an allowed region ``[x_min, y_min, x_max, y_max]``;
        ``ref`` must lie inside.
    generator : torch.Generator or int or numpy.random.Generator, optional
        Randomness (:func:`bbgen._validate.as_generator`); ``None`` draws a fresh OS seed.
    max_attempts : int, default 100
        Restarts before giving up (only a constraint not representable in ``ref``'s dtype needs more than one).

    Returns
    -------
    Tensor[4]
        With ``ref``'s dtype and device.

    Examples
    --------
    >>> box = generate_bb([0., 0., 10., 10.], 0.8, generator=1)
    >>> box.shape
    torch.Size([4])
    """
    ref_t = ref if isinstance(ref, Tensor) else torch.as_tensor(ref)
    if ref_t.shape != (4,):  # name the shape the caller passed, not the internal [1, 4]
        hint = "; for [N, 4] reference boxes use generate_boxes" if ref_t.ndim == 2 else ""
        raise ValueError(f"ref must be one box of shape [4] (x1, y1, x2, y2), got shape {tuple(ref_t.shape)}{hint}")
    r = _validate.ref_boxes_2d(ref_t[None], "ref")
    dev = r.device
    lo = _validate.thresholds(iou, 1, 1, "iou", dev)[:, 0]
    hi = None if max_iou is None else _validate.thresholds(max_iou, 1, 1, "max_iou", dev)[:, 0]
    _validate.interval(lo, hi)
    region = _validate.image_sizes(image_size, r)
    order = _validate.order(order)
    max_attempts = _validate.positive_int(max_attempts, "max_attempts")
    g = _validate.as_generator(generator, dev)
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
                       f"{r[0].tolist()}, iou = {iou}, max_iou = {max_iou}; the constraint is not representable "
                       f"in {r.dtype}")
