"""Sums of the smoothed step function over sorted logits: the O((P + N) log N) core of the ranking losses.

Ranking-based losses (thesis Ch. 6–8) need, for every positive i, sums such as
``N_FP(i) = Σ_{j∈N} H(x_ij)`` with ``x_ij = s_j − s_i`` (Eq. 6.3) and the smoothed step (Eq. 6.5)

    H(x) = 0 for x < −δ,   x / (2δ) + 0.5 for −δ ≤ x ≤ δ,   1 for x > δ

(δ = 0: the unit step ``[x >= 0]``, as the authors' code). Since H is piecewise linear, such a sum
over sorted keys is a count above the window plus a linear function of prefix sums inside it, so
it never forms the P × N matrix of pairs. :class:`StepSums` answers both directions,
``Σ_k w_k H(key_k − q)`` and ``Σ_k w_k H(q − key_k)``, for a batch of queries (it sorts the keys);
:func:`sums_above` gives the first without sorting the (many) keys: it buckets them between the
sorted window edges ``q ± δ`` of the (few) queries, O(K log Q).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["StepSums", "smoothed_step", "sums_above"]


def smoothed_step(x: Tensor, delta: float) -> Tensor:
    """H(x) of thesis Eq. 6.5 (δ > 0), or the unit step ``[x >= 0]`` for δ = 0.

    Parameters
    ----------
    x : Tensor[...]
        Difference transforms ``s_j − s_i``.
    delta : float
        Smoothing half-width δ >= 0.
    """
    if delta > 0:
        return torch.clamp(x / (2 * delta) + 0.5, 0.0, 1.0)
    return (x >= 0).to(x.dtype)


class StepSums:
    """Weighted sums of H over sorted keys, for many query points at once.

    Parameters
    ----------
    keys : Tensor[K]
        Logits (float64 recommended; differences are what matter, so centre them first).
    delta : float
        Smoothing δ of H (0 = unit step).
    weights : Tensor[K], optional
        Weight of each key (default 1).
    """

    def __init__(self, keys: Tensor, delta: float, weights: Tensor | None = None) -> None:
        order = torch.argsort(keys)
        self.keys = keys[order].contiguous()
        w = torch.ones_like(keys) if weights is None else weights
        w = w[order]
        zero = keys.new_zeros(1)
        self.cw = torch.cat([zero, torch.cumsum(w, 0)])
        self.cwk = torch.cat([zero, torch.cumsum(w * self.keys, 0)])
        self.delta = float(delta)

    @property
    def total(self) -> Tensor:
        return self.cw[-1]

    def above(self, q: Tensor) -> Tensor:
        """``Σ_k w_k H(key_k − q)`` for every query ``q [Q]`` (keys above q count fully)."""
        if self.delta == 0:
            return self.total - self.cw[torch.searchsorted(self.keys, q)]
        d = self.delta
        lo = torch.searchsorted(self.keys, q - d, right=True)
        hi = torch.searchsorted(self.keys, q + d)
        mid_w = self.cw[hi] - self.cw[lo]
        mid_wk = self.cwk[hi] - self.cwk[lo]
        return (self.total - self.cw[hi]) + (mid_wk - q * mid_w) / (2 * d) + 0.5 * mid_w

    def below(self, q: Tensor) -> Tensor:
        """``Σ_k w_k H(q − key_k)`` for every query ``q [Q]`` (keys below q count fully)."""
        if self.delta == 0:
            return self.cw[torch.searchsorted(self.keys, q, right=True)]
        return self.total - self.above(q)  # H(x) + H(−x) = 1 for δ > 0


def sums_above(keys: Tensor, queries: Tensor, delta: float, weights: Tensor | None = None) -> Tensor:
    """``Σ_k w_k H(key_k − q)`` for every query, bucketing the keys between the queries' window edges.

    Parameters
    ----------
    keys : Tensor[K]
        Many logits (e.g. negatives), unsorted; centre them first (float64 recommended).
    queries : Tensor[Q]
        Few logits (e.g. positives).
    delta : float
        Smoothing δ of H (0 = unit step ``[key >= q]``).
    weights : Tensor[K], optional
        Weight of each key (default 1).

    Returns
    -------
    Tensor[Q]
    """
    w = torch.ones_like(keys) if weights is None else weights
    edges = torch.cat([queries - delta, queries + delta]) if delta > 0 else queries
    edges, order = torch.sort(edges)
    where = torch.empty_like(order)
    where[order] = torch.arange(len(order), device=order.device)  # position of each edge after sorting
    n = len(edges) + 1
    pos = torch.searchsorted(edges, keys, right=True)  # keys in bucket b: edge[b-1] <= key < edge[b]
    cw = torch.cumsum(torch.bincount(pos, weights=w, minlength=n).to(keys.dtype), 0)  # Σ w, bucket <= b
    total = cw[-1]
    if delta == 0:
        return total - cw[where]  # keys with bucket > e, i.e. key >= edge e
    q = len(queries)
    lo, hi = where[:q], where[q:]
    cwk = torch.cumsum(torch.bincount(pos, weights=w * keys, minlength=n).to(keys.dtype), 0)
    mid_w, mid_wk = cw[hi] - cw[lo], cwk[hi] - cwk[lo]
    return (total - cw[hi]) + (mid_wk - queries * mid_w) / (2 * delta) + 0.5 * mid_w
