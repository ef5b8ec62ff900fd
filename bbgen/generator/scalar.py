"""Scalar formulas of Alg. 1 for the compiled kernels: one box, one candidate, plain float64 arithmetic.

These are the formulas of :mod:`bbgen.generator.feasible` and :mod:`bbgen.generator.proposals` written for one
scalar at a time, with nothing but arithmetic, ``min``/``max`` and :mod:`math`, compiled by numba for the CPU
kernel (:mod:`.fused_cpu`); the tests check them against the tensor versions value by value
(``tests/test_fused_cpu.py``; each function's ``py_func`` is the plain Python original):

* :func:`x_range` — thesis Table B.2 (``feasible.x_range``), the bounding interval of the second corner;
* :func:`in_tl_space` / :func:`in_br_space` — the exact membership tests (``feasible.in_tl_space`` /
  ``feasible.in_br_space``, Table B.1 and Tables B.2–B.3 as one inequality, ``IoU >= iou`` without division);
* :func:`iou` — ``boxes.iou_xyxy`` (thesis Eq. 2.2), used by the final float64 check;
* :func:`ndtr` / :func:`ndtri` — the normal CDF and its inverse for the truncated-normal proposal
  (``proposals.TruncatedNormal``); ``ndtri`` is Acklam's rational approximation refined by one Halley step
  (relative error ~1e-15, against ``torch.special.ndtri`` in the tests);
* :func:`propose` — one candidate of a built-in proposal (uniform / normal / inside) from four uniforms.

Importing this module imports numba (only the compiled backends do, see :mod:`bbgen.generator.backends`).
"""
from __future__ import annotations

import math

import numba

__all__ = ["x_range", "in_tl_space", "in_br_space", "iou", "ndtr", "ndtri", "propose"]

_TINY = 2.2250738585072014e-308  # float64 tiny, as torch.finfo(float64).tiny in proposals.py
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_jit = numba.njit(cache=True, error_model="numpy")
# the formulas of the hot loop are inlined into the kernels (numba IR inlining: ~6% faster); the proposals'
# truncated normal / inside-biased helpers stay calls, or every draw site would compile its own copy of the
# normal quantile (cold compile 3x longer)
_inline = numba.njit(cache=True, error_model="numpy", inline="always")


@_inline
def x_range(a: float, b: float, iou: float) -> tuple[float, float]:
    """``(c_min, c_max)`` of the second corner given the first ``(a, b)`` (thesis Table B.2).

    Parameters
    ----------
    a, b : float
        the first corner (unit frame); ``(b, a)`` gives ``(d_min, d_max)``.
    iou : float
        IoU threshold.
    """
    alpha, beta = max(a, 0.0), max(b, 0.0)
    i0 = (1.0 - alpha) * (1.0 - beta)
    c_max = a + (i0 / iou + i0 - 1.0) / (1.0 - b)
    c_min = ((iou - iou * a * (1.0 - b) + alpha * (iou + 1.0) * (1.0 - beta))
             / ((iou + 1.0) * (1.0 - beta) - iou * (1.0 - b)))
    return c_min, c_max


@_inline
def _iou_at_least(inter: float, area: float, iou: float) -> bool:
    return inter * (1.0 + iou) >= (area + 1.0) * iou


@_inline
def in_tl_space(u: float, v: float, iou: float) -> bool:
    """``IoU([u, v, 1, 1], [0, 0, 1, 1]) >= iou`` (thesis Table B.1).

    Parameters
    ----------
    u, v, iou : float
        a TL candidate (unit frame) and the threshold.
    """
    p, q = 1.0 - u, 1.0 - v
    return _iou_at_least(min(p, 1.0) * min(q, 1.0), p * q, iou)


@_inline
def in_br_space(a: float, b: float, c: float, d: float, iou: float, max_iou: float, has_max_iou: bool) -> bool:
    """``IoU([a, b, c, d], [0, 0, 1, 1]) >= iou`` and, when ``has_max_iou``, ``< max_iou`` (thesis Tables B.2–B.3).

    Parameters
    ----------
    a, b, c, d : float
        first corner and second-corner candidate (unit frame).
    iou, max_iou, has_max_iou : float, float, bool
        threshold and the interval mode's upper bound.
    """
    inter = max(min(c, 1.0) - max(a, 0.0), 0.0) * max(min(d, 1.0) - max(b, 0.0), 0.0)
    area = (c - a) * (d - b)
    ok = _iou_at_least(inter, area, iou)
    if has_max_iou and ok:
        ok = not _iou_at_least(inter, area, max_iou)
    return ok


@_inline
def iou(ax1: float, ay1: float, ax2: float, ay2: float, bx1: float, by1: float, bx2: float, by2: float) -> float:
    """IoU of two boxes (thesis Eq. 2.2), the operation order of ``bbgen.boxes.iou_xyxy``.

    Parameters
    ----------
    ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 : float
        the two boxes' coordinates.
    """
    iw = max(min(ax2, bx2) - max(ax1, bx1), 0.0)
    ih = max(min(ay2, by2) - max(ay1, by1), 0.0)
    inter = iw * ih
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


@_jit
def ndtr(x: float) -> float:
    """Standard normal CDF.

    Parameters
    ----------
    x : float
    """
    return 0.5 * math.erfc(-x / _SQRT2)


# Acklam's rational approximation of the normal quantile: numerator / denominator coefficients, highest power first
_TAIL_NUM = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
             4.374664141464968e+00, 2.938163982698783e+00)
_TAIL_DEN = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00, 1.0)
_MID_NUM = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
            -3.066479806614716e+01, 2.506628277459239e+00)
_MID_DEN = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
            -1.328068155288572e+01, 1.0)


@_jit
def _horner(x: float, coeffs: tuple) -> float:
    acc = 0.0
    for c in coeffs:
        acc = acc * x + c
    return acc


@_jit
def ndtri(p: float) -> float:
    """Inverse of :func:`ndtr` on ``[0, 1]`` (``∓inf`` at the ends, like ``torch.special.ndtri``).

    Parameters
    ----------
    p : float
    """
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    q = min(p, 1.0 - p)  # 1 - p is exact for p >= 0.5: solve in the lower half, flip the sign
    if q < 0.02425:  # tail (Acklam)
        t = math.sqrt(-2.0 * math.log(q))
        x = _horner(t, _TAIL_NUM) / _horner(t, _TAIL_DEN)
    else:  # central region
        r = q - 0.5
        x = _horner(r * r, _MID_NUM) * r / _horner(r * r, _MID_DEN)
    e = ndtr(x) - q  # one Halley step
    u = e * _SQRT2PI * math.exp(0.5 * x * x)
    x = x - u / (1.0 + 0.5 * x * u)
    return -x if p > 0.5 else x


@_jit
def _truncated_normal(lo: float, hi: float, mu: float, scale: float, w: float) -> float:
    """``proposals.TruncatedNormal`` on one axis: inverse CDF of N(mu, (scale·(hi−lo))²) truncated to [lo, hi]."""
    if not hi > lo:
        return lo
    sigma = max(scale * (hi - lo), _TINY)
    fa = ndtr((lo - mu) / sigma)
    fb = ndtr((hi - mu) / sigma)
    x = mu + sigma * ndtri(fa + (fb - fa) * w)
    return min(max(x, lo), hi)


@_jit
def _inside_biased(lo: float, hi: float, corner: float, weight: float, w_pick: float, w_pos: float) -> float:
    """``proposals.InsideBiased`` on one axis: ``weight`` times denser on the inner side of ``corner``."""
    c = min(max(corner, lo), hi)
    if c < 0.5:  # the inner side of corner 0 is +, of corner 1 is -
        in_lo, in_hi, out_lo, out_hi = c, hi, lo, c
    else:
        in_lo, in_hi, out_lo, out_hi = lo, c, c, hi
    w_in = weight * (in_hi - in_lo)
    p_in = w_in / max(w_in + (out_hi - out_lo), _TINY)
    if w_pick < p_in:
        return in_lo + (in_hi - in_lo) * w_pos
    return out_lo + (out_hi - out_lo) * w_pos


@_inline
def propose(lx: float, ly: float, hx: float, hy: float, corner: float, prop: int, param: float,
            w0: float, w1: float, w2: float, w3: float) -> tuple[float, float]:
    """One candidate point in ``[lx, hx] x [ly, hy]`` of a built-in proposal.

    Parameters
    ----------
    lx, ly, hx, hy : float
        the rectangle (unit frame).
    corner : float
        0 for the corner sampled first, 1 for the second (both axes).
    prop, param : int, float
        0 uniform, 1 normal, 2 inside (:data:`bbgen.generator.backends.PROPOSAL_IDS`) and its parameter.
    w0, w1, w2, w3 : float
        uniforms in (0, 1) (``w2``, ``w3`` used by the inside-biased proposal only).
    """
    if prop == 1:
        return (_truncated_normal(lx, hx, corner, param, w0), _truncated_normal(ly, hy, corner, param, w1))
    if prop == 2:
        return (_inside_biased(lx, hx, corner, param, w0, w2), _inside_biased(ly, hy, corner, param, w1, w3))
    return lx + (hx - lx) * w0, ly + (hy - ly) * w1
