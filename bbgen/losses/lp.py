"""ℓp-norm regression losses of thesis Table 3.3 on xyxy box coordinates.

Each loss is applied to the four coordinate differences ``b = pred - target`` and summed over
them, giving one value per box pair (as in the L1/L2 columns of thesis Fig. 3.11). Detectors
usually feed these losses encoded, size-normalised deltas; pass such coordinates (e.g. boxes in
the ground truth's unit frame) when the scale of the error matters.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._reduce import check_boxes, check_positive, check_reduction, reduce_loss, smooth_l1_terms

__all__ = ["balanced_l1_loss", "l1_loss", "l2_loss", "smooth_l1_loss"]


def l1_loss(pred: Tensor, target: Tensor, *, reduction: str = "none") -> Tensor:
    """Sum of absolute coordinate errors ``Σ_j |pred_j - target_j|`` (thesis Table 3.3, L1).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
        Boxes ``[x1, y1, x2, y2]``, broadcast against each other.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        ``Σ_j |Δ_j|`` of each pair, or its mean / sum.
    """
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    return reduce_loss((pred - target).abs().sum(-1), reduction)


def l2_loss(pred: Tensor, target: Tensor, *, reduction: str = "none") -> Tensor:
    """Sum of squared coordinate errors ``Σ_j (pred_j - target_j)²`` (thesis Table 3.3, L2).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
        Predicted and target boxes.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        Squared error of each pair (``reduction="none"``), else reduced to a scalar.
    """
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    return reduce_loss((pred - target).pow(2).sum(-1), reduction)


def smooth_l1_loss(pred: Tensor, target: Tensor, *, beta: float = 1.0, reduction: str = "none") -> Tensor:
    """Smooth L1 loss summed over the coordinates (thesis Eq. 3.6; Zhang et al. Eq. 1).

    Per coordinate ``0.5 b²/β`` if ``|b| < β`` else ``|b| - 0.5β``, which is
    :func:`torch.nn.functional.smooth_l1_loss`. The thesis writes the Huber form
    ``0.5 b²`` / ``β(|b| - 0.5β)``, which is exactly ``β`` times this loss.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    beta : float, default 1.0
        The L2→L1 switch point, ``> 0``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        The per-pair loss, or reduced.
    """
    beta = check_positive("beta", beta)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    return reduce_loss(smooth_l1_terms(pred - target, beta).sum(-1), reduction)


def balanced_l1_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    gamma: float = 1.5,
    beta: float = 1.0,
    reduction: str = "none",
) -> Tensor:
    """Balanced L1 loss of Libra R-CNN (thesis Eq. 3.7–3.9), summed over the coordinates.

    With ``t = |b|/β`` the loss is ``β·f(t)`` where ``f`` is thesis Eq. 3.8:
    ``f(t) = α/κ (κt+1) ln(κt+1) - αt`` for ``t < 1`` and ``γt + Z`` otherwise, with
    ``κ = e^{γ/α} - 1`` from Eq. 3.9 (``α ln(κ+1) = γ``) and ``Z = γ/κ - α`` making ``f``
    continuous at ``t = 1``. Hence ``dL/d|b| = α ln(κ|b|/β + 1)`` on inliers and ``γ`` on
    outliers (Eq. 3.7). For ``β = 1`` this is mmdetection's ``balanced_l1_loss``.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    alpha : float, default 0.5
        Inlier promotion ``α > 0`` (smaller → larger inlier gradients).
    gamma : float, default 1.5
        Outlier gradient bound ``γ > 0``.
    beta : float, default 1.0
        Inlier/outlier switch point ``β > 0``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        Balanced L1 per pair unless reduced.
    """
    alpha = check_positive("alpha", alpha)
    gamma = check_positive("gamma", gamma)
    beta = check_positive("beta", beta)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    kappa = math.expm1(gamma / alpha)
    t = (pred - target).abs() / beta
    inlier = alpha / kappa * (kappa * t + 1) * torch.log1p(kappa * t) - alpha * t
    outlier = gamma * t + gamma / kappa - alpha
    loss = beta * torch.where(t < 1, inlier, outlier)
    return reduce_loss(loss.sum(-1), reduction)
