"""Li et al. (2020), Generalized Focal Loss: QFL (Eq. 2), DFL (Eq. 6) and integral decoding (Eq. 5).

These act on a detector's raw outputs (logits), not on boxes: QFL on the joint
classification–IoU score, DFL on the per-side discretised distance distribution ``P(y_i)``,
``y_i = i`` for ``i = 0..n`` (distances measured in bin units, e.g. divided by the stride).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._reduce import check_positive, check_reduction, check_tensor, reduce_loss

__all__ = ["distribution_focal_loss", "integral_decode", "quality_focal_loss"]


def quality_focal_loss(
    logits: Tensor, score: Tensor, *, beta: float = 2.0, reduction: str = "none"
) -> Tensor:
    """Quality Focal Loss ``-|y - σ|^β ((1-y) log(1-σ) + y log σ)`` with ``σ = sigmoid(logits)`` (Eq. 2).

    The cross-entropy part is computed from logits for numerical stability. For fixed ``y`` the
    global minimum is at ``σ = y``.

    Parameters
    ----------
    logits : Tensor[...]
        Raw scores.
    score : Tensor[...]
        Continuous quality labels ``y ∈ [0, 1]`` (e.g. IoU; 0 for negatives).
    beta : float, default 2.0
        Modulating exponent ``β ≥ 0`` (paper's best: 2).
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        QFL of each score, or its reduction.
    """
    logits = check_tensor("logits", logits)
    score = check_tensor("score", score)
    beta = check_positive("beta", beta, allow_zero=True)
    check_reduction(reduction)
    if logits.shape != score.shape:
        raise ValueError(f"score must have the shape of logits {tuple(logits.shape)}, got {tuple(score.shape)}")
    _check_range("score", score, 1, "")
    sigma = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, score, reduction="none")
    return reduce_loss((score - sigma).abs() ** beta * ce, reduction)


def _check_range(name: str, t: Tensor, high: int, why: str) -> None:
    """``ValueError`` naming ``name`` and its first value outside ``[0, high]`` (NaN included)."""
    inside = (t >= 0) & (t <= high)
    if t.numel() and not bool(inside.all()):
        raise ValueError(f"{name} must lie in [0, {high}]{why}, got {float(t[~inside][0])}")


def _check_distribution(logits: object) -> Tensor:
    logits = check_tensor("logits", logits)
    if logits.ndim == 0 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have shape [..., n+1] with n+1 >= 2 bins, got {tuple(logits.shape)}")
    return logits


def integral_decode(logits: Tensor) -> Tensor:
    """Integral regression ``ŷ = Σ_i P(y_i) y_i`` with ``P = softmax(logits)``, ``y_i = i`` (Eq. 5).

    Parameters
    ----------
    logits : Tensor[..., n + 1]
        Distribution logits over the bins ``0 .. n``.

    Returns
    -------
    Tensor[...]
        The expected value, in ``[0, n]``.
    """
    logits = _check_distribution(logits)
    bins = torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    return (logits.softmax(-1) * bins).sum(-1)


def distribution_focal_loss(logits: Tensor, target: Tensor, *, reduction: str = "none") -> Tensor:
    """Distribution Focal Loss ``-((y_{i+1} - y) log S_i + (y - y_i) log S_{i+1})`` (Eq. 6).

    ``y_i ≤ y ≤ y_{i+1}`` are the two bins around the continuous target; ``y = n`` uses the last
    pair of bins. The minimum over distributions is ``S_i = y_{i+1} - y``, ``S_{i+1} = y - y_i``,
    whose integral (Eq. 5) is exactly ``y``.

    Parameters
    ----------
    logits : Tensor[..., n + 1]
        Distribution logits.
    target : Tensor[...]
        Continuous targets in ``[0, n]``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        DFL per target, unless reduced.
    """
    logits = _check_distribution(logits)
    target = check_tensor("target", target)
    check_reduction(reduction)
    n = logits.shape[-1] - 1
    if target.shape != logits.shape[:-1]:
        raise ValueError(f"target must have shape {tuple(logits.shape[:-1])}, got {tuple(target.shape)}")
    _check_range("target", target, n, " (the bin range of logits)")
    left = target.detach().floor().clamp(max=n - 1).long()
    w_left = (left + 1).to(target.dtype) - target
    w_right = target - left.to(target.dtype)
    logp = logits.log_softmax(-1)
    lp_left = logp.gather(-1, left.unsqueeze(-1)).squeeze(-1)
    lp_right = logp.gather(-1, (left + 1).unsqueeze(-1)).squeeze(-1)
    return reduce_loss(-(w_left * lp_left + w_right * lp_right), reduction)
