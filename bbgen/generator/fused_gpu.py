"""The GPU kernel of the Bounding Box Generator (Triton): thesis Alg. 1, the algorithm and random stream of the CPU
kernel :mod:`bbgen.generator.fused_cpu`.

A program owns a range of boxes (:data:`PROGRAMS_PER_SM` programs per multiprocessor share a call) and runs
``BLOCK`` lanes over it; a lane that finishes a box takes the next one of the range, so lanes do not idle while
the slowest box of a block is still rejecting candidates. Each lane runs the CPU kernel's per-box state
machine — start (random corner order by point reflection), first corner by rejection in its image-clipped
rectangle, second corner given the first, float64 check of the rounded box, start again with later draws on
failure — and
consumes the same pairs of uniforms of the same Philox stream (``tl.philox``: Philox4x32-10, counter
``(draw, index_lo, index_hi, STREAM_BOXES)``, key = the 64-bit seed), one step per loop iteration. So for a seed
the two kernels accept the same candidates and return the same boxes up to float rounding (the GPU may contract
``a * b + c`` into an FMA; the truncated-normal proposal uses ``erf`` where the CPU kernel uses ``erfc``).
All unit-frame arithmetic is float64, as on the CPU.

Tested on CPU with ``TRITON_INTERPRET=1`` (``tests/test_fused_gpu.py``). Importing this module imports triton;
:func:`bbgen.generator.batched.generate_boxes` imports it only for ``backend="triton"`` (or ``"auto"`` on CUDA).
"""
from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl
from torch import Tensor

from .backends import MAX_ATTEMPTS, MAX_TRIES, proposal_code, run_chunked
from .proposals import Proposal

__all__ = ["generate_triton", "BLOCK", "PROGRAMS_PER_SM"]

BLOCK = 128
_ORDER = {"random": 0, "tl": 1, "br": 2}


@triton.jit
def _uni(w):
    return (w.to(tl.float64) + 0.5) * 2.3283064365386963e-10  # 2^-32


@triton.jit
def _x_range(a, b, T):
    """scalar.x_range (thesis Table B.2)."""
    alpha = tl.maximum(a, 0.0)
    beta = tl.maximum(b, 0.0)
    i0 = (1.0 - alpha) * (1.0 - beta)
    c_max = a + (i0 / T + i0 - 1.0) / (1.0 - b)
    c_min = (T - T * a * (1.0 - b) + alpha * (T + 1.0) * (1.0 - beta)) / ((T + 1.0) * (1.0 - beta) - T * (1.0 - b))
    return c_min, c_max


@triton.jit
def _ndtr(x):
    return 0.5 * (1.0 + tl.erf(x * 0.7071067811865476))


@triton.jit
def _ndtri(p):
    """scalar.ndtri: Acklam's approximation on min(p, 1 - p) and one Halley step."""
    q = tl.minimum(p, 1.0 - p)
    t = tl.sqrt(-2.0 * tl.log(tl.maximum(q, 1e-300)))
    tail = (((((-7.784894002430293e-03 * t - 3.223964580411365e-01) * t - 2.400758277161838e+00) * t
              - 2.549732539343734e+00) * t + 4.374664141464968e+00) * t + 2.938163982698783e+00) / \
        ((((7.784695709041462e-03 * t + 3.224671290700398e-01) * t + 2.445134137142996e+00) * t
          + 3.754408661907416e+00) * t + 1.0)
    r = q - 0.5
    s = r * r
    mid = (((((-3.969683028665376e+01 * s + 2.209460984245205e+02) * s - 2.759285104469687e+02) * s
             + 1.383577518672690e+02) * s - 3.066479806614716e+01) * s + 2.506628277459239e+00) * r / \
        (((((-5.447609879822406e+01 * s + 1.615858368580409e+02) * s - 1.556989798598866e+02) * s
           + 6.680131188771972e+01) * s - 1.328068155288572e+01) * s + 1.0)
    x = tl.where(q < 0.02425, tail, mid)
    e = _ndtr(x) - q
    u = e * 2.5066282746310002 * tl.exp(0.5 * x * x)
    x = x - u / (1.0 + 0.5 * x * u)
    x = tl.where(p > 0.5, -x, x)
    x = tl.where(p <= 0.0, -float("inf"), x)
    return tl.where(p >= 1.0, float("inf"), x)


@triton.jit
def _axis(lo, hi, corner, param, w_pick, w_pos, PROP: tl.constexpr):
    """One coordinate of scalar.propose for proposal PROP (0 uniform, 1 normal, 2 inside)."""
    if PROP == 1:
        sigma = tl.maximum(param * (hi - lo), 2.2250738585072014e-308)
        fa = _ndtr((lo - corner) / sigma)
        fb = _ndtr((hi - corner) / sigma)
        x = corner + sigma * _ndtri(fa + (fb - fa) * w_pick)
        x = tl.minimum(tl.maximum(x, lo), hi)
        return tl.where(hi > lo, x, lo)
    elif PROP == 2:
        c = tl.minimum(tl.maximum(corner, lo), hi)
        up = c < 0.5
        in_lo = tl.where(up, c, lo)
        in_hi = tl.where(up, hi, c)
        out_lo = tl.where(up, lo, c)
        out_hi = tl.where(up, c, hi)
        w_in = param * (in_hi - in_lo)
        p_in = w_in / tl.maximum(w_in + (out_hi - out_lo), 2.2250738585072014e-308)
        pick = w_pick < p_in
        return tl.where(pick, in_lo + (in_hi - in_lo) * w_pos, out_lo + (out_hi - out_lo) * w_pos)
    else:
        return lo + (hi - lo) * w_pick


@triton.jit
def _pair(seed, pair, c1, c2):
    """Uniforms of pair ``pair`` of the stream: pair 2k = words (0, 1), pair 2k + 1 = words (2, 3) of call k."""
    zero = tl.zeros_like(c1)
    w0, w1, w2, w3 = tl.philox(seed, (pair >> 1).to(tl.uint32), c1, c2, zero)
    odd = (pair & 1) == 1
    return _uni(tl.where(odd, w2, w0)), _uni(tl.where(odd, w3, w1))


@triton.jit
def _load_t(ptr, mode, r, i, mask, old):
    """Threshold of box ``i`` (row ``r``): mode 1 shared, 2 per row, 3 per box; ``old`` where not ``mask``."""
    j = tl.where(mode == 1, 0, tl.where(mode == 2, r, i))
    return tl.load(ptr + j, mask=mask, other=old)


@triton.jit
def _load_box(ref_ptr, lo_ptr, hi_ptr, reg_ptr, i, num, offset, lo_mode, hi_mode, mask, c1, c2, r0, r1, r2, r3,
              T, T_hi, g0, g1, g2, g3, HAS_REG: tl.constexpr):
    """What a lane needs of box ``i`` where ``mask`` (the lanes that take a new box), the values given elsewhere:
    its stream counter words, reference box, thresholds and region."""
    r = i // num
    idx = (offset + i).to(tl.uint64)
    c1 = tl.where(mask, (idx & 0xFFFFFFFF).to(tl.uint32), c1)
    c2 = tl.where(mask, (idx >> 32).to(tl.uint32), c2)
    r0 = tl.load(ref_ptr + 4 * r, mask=mask, other=r0)
    r1 = tl.load(ref_ptr + 4 * r + 1, mask=mask, other=r1)
    r2 = tl.load(ref_ptr + 4 * r + 2, mask=mask, other=r2)
    r3 = tl.load(ref_ptr + 4 * r + 3, mask=mask, other=r3)
    T = _load_t(lo_ptr, lo_mode, r, i, mask, T)
    T_hi = _load_t(hi_ptr, hi_mode, r, i, mask, T_hi)
    if HAS_REG:
        g0 = tl.load(reg_ptr + 4 * r, mask=mask, other=g0)
        g1 = tl.load(reg_ptr + 4 * r + 1, mask=mask, other=g1)
        g2 = tl.load(reg_ptr + 4 * r + 2, mask=mask, other=g2)
        g3 = tl.load(reg_ptr + 4 * r + 3, mask=mask, other=g3)
    return c1, c2, r0, r1, r2, r3, T, T_hi, g0, g1, g2, g3


@triton.jit
def _boxes_kernel(ref_ptr, lo_ptr, hi_ptr, reg_ptr, out_ptr, iou_ptr, num, start, stop, per_program, offset, seed,
                  param, lo_mode, hi_mode, ORDER: tl.constexpr, PROP: tl.constexpr, HAS_HI: tl.constexpr,
                  HAS_REG: tl.constexpr, F32: tl.constexpr, WANT_IOU: tl.constexpr, MAX_ATTEMPTS: tl.constexpr,
                  MAX_TRIES: tl.constexpr, BLOCK: tl.constexpr):
    # The program owns boxes [first, last) and keeps its BLOCK lanes busy: a lane that finishes a box (accepted, or
    # out of attempts) stores it and takes the next unstarted box of the range, in order (a prefix sum over the
    # finished lanes), with fresh counters. Lockstep lanes that each did one box left ~2/3 of them idle (mean 3.9
    # candidate steps per box, 11.7 for the slowest of 128). Every box still runs on its own stream, so the boxes
    # do not depend on which lane or program ran them.
    first = start + tl.program_id(0).to(tl.int64) * per_program
    last = tl.minimum(first + per_program, stop)
    lane = tl.arange(0, BLOCK)
    i = first + lane
    active = i < last
    fresh = first + BLOCK  # the next box no lane has taken
    zero_f = tl.zeros([BLOCK], tl.float64)
    zero_i = tl.zeros([BLOCK], tl.int32)
    zero_u = zero_i.to(tl.uint32)
    inf = float("inf")
    # idle lanes keep a harmless unit box with T = 0.5 (their arithmetic stays finite)
    c1, c2, r0, r1, r2, r3, T, T_hi, g0, g1, g2, g3 = _load_box(
        ref_ptr, lo_ptr, hi_ptr, reg_ptr, i, num, offset, lo_mode, hi_mode, active, zero_u, zero_u, zero_f, zero_f,
        zero_f + 1.0, zero_f + 1.0, zero_f + 0.5, zero_f + 0.5, zero_f - inf, zero_f - inf, zero_f + inf, zero_f + inf,
        HAS_REG)
    pair, phase, tries, attempts = zero_i.to(tl.int64), zero_i, zero_i, zero_i
    flip = (zero_i + (ORDER == 2)) != 0
    bx, by, t_hi, c_lo, d_lo, c_hi, d_hi = zero_f, zero_f, zero_f, zero_f, zero_f, zero_f, zero_f
    a, b = zero_f, zero_f
    while tl.max(active.to(tl.int32), axis=0) > 0:
        w = r2 - r0
        h = r3 - r1
        u0, u1 = _pair(seed, pair, c1, c2)
        u2, u3 = u0, u1
        if PROP == 2:
            u2, u3 = _pair(seed, pair + 1, c1, c2)
        # phase 0: start an attempt (the coin of the random order: the lowest bit of the first candidate's word)
        start_now = active & (phase == 0)
        if ORDER == 0:
            flip = tl.where(start_now, ((u0 * 4294967296.0).to(tl.int64) & 1) == 1, flip)
        lx = (g0 - r0) / w
        ly = (g1 - r1) / h
        hx = (g2 - r0) / w
        hy = (g3 - r1) / h
        flx = tl.where(flip, 1.0 - hx, lx)
        fly = tl.where(flip, 1.0 - hy, ly)
        fhx = tl.where(flip, 1.0 - lx, hx)
        fhy = tl.where(flip, 1.0 - ly, hy)
        bx = tl.where(start_now, tl.maximum(1.0 - 1.0 / T, flx), bx)
        by = tl.where(start_now, tl.maximum(1.0 - 1.0 / T, fly), by)
        t_hi = tl.where(start_now, 1.0 - T, t_hi)
        tries = tl.where(start_now, 0, tries)
        phase = tl.where(start_now, 1, phase)
        # phase 1: a first-corner candidate (lanes that just started take theirs in the same iteration)
        step = active & (phase == 1)
        ca = _axis(bx, t_hi, 0.0, param, u0, u2, PROP)
        cb = _axis(by, t_hi, 0.0, param, u1, u3, PROP)
        p = 1.0 - ca
        q = 1.0 - cb
        acc = step & (tl.minimum(p, 1.0) * tl.minimum(q, 1.0) * (1.0 + T) >= (p * q + 1.0) * T)
        a = tl.where(acc, ca, a)
        b = tl.where(acc, cb, b)
        cmin, cmax = _x_range(ca, cb, T)
        dmin, dmax = _x_range(cb, ca, T)
        c_lo = tl.where(acc, cmin, c_lo)
        d_lo = tl.where(acc, dmin, d_lo)
        c_hi = tl.where(acc, tl.minimum(cmax, fhx), c_hi)
        d_hi = tl.where(acc, tl.minimum(dmax, fhy), d_hi)
        tries = tl.where(step, tl.where(acc, 0, tries + 1), tries)
        # phase 2: a second-corner candidate given the first
        step2 = active & (phase == 2)
        cc = _axis(c_lo, c_hi, 1.0, param, u0, u2, PROP)
        cd = _axis(d_lo, d_hi, 1.0, param, u1, u3, PROP)
        inter = tl.maximum(tl.minimum(cc, 1.0) - tl.maximum(a, 0.0), 0.0) * \
            tl.maximum(tl.minimum(cd, 1.0) - tl.maximum(b, 0.0), 0.0)
        area = (cc - a) * (cd - b)
        acc2 = inter * (1.0 + T) >= (area + 1.0) * T
        if HAS_HI:
            acc2 = acc2 & ~(inter * (1.0 + T_hi) >= (area + 1.0) * T_hi)
        acc2 = step2 & acc2
        ua = tl.where(flip, 1.0 - cc, a)
        ub = tl.where(flip, 1.0 - cd, b)
        uc = tl.where(flip, 1.0 - a, cc)
        ud = tl.where(flip, 1.0 - b, cd)
        bx1 = r0 + ua * w
        by1 = r1 + ub * h
        bx2 = r0 + uc * w
        by2 = r1 + ud * h
        if F32:
            bx1 = bx1.to(tl.float32).to(tl.float64)
            by1 = by1.to(tl.float32).to(tl.float64)
            bx2 = bx2.to(tl.float32).to(tl.float64)
            by2 = by2.to(tl.float32).to(tl.float64)
        iw = tl.maximum(tl.minimum(bx2, r2) - tl.maximum(bx1, r0), 0.0)
        ih = tl.maximum(tl.minimum(by2, r3) - tl.maximum(by1, r1), 0.0)
        it = iw * ih
        iou = it / ((bx2 - bx1) * (by2 - by1) + w * h - it)
        good = (iou >= tl.minimum(T + 1e-12, 1.0)) & (bx2 > bx1) & (by2 > by1)
        if HAS_HI:
            good = good & (iou < T_hi - 1e-12)
        if HAS_REG:
            good = good & (bx1 >= g0) & (by1 >= g1) & (bx2 <= g2) & (by2 <= g3)
        done = acc2 & good
        tries = tl.where(step2, tl.where(acc2, 0, tries + 1), tries)
        # transitions: consumed pairs, next phase, restarts (a failed check or too many tries)
        consumed = step | step2
        if PROP == 2:
            pair = pair + 2 * consumed.to(tl.int64)
        else:
            pair = pair + consumed.to(tl.int64)
        restart = (acc2 & ~good) | ((step | step2) & (tries >= MAX_TRIES))
        phase = tl.where(acc, 2, phase)
        phase = tl.where(restart, 0, phase)
        attempts = attempts + restart.to(tl.int32)
        # a finished lane stores its box (NaN when out of attempts) and takes the next fresh box of the range
        finished = active & (done | (attempts >= MAX_ATTEMPTS))
        nan = float("nan")
        k = i - start
        tl.store(out_ptr + 4 * k, tl.where(done, bx1, nan), mask=finished)
        tl.store(out_ptr + 4 * k + 1, tl.where(done, by1, nan), mask=finished)
        tl.store(out_ptr + 4 * k + 2, tl.where(done, bx2, nan), mask=finished)
        tl.store(out_ptr + 4 * k + 3, tl.where(done, by2, nan), mask=finished)
        if WANT_IOU:
            tl.store(iou_ptr + k, tl.where(done, iou, nan), mask=finished)
        taken = finished.to(tl.int64)
        i = tl.where(finished, fresh + tl.cumsum(taken, axis=0) - taken, i)
        fresh = fresh + tl.sum(taken, axis=0)
        refill = finished & (i < last)
        active = (active & ~finished) | refill
        c1, c2, r0, r1, r2, r3, T, T_hi, g0, g1, g2, g3 = _load_box(
            ref_ptr, lo_ptr, hi_ptr, reg_ptr, i, num, offset, lo_mode, hi_mode, refill, c1, c2, r0, r1, r2, r3, T,
            T_hi, g0, g1, g2, g3, HAS_REG)
        pair = tl.where(refill, 0, pair)
        phase = tl.where(refill, 0, phase)
        tries = tl.where(refill, 0, tries)
        attempts = tl.where(refill, 0, attempts)


PROGRAMS_PER_SM = 4  # programs in flight per multiprocessor (float64 state: a few per SM fit in the registers)


@functools.cache
def _programs(dev: torch.device) -> int:
    """Programs a call is spread over: enough to fill the GPU, few enough that each lane runs many boxes."""
    if dev.type != "cuda":  # the Triton interpreter on CPU tensors
        return 2
    return PROGRAMS_PER_SM * torch.cuda.get_device_properties(dev).multi_processor_count


def _mode(t: Tensor | None, n: int) -> int:
    if t is None or t.numel() == 1:
        return 1
    return 2 if t.shape[0] == n and t.shape[1] == 1 else 3


def generate_triton(ref: Tensor, lo: Tensor, hi: Tensor | None, region: Tensor | None, num: int, order: str,
                    prop: Proposal, seed: int, offset: int, with_iou: bool = False, block: int = BLOCK,
                    per_program: int | None = None, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor | None]:
    """The triton backend on validated inputs (as :func:`bbgen.generator.batched.generate_numba`), on the device of
    ``ref`` (CUDA; CPU tensors under ``TRITON_INTERPRET=1``, where a small ``block`` of lanes is faster).

    Parameters
    ----------
    ref : Tensor[N, 4]
        reference boxes, float32 or float64.
    lo, hi : Tensor[1, 1], Tensor[N, 1] or Tensor[N, num]
        float64 thresholds; ``hi`` None in threshold mode.
    region : Tensor[N, 4] or None
        allowed image regions.
    num, order : int, str
        boxes per reference box; ``"random"``, ``"tl"`` or ``"br"``.
    prop : callable
        a built-in proposal.
    seed, offset : int
        the Philox key and the stream index of the first box.
    with_iou : bool
        also return the verified IoUs.
    block : int
        lanes (boxes in flight) per Triton program.
    per_program : int, optional
        boxes per program (its lanes take them one after the other); default: the call spread over
        :data:`PROGRAMS_PER_SM` programs per multiprocessor, at least ``block``.
    dtype : torch.dtype, optional
        of the boxes, float32 or float64 (default: ``ref``'s): the boxes are rounded to it and verified on the
        rounded values, so float64 references (the pRoI plan) can give float32 boxes.

    Returns ``(boxes [N, num, 4], iou [N, num] float64 or None)``; raises ``RuntimeError`` if a box fails."""
    n, total, dev = ref.shape[0], ref.shape[0] * num, ref.device
    dtype = ref.dtype if dtype is None else dtype
    out = torch.empty((total, 4), dtype=dtype, device=dev)
    out_iou = torch.empty(total if with_iou else 1, dtype=torch.float64, device=dev)
    if total == 0:
        return out.reshape(n, num, 4), out_iou[:0].reshape(n, num) if with_iou else None
    r64 = ref.to(torch.float64).contiguous()
    lo64 = lo.to(torch.float64).reshape(-1).contiguous()
    hi64 = lo64 if hi is None else hi.to(torch.float64).reshape(-1).contiguous()
    reg = r64 if region is None else region.to(device=dev, dtype=torch.float64).contiguous()
    code, param = proposal_code(prop)

    def body(start: int, stop: int) -> int:
        each = per_program or max(block, triton.cdiv(stop - start, _programs(dev)))
        grid = (triton.cdiv(stop - start, each),)
        _boxes_kernel[grid](r64, lo64, hi64, reg, out[start:], out_iou[start:] if with_iou else out_iou, num,
                            start, stop, each, offset, seed, param, _mode(lo, n), _mode(hi, n), ORDER=_ORDER[order],
                            PROP=code, HAS_HI=hi is not None, HAS_REG=region is not None,
                            F32=dtype == torch.float32, WANT_IOU=with_iou, MAX_ATTEMPTS=MAX_ATTEMPTS,
                            MAX_TRIES=MAX_TRIES, BLOCK=block)
        return 0

    run_chunked(total, body, "generate_boxes")
    nan = torch.isnan(out[:, 0])
    if bool(nan.any()):
        row = int(nan.nonzero()[0, 0]) // num
        raise RuntimeError(f"generate_boxes: {int(nan.sum())} box(es) could not meet their constraint in "
                           f"{dtype} (e.g. ref_boxes[{row}] = {ref[row].tolist()}); the IoU interval is too "
                           "narrow to be represented at this precision")
    return out.reshape(n, num, 4), out_iou.reshape(n, num) if with_iou else None
