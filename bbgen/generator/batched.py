"""Batched box generation: thesis Alg. 1 for millions of boxes.

:func:`generate_boxes` validates its arguments once and dispatches (:mod:`bbgen.generator.backends`) to a compiled
kernel — numba on CPU (:func:`generate_numba`, :mod:`bbgen.generator.fused_cpu`), Triton on CUDA
(:mod:`bbgen.generator.fused_gpu`) — or to the torch-op path of this module, the reference implementation
(``backend="torch"``, and any callable proposal). The torch-op path runs GENERATEBB for every (reference box,
threshold) pair at once with torch tensor ops (docs/architecture.md, "Data flow"):

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
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from .. import _validate
from .._typing import BoxesLike, ImageSizeLike, ThresholdLike
from ..boxes import check_boxes, from_unit_frame
from .feasible import tl_area
from .reference import (first_corner_ok, first_corner_rect, meets_constraint, reflect, second_corner_ok,
                        second_rect, unit_image_bounds)
from .proposals import Proposal, get_proposal, sample_batched
from .backends import as_numpy, check_memory, draw_seed, proposal_code, resolve_backend, run_chunked

__all__ = ["generate_boxes", "generate_validated", "generate_numba", "candidates_per_round"]

# Rows per chunk x candidates: bounds peak memory (~30 temporaries of this many elements) and keeps the
# working set cache-friendly on CPU.
_CHUNK_ELEMENTS = 1 << 20
_MAX_VERIFY_ROUNDS = 32


def candidates_per_round(T_min: float, straggler_rate: float = 0.05, rows: int | None = None) -> int:
    """Candidates per row in the first round so that about ``straggler_rate`` of rows need the fallback.

    Parameters
    ----------
    T_min : float
        The smallest IoU threshold of the batch; ``T_min >= 1`` needs one candidate.
    straggler_rate : float, default 0.05
        Target fraction of rows that find no point in the first round and fall through to the fallback.
    rows : int, optional
        Rows of the batch. For a small batch (``rows <= 4096``) the rate is lowered until about 0.1 straggler
        is expected in the whole batch: there a fallback round costs far more (fixed per-op overhead) than
        extra candidates.

    Returns
    -------
    int
        Candidates per row, in ``[2, 64]`` (1 when ``T_min >= 1``).

    Notes
    -----
    Uses the exact acceptance probability of a uniform proposal over the TL rectangle,
    ``tl_area(T) / (1/T - T)^2`` (≈ 0.5 for T >= 0.3, 0.055 at T = 0.01).
    """
    if T_min >= 1.0:
        return 1
    if rows is not None and rows <= 4096:
        straggler_rate = min(straggler_rate, 0.1 / rows)
    p = float(tl_area(T_min)) / (1.0 / T_min - T_min) ** 2
    p = min(max(p, 1e-3), 1.0 - 1e-9)
    return int(min(64, max(2, math.ceil(math.log(straggler_rate) / math.log1p(-p)))))


def _unit_boxes(ref: Tensor, lo: Tensor, hi: Tensor | None, region: Tensor | None, flip: Tensor, proposal: Proposal,
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


def generate_boxes(ref_boxes: BoxesLike, iou: ThresholdLike, *, num: int = 1, max_iou: Optional[ThresholdLike] = None,
                   order: str = "random", proposal: Union[str, Proposal] = "uniform", image_size: ImageSizeLike = None,
                   generator: torch.Generator | int | None = None, backend: str = "auto", offset: int = 0) -> Tensor:
    """Generate ``num`` boxes around each reference box with an exact IoU constraint (thesis Alg. 1, batched).

    Parameters
    ----------
    ref_boxes : Tensor[N, 4]
        float32/float64 boxes ``[x1, y1, x2, y2]`` (tensor or ndarray), any device.
    iou : float, Tensor[N] or Tensor[N, num]
        threshold ``T`` in ``(0, 1]``.
    num : int
        boxes per reference box.
    max_iou : None, float, Tensor[N] or Tensor[N, num]
        ``None`` (threshold mode, ``IoU >= T``) or the interval mode's upper bound (``T <= IoU < max_iou``).
    order : str
        ``"random"`` (paper), ``"tl"`` or ``"br"`` — which corner is sampled first.
    proposal : str or callable
        relative spatial control, ``"uniform"`` (paper), ``"normal"``, ``"inside"`` (or an instance of
        :class:`~bbgen.generator.proposals.TruncatedNormal` / :class:`~bbgen.generator.proposals.InsideBiased`)
        or a callable (see :mod:`bbgen.generator.proposals`; a callable runs on the torch backend only).
    image_size : (W, H), Tensor[N, 2] or Tensor[N, 4]
        boxes stay inside ``[0, W] x [0, H]``, or inside ``[N, 4]`` allowed regions
        ``[x_min, y_min, x_max, y_max]``. Each ``ref`` must lie inside its image/region.
    generator : torch.Generator, int or None
        ``torch.Generator`` on the device of ``ref_boxes``, or an int seed. The compiled backends draw one
        64-bit seed from it and take every random number from a counter-based stream
        (:mod:`bbgen.generator.philox`): the same seed gives bit-identical boxes whatever the number of threads.
    backend : str
        ``"auto"`` (numba for CPU tensors, triton for CUDA tensors, torch for a callable proposal), ``"numba"``,
        ``"triton"`` or ``"torch"`` (the tensor-op reference path); see :mod:`bbgen.generator.backends`.
    offset : int
        index of the first box in the random stream (compiled backends): boxes ``[i0:i1]`` of a call with
        ``offset=0`` equal those of a call on ``ref_boxes[i0:i1]`` with ``offset=i0 * num`` and the same seed.

    Returns
    -------
    Tensor[N, num, 4] with ``ref_boxes``' dtype and device. Every box satisfies its constraint when its IoU
    with the reference is evaluated in float64 on the returned coordinates.

    Notes
    -----
    Memory: the output takes ``N·num·4·itemsize`` bytes (16 per box in float32); the compiled backends need
    nothing else per box (thresholds given per box add 8 bytes per box each), the torch backend about 30 temporaries
    per box of a chunk. A call whose output cannot fit in this machine's memory raises ``ValueError`` before
    allocating; more than the memory available now gives a ``ResourceWarning``. From ~33 M boxes on the
    compiled backends work in chunks and show a tqdm progress bar.
    """
    ref = _validate.ref_boxes_2d(ref_boxes, values=False)
    dev, n = ref.device, ref.shape[0]
    num = _validate.count(num, "num")
    offset = _validate.count(offset, "offset")
    order = _validate.order(order)
    prop = get_proposal(proposal)
    which = resolve_backend(backend, dev, prop)
    # the numba kernel checks every reference box and threshold as it reads them (a bad one fails its row, and
    # _check_values names it): no torch passes over 1e6 boxes, whose OpenMP threads would then spin against the
    # kernel's own for the two cores (measured: 9 of 68 ms for 1e6 boxes on 2 threads)
    lo = _compact_thresholds(iou, n, num, "iou", dev)
    hi = None if max_iou is None else _compact_thresholds(max_iou, n, num, "max_iou", dev)
    if which != "numba":
        _check_values(ref, lo, hi)
    region = _validate.image_sizes(image_size, ref)
    check_memory(n * num, ref.dtype, "generate_boxes")
    if which == "torch":
        if offset:
            raise ValueError(f"offset={offset} needs a counter-based backend ('numba' or 'triton'), got backend='torch'")
        lo, hi = (None if t is None else t.expand(n, num).contiguous() for t in (lo, hi))
        return generate_validated(ref, lo, hi, region, order, prop, _validate.as_generator(generator, dev))[0]
    seed = draw_seed(generator, dev)
    if which == "numba":
        return generate_numba(ref, lo, hi, region, num, order, prop, seed, offset)[0]
    from .fused_gpu import generate_triton  # noqa: PLC0415 (imports triton)

    return generate_triton(ref, lo, hi, region, num, order, prop, seed, offset)[0]


def _compact_thresholds(value: ThresholdLike, n: int, num: int, name: str, dev: torch.device) -> Tensor:
    """A threshold checked by :func:`bbgen._validate.thresholds` but not broadcast: float64 ``[1, 1]`` (scalar),
    ``[N, 1]`` (per reference box) or ``[N, num]`` (per box)."""
    shape = tuple(value.shape) if isinstance(value, Tensor) else np.shape(value)
    if len(shape) == 0:
        return _validate.thresholds(value, 1, 1, name, dev)
    return _validate.thresholds(value, n, 1 if shape == (n,) else num, name, dev, values=False)


def _check_values(ref: Tensor, lo: Tensor, hi: Tensor | None) -> None:
    """The value checks of :func:`generate_boxes` (finite positive boxes, thresholds in (0, 1], ``iou < max_iou``):
    before a torch or triton call, after a numba call that failed rows (its kernel flags bad inputs)."""
    check_boxes(ref, "ref_boxes")
    _validate.threshold_values(lo, "iou")
    if hi is not None:
        _validate.threshold_values(hi, "max_iou")
        _validate.interval(*torch.broadcast_tensors(lo, hi))


_ORDER_CODES = {"random": 0, "tl": 1, "br": 2}


def generate_numba(ref: Tensor, lo: Tensor, hi: Tensor | None, region: Tensor | None, num: int, order: str,
                   prop: Proposal, seed: int, offset: int, with_iou: bool = False) -> tuple[Tensor, Tensor | None]:
    """The numba backend (:func:`bbgen.generator.fused_cpu.boxes_kernel`) on validated CPU inputs.

    Parameters
    ----------
    ref : Tensor[N, 4]
        Reference boxes on the CPU, float32 or float64.
    lo : Tensor[1, 1], Tensor[N, 1] or Tensor[N, num]
        float64 lower IoU thresholds (:func:`_compact_thresholds`).
    hi : Tensor[1, 1], Tensor[N, 1], Tensor[N, num] or None
        float64 upper IoU bounds of the interval mode; ``None``: threshold mode.
    region : Tensor[N, 4] or None
        Allowed image regions ``[x_min, y_min, x_max, y_max]``; ``None``: no image.
    num : int
        Boxes per reference box.
    order : {"random", "tl", "br"}
        Which corner is sampled first.
    prop : Proposal
        A resolved proposal (:func:`bbgen.generator.proposals.get_proposal`).
    seed : int
        64-bit seed of the counter-based stream (:mod:`bbgen.generator.philox`).
    offset : int
        Index of the first box in the random stream.
    with_iou : bool, default False
        Also return the float64 IoU of every box with its reference.

    Returns
    -------
    boxes : Tensor[N, num, 4]
        In ``ref``'s dtype.
    iou : Tensor[N, num] float64 or None
        ``None`` unless ``with_iou``.

    Raises
    ------
    RuntimeError
        If a box fails its constraint.
    """
    from . import fused_cpu  # noqa: PLC0415 (imports numba)

    n, total = ref.shape[0], ref.shape[0] * num
    out = torch.empty((total, 4), dtype=ref.dtype)
    out_iou = torch.empty(total, dtype=torch.float64) if with_iou else None
    if total == 0:
        return out.reshape(n, num, 4), None if out_iou is None else out_iou.reshape(n, num)
    fused_cpu.set_threads(torch.get_num_threads())
    r_np = as_numpy(ref)  # float32 or float64: the kernel reads either (no float64 copy of 1e6 boxes)
    lo_np, hi_np = (None if t is None else as_numpy(t.reshape(-1)) for t in (lo, hi))
    reg_np = as_numpy(region)
    code, param = proposal_code(prop)
    out_np, iou_np = out.numpy(), None if out_iou is None else out_iou.numpy()

    def body(start: int, stop: int) -> int:
        return fused_cpu.boxes_kernel(r_np, lo_np, hi_np, reg_np, num, _ORDER_CODES[order], code, param, seed,
                                      offset, start, stop, out_np[start:stop],
                                      None if iou_np is None else iou_np[start:stop])

    if run_chunked(total, body, "generate_boxes"):
        _check_values(ref, lo, hi)  # a bad input raises here, naming it
        bad = int(torch.isnan(out[:, 0]).nonzero()[0, 0])
        _fail(ref, bad // num, int((torch.isnan(out[:, 0])).sum()))
    return out.reshape(n, num, 4), None if out_iou is None else out_iou.reshape(n, num)


def _fail(ref: Tensor, row: int, count: int) -> None:
    raise RuntimeError(f"generate_boxes: {count} box(es) could not meet their constraint in {ref.dtype} "
                       f"after {_MAX_VERIFY_ROUNDS} passes (e.g. ref_boxes[{row}] = {ref[row].tolist()}); the IoU "
                       "interval is too narrow to be represented at this precision")


def generate_validated(ref: Tensor, lo: Tensor, hi: Tensor | None, region: Tensor | None, order: str,
                       prop: Proposal, g: torch.Generator, t_min: float | None = None) -> tuple[Tensor, Tensor]:
    """:func:`generate_boxes` after argument checking (the torch backend), for callers that built valid inputs
    themselves (:func:`bbgen.roi.proi.generate_prois`).

    Parameters
    ----------
    ref : Tensor[N, 4]
        Reference boxes.
    lo : Tensor[N, num]
        float64 lower IoU thresholds.
    hi : Tensor[N, num] or None
        float64 upper IoU bounds of the interval mode; ``None``: threshold mode.
    region : Tensor[N, 4] or None
        float64 allowed image regions; ``None``: no image.
    order : {"random", "tl", "br"}
        Which corner is sampled first.
    prop : Proposal
        A resolved proposal (:func:`bbgen.generator.proposals.get_proposal`).
    g : torch.Generator
        Source of all randomness, on ``ref``'s device.
    t_min : float, optional
        A lower bound of ``lo`` if the caller knows one (saves a host sync), else ``lo.min()``.

    Returns
    -------
    boxes : Tensor[N, num, 4]
        The boxes, in ``ref``'s dtype.
    iou : Tensor[N, num]
        Their float64 IoU with the reference, as verified.
    """
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
    _fail(ref, int(pending[0]) // num, pending.numel())
