"""Scalar imbalance measures of a count vector (one implementation each, reused by every profiler).

All take a 1-D array of non-negative counts ``[K]`` (instances per class, boxes per grid cell, ...).
"""
from __future__ import annotations

import numpy as np

__all__ = ["as_counts", "imbalance_ratio", "gini", "normalized_entropy", "chi_square_uniform", "quantiles",
           "QUANTILE_LEVELS"]

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def as_counts(counts: np.ndarray, name: str = "counts") -> np.ndarray:
    """Validate a 1-D vector of finite non-negative counts and return it as float64."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    return c


def imbalance_ratio(counts: np.ndarray) -> float:
    """max / min over the non-zero counts (1.0 when balanced; 0.0 when every count is zero).

    Empty classes would make the ratio infinite, so they are excluded; report them separately.
    """
    c = as_counts(counts)
    nz = c[c > 0]
    return float(nz.max() / nz.min()) if nz.size else 0.0


def gini(counts: np.ndarray) -> float:
    """Gini coefficient in [0, 1 - 1/K]: 0 when all counts are equal, -> 1 when one class has all.

    ``G = sum_i (2i - K - 1) c_(i) / (K sum c)`` with counts sorted ascending, i = 1..K.
    """
    c = np.sort(as_counts(counts))
    total = c.sum()
    if total == 0:
        return 0.0
    k = c.size
    i = np.arange(1, k + 1)
    return float(((2 * i - k - 1) * c).sum() / (k * total))


def normalized_entropy(counts: np.ndarray) -> float:
    """Shannon entropy of the count distribution divided by ``log K``: 1 = uniform, 0 = one bin.

    A single bin (K = 1) is trivially balanced and returns 1.0; all-zero counts return 0.0.
    """
    c = as_counts(counts)
    total = c.sum()
    if total == 0:
        return 0.0
    if c.size == 1:
        return 1.0
    p = c[c > 0] / total
    return float(-(p * np.log(p)).sum() / np.log(c.size))


def chi_square_uniform(counts: np.ndarray) -> dict[str, float]:
    """Pearson chi-square test of the counts against a uniform distribution over the K bins.

    Returns ``statistic``, ``dof`` (K - 1), ``p_value`` and Cramér's ``effect_size``
    ``sqrt(chi2 / (n (K - 1)))`` in [0, 1], which unlike the statistic does not grow with n.
    """
    c = as_counts(counts)
    n, k = c.sum(), c.size
    if n == 0 or k < 2:
        return {"statistic": 0.0, "dof": float(max(k - 1, 0)), "p_value": 1.0, "effect_size": 0.0}
    import scipy.stats  # imported here: scipy.stats costs seconds to import and is only needed for p

    expected = n / k
    stat = float(((c - expected) ** 2 / expected).sum())
    return {"statistic": stat, "dof": float(k - 1), "p_value": float(scipy.stats.chi2.sf(stat, k - 1)),
            "effect_size": float(np.sqrt(stat / (n * (k - 1))))}


def quantiles(values: np.ndarray) -> dict[str, float]:
    """Mean and the :data:`QUANTILE_LEVELS` quantiles of ``values`` (zeros when empty)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"mean": 0.0, **{f"p{int(q * 100)}": 0.0 for q in QUANTILE_LEVELS}}
    qs = np.quantile(v, QUANTILE_LEVELS)
    return {"mean": float(v.mean()), **{f"p{int(q * 100)}": float(x) for q, x in zip(QUANTILE_LEVELS, qs)}}
