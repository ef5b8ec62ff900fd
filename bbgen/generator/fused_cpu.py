"""The CPU kernel of the Bounding Box Generator: thesis Alg. 1 complete in one compiled loop per box (numba).

:func:`boxes_kernel` runs GENERATEBB for boxes ``start .. stop - 1`` of a call, ``prange`` over blocks of
:data:`BLOCK` boxes walked row by row (the reference box's constants computed once per row), each box from start
to end in registers (:func:`one_box`). A box whose reference is not finite with positive extent, or whose
threshold is outside (0, 1] (``T < hi <= 1`` in interval mode), is not generated but counted as failed: the kernel
is where :func:`bbgen.generator.batched.generate_boxes` checks these values, and names the bad one afterwards.

1. random corner order (``order`` 0): a coin decides whether the problem is point-reflected through the centre
   of the reference box (BR first, design §1); the coin is the lowest bit of the first candidate's first word
   (independent of the word's upper 31 bits, so the candidate moves by less than 2^-32), no uniform of its own;
2. first corner by rejection in its bounding rectangle ``[1 - 1/T, 1 - T]^2`` (Eq. 4.1) clipped to the image,
   accepted by the exact TL test (Table B.1);
3. second corner by rejection in its rectangle given the first (Table B.2) clipped to the image, accepted by
   ``T <= IoU`` (``< hi`` in interval mode; Tables B.2–B.3);
4. mapped to image coordinates, rounded to the output dtype (float32 / float64) and verified in float64 on the
   rounded coordinates (IoU constraint with the margin of :data:`bbgen._validate.IOU_MARGIN`, positive extent,
   image region); a box that fails starts again with fresh counters (later draws of its own stream).

Candidates come from the built-in proposals (:func:`bbgen.generator.scalar.propose`); random numbers from the
counter-based stream of :mod:`bbgen.generator.philox` keyed by ``(seed, STREAM_BOXES, offset + i, draw)``, so the
output does not depend on the number of threads or on how the boxes are split over calls. The formulas are
those of :mod:`bbgen.generator.scalar` (tested equal to :mod:`bbgen.generator.feasible`).

Compiled once per output dtype and cached on disk (``cache=True``; numba's cache next to this file, or its
per-user cache directory when the package is installed read-only; if neither is writable,
``$TMPDIR/bbgen-numba-cache``). Importing this module imports numba; :mod:`bbgen.generator.backends` imports
it only when a compiled kernel is used.
"""
from __future__ import annotations

import math
import os
import tempfile

import numba
import numpy as np
from numba import prange

from .. import _validate
from . import philox as _philox
from . import scalar as _scalar
from .backends import MAX_ATTEMPTS, MAX_TRIES

__all__ = ["boxes_kernel", "one_box", "set_threads", "use_parallel", "SERIAL_BELOW"]


def _ensure_cache_dir() -> None:
    """Point numba at a writable cache when neither this package's directory nor the user cache is writable."""
    if numba.config.CACHE_DIR or os.access(os.path.dirname(__file__), os.W_OK):
        return
    user = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "numba")
    probe = user if os.path.isdir(user) else os.path.dirname(user)
    if not os.access(probe, os.W_OK):
        numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(), "bbgen-numba-cache")


_ensure_cache_dir()
# numba's OpenMP layer and torch's OpenMP runtime in one process make every later torch op ~50x slower (measured:
# 0.26 -> 18 ms for a 1e6-element op); the workqueue layer does not. Not for concurrent calls from several Python
# threads; set NUMBA_THREADING_LAYER to choose another layer.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

SERIAL_BELOW = 4096  # fewer boxes: the serial twin (no thread start-up)

_njit = numba.njit(cache=True, error_model="numpy")  # numpy error model: no zero-division checks
_philox4x32 = _njit(_philox.philox4x32)  # a call: ten rounds inlined at every draw site would bloat the loop
_philox4x32_simd = numba.njit(cache=True, inline="always")(_philox.philox4x32)  # inlined: vectorisable
_x_range, _in_tl, _in_br = _scalar.x_range, _scalar.in_tl_space, _scalar.in_br_space
_iou, _propose = _scalar.iou, _scalar.propose
_IOU_MARGIN = _validate.IOU_MARGIN
_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_TWO_32 = 2.0 ** 32
_STREAM = np.uint64(_philox.STREAM_BOXES)


@_njit
def _uni(w):
    """:func:`bbgen.generator.philox.uniform` of a word < 2^32, converted as a signed integer (the same value;
    x86 has no unsigned 64-bit conversion instruction)."""
    return (np.float64(np.int64(w)) + 0.5) * _philox.TWO_M32


@_njit
def _pair(pair, s0, s1, pre, j, idx, k0, k1):
    """Pair ``pair`` of box ``idx``'s uniforms in (0, 1): words (0, 1) of Philox call ``pair // 2`` (counter
    ``(pair // 2, idx_lo, idx_hi, STREAM_BOXES)``) for even ``pair``, words (2, 3) for odd — the pairs of the GPU
    kernel. The first ``pre.shape[0] // 2`` pairs come from ``pre[:, j]`` (drawn for a block of boxes at once by
    :func:`_predraw`); of a later call the odd pair is the one kept in ``(s0, s1)``. Returns
    ``(x, y, pair + 1, s0, s1)``."""
    if 2 * pair < pre.shape[0]:
        return pre[2 * pair, j], pre[2 * pair + 1, j], pair + 1, s0, s1
    if pair & 1:
        return s0, s1, pair + 1, s0, s1
    w0, w1, w2, w3 = _philox4x32(np.uint64(pair >> 1), idx & _M32, idx >> _S32, _STREAM, k0, k1)
    return _uni(w0), _uni(w1), pair + 1, _uni(w2), _uni(w3)


PRE_CALLS = 3  # Philox calls per box drawn ahead for a block (6 pairs: most boxes need no other)


@_njit
def _predraw(first, count, k0, k1, pre):
    """The first :data:`PRE_CALLS` Philox calls of boxes ``first .. first + count - 1`` into
    ``pre[:4 * PRE_CALLS, :count]`` as uniforms (pair ``p`` of box ``j`` in ``pre[2p, j], pre[2p + 1, j]``): an
    inner loop over boxes without branches into contiguous rows, which LLVM vectorises (AVX2/AVX-512: ~3 ns
    a call instead of ~16) — the very numbers :func:`_pair` would draw one by one."""
    for c in range(PRE_CALLS):
        for j in range(count):
            idx = np.uint64(first + j)
            w0, w1, w2, w3 = _philox4x32_simd(np.uint64(c), idx & _M32, idx >> _S32, _STREAM, k0, k1)
            pre[4 * c, j], pre[4 * c + 1, j], pre[4 * c + 2, j], pre[4 * c + 3, j] = \
                _uni(w0), _uni(w1), _uni(w2), _uni(w3)


@_njit
def _round(x, f32):
    return np.float64(np.float32(x)) if f32 else x


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sample(second, lx, ly, hx, hy, a, b, T, hi, has_hi, prop, param, have, p0, p1, pair, s0, s1, pre, j, idx,
            k0, k1):
    """samplePolygon: the first accepted of up to :data:`MAX_TRIES` candidates in ``[lx, hx] x [ly, hy]`` — a first
    corner in the TL space of ``T``, or (``second``) a second corner given the first ``(a, b)``; the first
    candidate's pair is ``(p0, p1)`` when ``have`` (already drawn). Returns ``(x, y, found)`` and the stream state
    ``(pair, s0, s1)``."""
    for _ in range(MAX_TRIES):
        if have:
            u0, u1, have = p0, p1, False
        else:
            u0, u1, pair, s0, s1 = _pair(pair, s0, s1, pre, j, idx, k0, k1)
        u2, u3 = 0.0, 0.0
        if prop == 2:  # inside-biased: a second pair for the positions
            u2, u3, pair, s0, s1 = _pair(pair, s0, s1, pre, j, idx, k0, k1)
        x, y = _propose(lx, ly, hx, hy, 1.0 if second else 0.0, prop, param, u0, u1, u2, u3)
        if _in_br(a, b, x, y, T, hi, has_hi) if second else _in_tl(x, y, T):
            return x, y, True, pair, s0, s1
    return 0.0, 0.0, False, pair, s0, s1


@numba.njit(cache=True, error_model="numpy", inline="always")  # inlined into the loop: 18% faster
def _box(r0, r1, r2, r3, w, h, T, t_lo, lo_ok, hi, has_hi, g0, g1, g2, g3, ux0, uy0, ux1, uy1, has_reg, order,
         prop, param, k0, k1, idx, f32, pre, j):
    """:func:`one_box` with the per-reference constants precomputed (hoisted out of a row's boxes): ``w, h``,
    ``t_lo = 1 - 1/T``, ``lo_ok``, and the region in the unit frame ``[ux0, ux1] x [uy0, uy1]``; the box's first
    pairs drawn ahead in ``pre[j]`` (see :func:`_pair`)."""
    pair, s0, s1 = 0, 0.0, 0.0
    t_hi = 1.0 - T
    for _ in range(MAX_ATTEMPTS):
        flip, have, p0, p1 = order == 2, False, 0.0, 0.0
        if order == 0:  # the coin: the lowest bit of the first candidate's word ((w + 0.5) 2^-32 -> w)
            p0, p1, pair, s0, s1 = _pair(pair, s0, s1, pre, j, idx, k0, k1)
            flip, have = (np.uint64(p0 * _TWO_32) & _ONE) == _ONE, True
        lx, ly, hx, hy = ux0, uy0, ux1, uy1  # image region in the unit frame, point-reflected with the problem
        if flip:
            lx, ly, hx, hy = 1.0 - ux1, 1.0 - uy1, 1.0 - ux0, 1.0 - uy0
        # Alg. 1 lines 3-4: first corner in its rectangle (Eq. 4.1) clipped to the image
        a, b, found, pair, s0, s1 = _sample(False, max(t_lo, lx), max(t_lo, ly), t_hi, t_hi, 0.0, 0.0, T, hi,
                                              has_hi, prop, param, have, p0, p1, pair, s0, s1, pre, j, idx, k0, k1)
        if not found:
            continue
        # Alg. 1 lines 6-7: second corner in its rectangle given the first (Table B.2) clipped to the image
        c_min, c_max = _x_range(a, b, T)
        d_min, d_max = _x_range(b, a, T)
        c_max, d_max = min(c_max, hx), min(d_max, hy)
        c, d, found, pair, s0, s1 = _sample(True, c_min, d_min, c_max, d_max, a, b, T, hi, has_hi, prop, param,
                                            False, 0.0, 0.0, pair, s0, s1, pre, j, idx, k0, k1)
        if not found:
            continue
        if flip:
            a, b, c, d = 1.0 - c, 1.0 - d, 1.0 - a, 1.0 - b
        x1, y1 = _round(r0 + a * w, f32), _round(r1 + b * h, f32)
        x2, y2 = _round(r0 + c * w, f32), _round(r1 + d * h, f32)
        # final check in float64 on the returned coordinates (reference.meets_constraint)
        v = _iou(x1, y1, x2, y2, r0, r1, r2, r3)
        ok = v >= lo_ok and x2 > x1 and y2 > y1
        if has_hi:
            ok = ok and v < hi - _IOU_MARGIN
        if has_reg:
            ok = ok and x1 >= g0 and y1 >= g1 and x2 <= g2 and y2 <= g3
        if ok:
            return x1, y1, x2, y2, v, True
    return math.nan, math.nan, math.nan, math.nan, math.nan, False


@_njit
def _unit_region(r0, r1, w, h, g0, g1, g2, g3, has_reg):
    """The image region in the unit frame of the reference box (unbounded without one)."""
    if has_reg:
        return (g0 - r0) / w, (g1 - r1) / h, (g2 - r0) / w, (g3 - r1) / h
    return -math.inf, -math.inf, math.inf, math.inf


@_njit
def one_box(r0, r1, r2, r3, T, hi, has_hi, g0, g1, g2, g3, has_reg, order, prop, param, k0, k1, idx, f32):
    """GENERATEBB for one box (module docstring).

    Parameters
    ----------
    r0, r1, r2, r3 : float
        the reference box.
    T, hi, has_hi : float, float, bool
        threshold, and the interval mode's upper bound when ``has_hi``.
    g0, g1, g2, g3, has_reg : float, float, float, float, bool
        the allowed image region when ``has_reg``.
    order, prop, param : int, int, float
        corner order (0 random, 1 TL, 2 BR), proposal id and parameter.
    k0, k1, idx : uint64
        Philox key and the box's global index in the stream.
    f32 : bool
        round the output to float32.

    Returns ``(x1, y1, x2, y2, iou, ok)``: the box in the output dtype's values (as float64) and its verified
    float64 IoU; ``ok`` is False only when no box passed the final check in :data:`MAX_ATTEMPTS` attempts.
    """
    w, h = r2 - r0, r3 - r1
    ux0, uy0, ux1, uy1 = _unit_region(r0, r1, w, h, g0, g1, g2, g3, has_reg)
    return _box(r0, r1, r2, r3, w, h, T, 1.0 - 1.0 / T, min(T + _IOU_MARGIN, 1.0), hi, has_hi, g0, g1, g2, g3,
                ux0, uy0, ux1, uy1, has_reg, order, prop, param, k0, k1, idx, f32, _NO_PRE, 0)


_NO_PRE = np.zeros((0, 1))  # one_box draws every pair itself
BLOCK = 256  # boxes per work item of the loop: one division ``i // num`` per block, row constants per row


@_njit
def _block(blk, count, ref, lo, hi, has_hi, region, has_reg, num, order, prop, param, k0, k1, offset, start,
           out, out_iou, want_iou, f32):
    """Boxes ``k = blk * BLOCK ..`` (flat index ``start + k = row * num + col``) into ``out[k]``, walking rows and
    columns (the row's constants computed once per row); returns the number that failed."""
    n_rows, n_lo, n_hi = ref.shape[0], lo.shape[0], hi.shape[0]
    lo_box, hi_box = n_lo > 1 and n_lo != n_rows, n_hi > 1 and n_hi != n_rows
    k_end = min(count, (blk + 1) * BLOCK)
    k = blk * BLOCK
    pre = np.empty((4 * PRE_CALLS, k_end - k))
    _predraw(offset + start + k, k_end - k, k0, k1, pre)
    k_first = k
    r = (start + k) // num
    col = start + k - r * num
    failed = 0
    while k < k_end:
        r0, r1, r2, r3 = np.float64(ref[r, 0]), np.float64(ref[r, 1]), np.float64(ref[r, 2]), np.float64(ref[r, 3])
        w, h = r2 - r0, r3 - r1
        g = r if has_reg else 0
        g0, g1, g2, g3 = region[g, 0], region[g, 1], region[g, 2], region[g, 3]
        ux0, uy0, ux1, uy1 = _unit_region(r0, r1, w, h, g0, g1, g2, g3, has_reg)
        T = lo[0] if n_lo == 1 else lo[r]
        u = hi[0] if n_hi == 1 else hi[r]
        t_lo, lo_ok = 1.0 - 1.0 / T, min(T + _IOU_MARGIN, 1.0)
        # the caller's value checks, here where each value is read (batched._check_values names a bad one):
        # finite with positive extent (NaN fails every comparison), 0 < T <= 1, T < hi <= 1
        row_ok = -math.inf < r0 and -math.inf < r1 and r2 < math.inf and r3 < math.inf and w > 0.0 and h > 0.0
        stop = min(k_end, k + num - col)
        while k < stop:
            i = start + k
            if lo_box:
                T = lo[i]
                t_lo, lo_ok = 1.0 - 1.0 / T, min(T + _IOU_MARGIN, 1.0)
            if hi_box:
                u = hi[i]
            x1, y1, x2, y2, v, ok = math.nan, math.nan, math.nan, math.nan, math.nan, False
            if row_ok and 0.0 < T <= 1.0 and (not has_hi or T < u <= 1.0):
                x1, y1, x2, y2, v, ok = _box(r0, r1, r2, r3, w, h, T, t_lo, lo_ok, u, has_hi, g0, g1, g2, g3,
                                             ux0, uy0, ux1, uy1, has_reg, order, prop, param, k0, k1,
                                             np.uint64(offset + i), f32, pre, k - k_first)
            out[k, 0], out[k, 1], out[k, 2], out[k, 3] = x1, y1, x2, y2
            if want_iou:
                out_iou[k] = v
            failed += 0 if ok else 1
            k += 1
        r, col = r + 1, 0
    return failed


# the same loop twice (numba caches by function, so a parallel and a serial build of one function would collide)
@numba.njit(cache=True, error_model="numpy", parallel=True)
def _loop_parallel(count, *args):
    failed = 0
    for blk in prange((count + BLOCK - 1) // BLOCK):
        failed += _block(blk, count, *args)
    return failed


@_njit
def _loop_serial(count, *args):
    failed = 0
    for blk in range((count + BLOCK - 1) // BLOCK):
        failed += _block(blk, count, *args)
    return failed


def set_threads(num_threads: int) -> int:
    """Use ``num_threads`` numba threads (capped at numba's pool size); returns the number used.

    Parameters
    ----------
    num_threads : int
        usually ``torch.get_num_threads()``.
    """
    threads = max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    return threads


def use_parallel(count: int) -> bool:
    """Whether ``count`` items go to the parallel loop: enough of them to pay for waking the thread pool. With one
    thread too: numba compiles the ``prange`` body better than the plain loop (6.9 vs 5.9 M boxes/s measured).

    Parameters
    ----------
    count : int
        boxes in the call.
    """
    return count >= SERIAL_BELOW


def boxes_kernel(ref: np.ndarray, lo: np.ndarray, hi: np.ndarray | None, region: np.ndarray | None, num: int,
                 order: int, prop: int, param: float, seed: int, offset: int, start: int, stop: int,
                 out: np.ndarray, out_iou: np.ndarray | None) -> int:
    """Generate boxes ``start .. stop - 1`` of a call (flat index ``row * num + col``) into ``out [stop - start, 4]``.

    Parameters
    ----------
    ref : ndarray[N, 4] float32 or float64, the reference boxes (validated; read as float64).
    lo : ndarray[L] float64 thresholds, ``L`` = 1 (shared), N (per row) or N·num (per box).
    hi : ndarray[L'] float64 upper bounds (interval mode) or None.
    region : ndarray[N, 4] float64 allowed image regions or None.
    num : boxes per reference box.
    order : 0 random, 1 TL first, 2 BR first.
    prop, param : built-in proposal id (:data:`bbgen.generator.backends.PROPOSAL_IDS`) and its parameter.
    seed : 64-bit Philox key; ``offset`` is added to every box index of the stream.
    out : ndarray[stop - start, 4] float32 or float64, written in place.
    out_iou : ndarray[stop - start] float64 for the verified IoUs, or None.

    Returns
    -------
    int, the number of boxes that failed (their rows hold NaN).
    """
    k0, k1 = (np.uint64(w) for w in _philox.split_seed(seed))
    dummy = np.zeros((1, 4))
    loop = _loop_parallel if use_parallel(stop - start) else _loop_serial
    return int(loop(stop - start, ref, lo, dummy[0, :1] if hi is None else hi, hi is not None,
                    dummy if region is None else region, region is not None, num, order, prop, float(param),
                    k0, k1, offset, start, out, dummy[0, :1] if out_iou is None else out_iou,
                    out_iou is not None, out.dtype == np.float32))
