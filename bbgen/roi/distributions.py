"""IoU distributions of generated positive RoIs (thesis §4.3.2, ``genRoIs`` of Alg. 2; Fig. 4.5).

An :class:`IoUDistribution` is the pair (ψ_IoU, W_IoU) of Alg. 2: the bases of the IoU bins and a
multinomial weight per bin. Bin ``i`` is ``[bases[i], bases[i+1])``, the last one ``[bases[-1], top)``.
Each RoI draws a bin from W and then a threshold uniformly inside that bin (``jitter=True``) or at its
base (``jitter=False``).

Presets, named after the RoI sources of thesis Fig. 4.5 (ψ = [0.5, 0.6, 0.7, 0.8, 0.9]). In the thesis
"left-skewed" means that the mass sits at the *low* IoUs (RPN-like, §3.4.2) and "right-skewed" that it
sits at the high IoUs (what Cascade R-CNN moves towards):

=============  ======================================  =============================================
name           W over [.5,.6) [.6,.7) [.7,.8) [.8,.9)   meaning
               [.9,1)
=============  ======================================  =============================================
``base``       one bin [0.5, 1), threshold fixed 0.5   Alg. 1 with T = 0.5 ("Base IoU = 0.5")
``uniform``    0.2   0.2   0.2   0.2   0.2             pRoI-Uniform
``left_skew``  0.55  0.25  0.12  0.05  0.03            pRoI-Left Skew (mass near 0.5)
``right_skew`` 0.03  0.05  0.12  0.25  0.55            pRoI-Right Skew (mass near 1)
=============  ======================================  =============================================

The skew weights fall by about 2x per bin and are mirrored between the two presets. With ``exact=True``
(interval mode) the IoU histogram over the bins equals W. With the paper's threshold mode every RoI only
gets IoU ≥ its threshold, so mass spills towards higher IoUs; the ramp is steep enough that the
threshold-mode histogram of ``left_skew`` still decreases (measured, 100k RoIs, ±0.005: base .90/.09/.01/.00/.00,
uniform .14/.20/.21/.22/.23, left_skew .37/.34/.18/.08/.04, right_skew .02/.04/.11/.25/.58; see README.md
and ``analysis/roi_sources.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import torch
from torch import Tensor

from ..imbalance.regression_profile import IOU_BIN_BASES

__all__ = ["IoUDistribution", "PRESETS", "resolve_iou_dist", "sample_iou_bins"]

DEFAULT_BASES = IOU_BIN_BASES

# Thresholds are kept strictly below 1 (IoU = 1 has a single feasible box); 1 - 1e-6 is still
# resolved by float32 in the unit frame.  The authors' code capped them at 0.95 instead.
T_MAX = 1.0 - 1e-6


@dataclass(frozen=True)
class IoUDistribution:
    """Bins ψ (``bases``, increasing, in (0, 1)) with multinomial weights W (thesis Alg. 2).

    Parameters
    ----------
    bases : tuple[float, ...] of length K, default ``IOU_BIN_BASES`` (0.5, 0.6, 0.7, 0.8, 0.9)
        ψ: the bins' lower edges, strictly increasing, in (0, 1).
    weights : tuple[float, ...] of length K, default (0.2, 0.2, 0.2, 0.2, 0.2)
        W: one multinomial weight per bin, finite, >= 0 and not all zero. Weights need not sum to one; they
        are normalised in :attr:`probs`.
    top : float, default 1.0
        Closes the last bin, ``bases[-1] < top <= 1``.
    jitter : bool, default True
        Draw each threshold uniformly inside its bin (False: the threshold is the bin base, e.g. the ``base``
        preset, T = 0.5).

    Raises
    ------
    TypeError, ValueError
        Naming ``iou_dist`` and the offending values.
    """

    bases: tuple[float, ...] = DEFAULT_BASES
    weights: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.2)
    top: float = 1.0
    jitter: bool = True

    def __post_init__(self) -> None:
        try:
            bases = tuple(float(b) for b in self.bases)
            weights = tuple(float(w) for w in self.weights)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"iou_dist: bases and weights must be sequences of numbers, "
                            f"got {self.bases!r} and {self.weights!r}") from exc
        object.__setattr__(self, "bases", bases)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "top", float(self.top))
        if len(bases) == 0:
            raise ValueError("iou_dist: bases must contain at least one bin base, got ()")
        if len(weights) != len(bases):
            raise ValueError(f"iou_dist: got {len(bases)} bases {bases} but {len(weights)} weights {weights}")
        if not all(0.0 < b < 1.0 for b in bases):
            raise ValueError(f"iou_dist: bases must lie in (0, 1), got {bases}")
        if any(b1 <= b0 for b0, b1 in zip(bases, bases[1:])):
            raise ValueError(f"iou_dist: bases must be strictly increasing, got {bases}")
        if not bases[-1] < self.top <= 1.0:
            raise ValueError(f"iou_dist: top must satisfy bases[-1] < top <= 1, got top={self.top}")
        if not all(math.isfinite(w) and w >= 0.0 for w in weights) or sum(weights) <= 0.0:
            raise ValueError(f"iou_dist: weights must be finite, >= 0 and not all zero, got {weights}")

    @property
    def edges(self) -> tuple[float, ...]:
        """Bin edges ``bases + (top,)``, e.g. for histograms: ``[K + 1]``."""
        return self.bases + (self.top,)

    @property
    def probs(self) -> tuple[float, ...]:
        """Normalised bin probabilities W / ΣW: ``[K]``."""
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)


PRESETS: dict[str, IoUDistribution] = {
    "base": IoUDistribution(bases=(0.5,), weights=(1.0,), jitter=False),
    "uniform": IoUDistribution(weights=(0.2, 0.2, 0.2, 0.2, 0.2)),
    "left_skew": IoUDistribution(weights=(0.55, 0.25, 0.12, 0.05, 0.03)),
    "right_skew": IoUDistribution(weights=(0.03, 0.05, 0.12, 0.25, 0.55)),
}

IoUDistLike = Union[str, IoUDistribution, tuple]


def resolve_iou_dist(iou_dist: IoUDistLike) -> IoUDistribution:
    """Turn a preset name, an :class:`IoUDistribution` or a ``(bases, weights)`` pair into one.

    Parameters
    ----------
    iou_dist : str, IoUDistribution or (bases, weights)
        A name of :data:`PRESETS` (``"base"``, ``"uniform"``, ``"left_skew"``, ``"right_skew"``; thesis
        Fig. 4.5), a distribution (returned as is) or two sequences (lists, tuples, tensors or ndarrays).

    Returns
    -------
    IoUDistribution
    """
    if isinstance(iou_dist, IoUDistribution):
        return iou_dist
    if isinstance(iou_dist, str):
        if iou_dist not in PRESETS:
            raise ValueError(f"iou_dist: unknown preset {iou_dist!r}; choose one of {sorted(PRESETS)}")
        return PRESETS[iou_dist]
    if isinstance(iou_dist, (tuple, list)) and len(iou_dist) == 2:
        bases, weights = iou_dist
        bases, weights = (x.tolist() if hasattr(x, "tolist") else x for x in (bases, weights))  # tensor/ndarray
        if not isinstance(bases, Sequence) or not isinstance(weights, Sequence):
            raise TypeError(f"iou_dist: (bases, weights) must be two sequences, got {iou_dist!r}")
        return IoUDistribution(bases=tuple(bases), weights=tuple(weights))
    raise TypeError("iou_dist: expected a preset name, an IoUDistribution or a (bases, weights) pair, "
                    f"got {type(iou_dist).__name__}: {iou_dist!r}")


def sample_iou_bins(dist: IoUDistribution, n: int, *, generator: torch.Generator | None = None,
                    device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Draw ``n`` bins from W and one threshold per bin (``genRoIs`` of thesis Alg. 2).

    Parameters
    ----------
    dist : IoUDistribution
        The bins ψ and weights W.
    n : int
        Number of draws.
    generator : torch.Generator, optional
        Source of randomness, on ``device``.
    device : torch.device or str, optional
        Where the draws happen and the results live.
    dtype : torch.dtype, default torch.float32
        dtype of ``lo``, ``hi`` and ``threshold``.

    Returns
    -------
    bin_index : Tensor[n] int64
        The drawn bin.
    lo, hi : Tensor[n]
        Its edges.
    threshold : Tensor[n]
        The threshold T: uniform in ``[lo, hi)`` when ``dist.jitter``, else ``lo``; capped at :data:`T_MAX`.

    Notes
    -----
    Inverse-CDF sampling on ``device`` with ``generator``: no host synchronisation.
    """
    k = len(dist.bases)
    edges, probs = dist.edges, dist.probs
    cdf = [sum(probs[:i + 1]) for i in range(k)]
    cdf = [c / cdf[-1] for c in cdf]  # the last is exactly 1 > u: every index is a bin, no clamp needed
    # one small table, one transfer: rows lo, hi, width of the threshold's range, cdf; columns = bins
    table = torch.tensor([edges[:-1], edges[1:], [(b - a) * dist.jitter for a, b in zip(edges, edges[1:])], cdf],
                         dtype=torch.float64, device=device)
    u = torch.rand(2, n, generator=generator, device=device, dtype=torch.float64)
    idx = torch.searchsorted(table[3], u[0], right=True)
    lo, hi, width = table[:3].index_select(1, idx).to(dtype).unbind(0)   # [n] each
    return idx, lo, hi, torch.addcmul(lo, u[1].to(dtype), width).clamp_(max=T_MAX)
