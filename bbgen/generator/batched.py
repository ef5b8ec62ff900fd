"""Batched box-generation kernel: thesis Alg. 1 for millions of boxes, CPU and GPU through one code path.

:func:`generate_boxes` runs GENERATEBB for every (reference box, threshold) pair at once with torch tensor
ops (docs/architecture.md, "Data flow"):

* no Python loop over boxes — rejection proceeds in rounds over all rows with several candidates per row
  (:func:`bbgen.generator.proposals.sample_batched`); the first round needs no host–device synchronisation, a few
  percent of rows fall through to a bounded, compacted fallback, and the rare box whose corner found no
  point (a numerically empty space) or failed the final float64 check is generated again;
* everything happens in the unit frame of each reference box (docs/architecture.md, "Unit frame"), so
  float32 keeps its precision for coordinates up to 1e5 whatever the box size;
* the corner-acceptance tests, rectangles and the final float64 verification are the very functions of the
  reference path :func:`bbgen.generator.reference.generate_bb` — the two differ only in how many proposals they draw
  at once, hence draw from the same distribution (tested with two-sample KS tests);
* randomness only from the caller's ``torch.Generator``.

Example
-------
>>> import torch
>>> from bbgen.generator.batched import generate_boxes
>>> from bbgen.boxes import box_iou
>>> ref = torch.tensor([[0., 0., 100., 50.], [10., 10., 20., 400.]])
>>> out = generate_boxes(ref, 0.7, num=1000, generator=torch.Generator().manual_seed(0))
>>> out.shape
torch.Size([2, 1000, 4])
>>> bool((box_iou(out[0], ref[:1]) >= 0.7).all())
True
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .. import _validate
from ..boxes import from_unit_frame
from .feasible import tl_area
from .reference import (first_corner_ok, first_corner_rect, meets_constraint, reflect, second_corner_ok,
                        second_rect, unit_image_bounds)
from .proposals import get_proposal, sample_batched

__all__ = ["generate_boxes", "generate_validated", "candidates_per_round"]

# Rows per chunk x candidates: bounds peak memory (~30 temporaries of this many elements) and keeps the
# working set cache-friendly on CPU.
_CHUNK_ELEMENTS = 1 << 20
_MAX_VERIFY_ROUNDS = 32


def candidates_per_round(T_min: float, straggler_rate: float = 0.05, rows: int | None = None) -> int:
    """Candidates per row in the first round so that about ``straggler_rate`` of rows need the fallback.

    Uses the exact acceptance probability of a uniform proposal over the TL rectangle,
    ``tl_area(T) / (1/T - T)^2`` (≈ 0.5 for T >= 0.3, 0.055 at T = 0.01). For a small batch (``rows``) the
    rate is lowered until about 0.1 straggler is expected in the whole batch: there a fallback round costs
    far more (fixed per-op overhead) than extra candidates.
    """
    if T_min >= 1.0:
        return 1
    if rows is not None and rows <= 4096:
        straggler_rate = min(straggler_rate, 0.1 / rows)
    p = float(tl_area(T_min)) / (1.0 / T_min - T_min) ** 2
    p = min(max(p, 1e-3), 1.0 - 1e-9)
    return int(min(64, max(2, math.ceil(math.log(straggler_rate) / math.log1p(-p)))))


def _unit_boxes(ref: Tensor, lo: Tensor, hi: Tensor | None, region: Tensor | None, flip: Tensor, proposal: Any,
                generator: torch.Generator, k: int) -> tuple[Tensor, Tensor]:
    """Alg. 1 for rows ``ref [R, 4]``: unit-frame boxes ``[R, 4]`` in ``ref``'s dtype and a ``found`` mask."""
    dt = ref.dtype
    T = lo.to(dt)
    T_hi = None if hi is None else hi.to(dt)
    img_low, img_high = unit_image_bounds(ref, region, flip)
    zero = torch.zeros(2, dtype=dt, device=ref.device)
    low, high = first_corner_rect(T, img_low)
    tl, found_tl = sample_batched(low, high, zero, first_corner_ok, (T,), proposal=proposal,
                                  generator=generator, num_candidates=k)
    a, b = tl[:, 0], tl[:, 1]
    low, high = second_rect(a, b, T, img_high)
    br, found_br = sample_batched(low, high, zero + 1, second_corner_ok, (a, b, T, T_hi), proposal=proposal,
                                  generator=generator, num_candidates=k)
    return reflect(tl, br, flip), found_tl & found_br


def _rows(x: Tensor | None, idx: Tensor | slice) -> Tensor | None:
    return None if x is None else x[idx]


def generate_boxes(ref_boxes: Any, iou: Any, *, num: int = 1, max_iou: Any = None, order: str = "random",
                   proposal: Any = "uniform", image_size: Any = None,
                   generator: torch.Generator | int | None = None) -> Tensor:
    """Generate ``num`` boxes around each reference box with an exact IoU constraint (thesis Alg. 1, batched).

    Parameters
    ----------
    ref_boxes : [N, 4] float32/float64 boxes ``[x1, y1, x2, y2]`` (tensor or ndarray), any device.
    iou : threshold ``T`` in ``(0, 1]``: float, ``[N]`` or ``[N, num]``.
    num : boxes per reference box.
    max_iou : ``None`` (threshold mode, ``IoU >= T``) or the interval mode's upper bound (``T <= IoU < max_iou``),
        same shapes as ``iou``.
    order : ``"random"`` (paper), ``"tl"`` or ``"br"`` — which corner is sampled first.
    proposal : relative spatial control, ``"uniform"`` (paper), ``"normal"``, ``"inside"`` or a callable
        (see :mod:`bbgen.generator.proposals`).
    image_size : ``(W, H)`` or ``[N, 2]``: boxes stay inside ``[0, W] x [0, H]``; or ``[N, 4]`` allowed regions
        ``[x_min, y_min, x_max, y_max]``. Each ``ref`` must lie inside its image/region.
    generator : ``torch.Generator`` on the device of ``ref_boxes`` (or an int seed).

    Returns
    -------
    Tensor [N, num, 4] with ``ref_boxes``' dtype and device. Every box satisfies its constraint when its IoU
    with the reference is evaluated in float64 on the returned coordinates.
    """
    ref = _validate.ref_boxes_2d(ref_boxes)
    dev, n = ref.device, ref.shape[0]
    num = _validate.count(num, "num")
    lo = _validate.thresholds(iou, n, num, "iou", dev)
    hi = None if max_iou is None else _validate.thresholds(max_iou, n, num, "max_iou", dev)
    _validate.interval(lo, hi)
    region = _validate.image_sizes(image_size, ref)
    order = _validate.order(order)
    return generate_validated(ref, lo, hi, region, order, get_proposal(proposal), _validate.as_generator(generator, dev))[0]


def generate_validated(ref: Tensor, lo: Tensor, hi: Tensor | None, region: Tensor | None, order: str,
                       prop: Any, g: torch.Generator, t_min: float | None = None) -> tuple[Tensor, Tensor]:
    """:func:`generate_boxes` after argument checking, for callers that built valid inputs themselves
    (:func:`bbgen.roi.proi.generate_prois`): ``ref [N, 4]``, thresholds ``lo``/``hi`` float64 ``[N, num]``,
    image regions ``region [N, 4]`` float64 or ``None``, a resolved proposal and generator; ``t_min`` a
    lower bound of ``lo`` if the caller knows one (saves a host sync), else ``lo.min()``.

    Returns ``(boxes [N, num, 4], iou [N, num])``: the boxes and their float64 IoU with the reference, as
    verified."""
    dev, n, num = ref.device, ref.shape[0], lo.shape[1]
    total = n * num
    out = torch.empty((total, 4), dtype=ref.dtype, device=dev)
    out_iou = torch.empty(total, dtype=torch.float64, device=dev)
    if total == 0:
        return out.reshape(n, num, 4), out_iou.reshape(n, num)

    lo = lo.reshape(-1)
    hi = None if hi is None else hi.reshape(-1)
    # fallback rounds cost a host sync: worth it on CPU for fewer candidates, not on a GPU
    t_min = float(lo.min()) if t_min is None else t_min
    k = candidates_per_round(t_min, 0.02 if dev.type == "cuda" else 0.15, rows=total)
    chunk = max(1, _CHUNK_ELEMENTS // k)
    arange = torch.arange(total, device=dev)
    pending = None  # None = first pass over all rows: contiguous slices, no gathers
    for _ in range(_MAX_VERIFY_ROUNDS):
        count = total if pending is None else pending.numel()
        failed = []
        for s in range(0, count, chunk):
            idx = slice(s, min(s + chunk, count)) if pending is None else pending[s:s + chunk]
            rows = arange[idx] if pending is None else idx
            src = idx if num == 1 and pending is None else rows // num  # a slice is a view: no gather
            r, region_r = ref[src], _rows(region, src)
            if order == "random":
                flip = torch.rand(rows.shape, generator=g, device=dev) < 0.5
            else:
                flip = torch.full(rows.shape, order == "br", dtype=torch.bool, device=dev)
            lo_r, hi_r = lo[idx], _rows(hi, idx)
            unit, found = _unit_boxes(r, lo_r, hi_r, region_r, flip, prop, g, k)
            boxes = from_unit_frame(unit, r)
            ok, iou = meets_constraint(boxes, r, lo_r, hi_r, region_r)
            # failed rows are written too: they are generated again in a later pass, which overwrites them
            out[idx], out_iou[idx] = boxes, iou
            failed.append(rows[~(ok & found)])
        pending = failed[0] if len(failed) == 1 else torch.cat(failed)
        if pending.numel() == 0:  # one synchronisation per verification pass
            return out.reshape(n, num, 4), out_iou.reshape(n, num)
    i = int(pending[0]) // num
    raise RuntimeError(f"generate_boxes: {pending.numel()} box(es) could not meet their constraint in {ref.dtype} "
                       f"after {_MAX_VERIFY_ROUNDS} passes (e.g. ref_boxes[{i}] = {ref[i].tolist()}); the IoU interval "
                       "is too narrow to be represented at this precision")
