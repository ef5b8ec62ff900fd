"""Scalar imbalance measures of a count vector (one implementation each, reused by every profiler).

All take a 1-D array of non-negative counts ``[K]`` (instances per class, boxes per grid cell, ...).
A measure that is undefined for the input (all counts zero: nothing was counted) returns ``None``,
never a number such as 0 that would read as "balanced"; reports show it as "n/a".
"""
from __future__ import annotations

import numpy as np

__all__ = ["as_counts", "imbalance_ratio", "gini", "normalized_entropy", "chi_square_uniform", "quantiles",
           "QUANTILE_LEVELS"]

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def as_counts(counts: np.ndarray | list[float], name: str = "counts") -> np.ndarray:
    """Validate a 1-D vector of finite non-negative counts and return it as float64.

    Parameters
    ----------
    counts : array_like [K]
        Non-negative counts, K >= 1.
    name : str
        Argument name used in the error message.

    Returns
    -------
    ndarray [K] float64
    """
    try:
        c = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold real numbers, got {counts!r}"[:300]) from None
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"{name} must be finite and non-negative, got {c[~(np.isfinite(c) & (c >= 0))][0]}")
    return c


def imbalance_ratio(counts: np.ndarray | list[float]) -> float | None:
    """max / min over the non-zero counts (1.0 when balanced; ``None`` when every count is zero).

    Empty classes would make the ratio infinite, so they are excluded; report them separately.

    Parameters
    ----------
    counts : array_like [K]
        Non-negative counts (e.g. instances per class).
    """
    c = as_counts(counts)
    nz = c[c > 0]
    return float(nz.max() / nz.min()) if nz.size else None


def gini(counts: np.ndarray | list[float]) -> float | None:
    """Gini coefficient in [0, 1 - 1/K]: 0 when all counts are equal, -> 1 when one class has all.

    ``G = sum_i (2i - K - 1) c_(i) / (K sum c)`` with counts sorted ascending, i = 1..K;
    ``None`` when every count is zero.

    Parameters
    ----------
    counts : array_like [K]
        Non-negative counts (e.g. instances per class).
    """
    c = np.sort(as_counts(counts))
    total = c.sum()
    if total == 0:
        return None
    k = c.size
    i = np.arange(1, k + 1)
    return float(((2 * i - k - 1) * c).sum() / (k * total))


def normalized_entropy(counts: np.ndarray | list[float]) -> float | None:
    """Shannon entropy of the count distribution divided by ``log K``: 1 = uniform, 0 = one bin.

    A single bin (K = 1) is trivially balanced and returns 1.0; all-zero counts return ``None``.

    Parameters
    ----------
    counts : array_like [K]
        Non-negative counts.
    """
    c = as_counts(counts)
    total = c.sum()
    if total == 0:
        return None
    if c.size == 1:
        return 1.0
    p = c[c > 0] / total
    return float(-(p * np.log(p)).sum() / np.log(c.size))


def chi_square_uniform(counts: np.ndarray | list[float]) -> dict[str, float | None]:
    """Pearson chi-square test of the counts against a uniform distribution over the K bins.

    Returns ``statistic``, ``dof`` (K - 1), ``p_value`` and Cramér's ``effect_size``
    ``sqrt(chi2 / (n (K - 1)))`` in [0, 1], which unlike the statistic does not grow with n.
    With no counts at all (n = 0) the test is undefined and all but ``dof`` are ``None``.

    Parameters
    ----------
    counts : array_like [K]
        Non-negative counts per bin.
    """
    c = as_counts(counts)
    n, k = c.sum(), c.size
    if n == 0:
        return {"statistic": None, "dof": float(max(k - 1, 0)), "p_value": None, "effect_size": None}
    if k < 2:
        return {"statistic": 0.0, "dof": float(max(k - 1, 0)), "p_value": 1.0, "effect_size": 0.0}
    import scipy.stats  # imported here: scipy.stats costs seconds to import and is only needed for p

    expected = n / k
    stat = float(((c - expected) ** 2 / expected).sum())
    return {"statistic": stat, "dof": float(k - 1), "p_value": float(scipy.stats.chi2.sf(stat, k - 1)),
            "effect_size": float(np.sqrt(stat / (n * (k - 1))))}


def quantiles(values: np.ndarray | list[float]) -> dict[str, float | None]:
    """Mean and the :data:`QUANTILE_LEVELS` quantiles of ``values`` (``None`` when empty).

    Parameters
    ----------
    values : array_like [N]
        Values of any real quantity.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"mean": None, **{f"p{int(q * 100)}": None for q in QUANTILE_LEVELS}}
    qs = np.quantile(v, QUANTILE_LEVELS)
    return {"mean": float(v.mean()), **{f"p{int(q * 100)}": float(x) for q, x in zip(QUANTILE_LEVELS, qs)}}
