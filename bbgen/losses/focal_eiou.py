"""Zhang et al. (2022), "Focal and efficient IOU loss": EIoU, FocalL1 and Focal-EIoU.

Naming: Zhang's *Efficient* IoU is :func:`efficient_iou_loss` (alias :func:`eiou_loss`). It is
unrelated to Peng & Yu's *extended* IoU (:func:`bbgen.losses.extended_iou_loss`), which is the
loss that mmdetection calls ``EIoULoss``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validate
from ._geometry import pair_geometry
from ._reduce import check_boxes, check_positive, check_reduction, reduce_loss

__all__ = [
    "efficient_iou_loss",
    "eiou_loss",
    "focal_eiou_loss",
    "focal_eiou_loss_normalized",
    "focal_l1_loss",
]


def _efficient_iou(pred: Tensor, target: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Per-pair EIoU loss (Eq. 7) and IoU."""
    g = pair_geometry(pred, target, eps)
    cw2, ch2 = g.enc_w**2, g.enc_h**2
    loss = (
        1
        - g.iou
        + g.center_dist2 / (cw2 + ch2 + eps)
        + (g.pred_w - g.target_w) ** 2 / (cw2 + eps)
        + (g.pred_h - g.target_h) ** 2 / (ch2 + eps)
    )
    return loss, g.iou


def efficient_iou_loss(pred: Tensor, target: Tensor, *, eps: float = 1e-7, reduction: str = "none") -> Tensor:
    """Zhang et al.'s Efficient IoU loss (Eq. 7).

    ``L = 1 - IoU + ρ²(b, b_gt)/(w_c² + h_c²) + ρ²(w, w_gt)/w_c² + ρ²(h, h_gt)/h_c²`` with
    ``(w_c, h_c)`` the enclosing box size. Every denominator is offset by ``eps``. Not to be
    confused with Peng & Yu's extended IoU (mmdetection's ``EIoULoss``).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    eps : float, default 1e-7
        Offset of every denominator, ``> 0``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        The EIoU loss of each pair (Eq. 7) or its reduction.
    """
    eps = check_positive("eps", eps)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    return reduce_loss(_efficient_iou(pred, target, eps)[0], reduction)


eiou_loss = efficient_iou_loss


def focal_l1_loss(pred: Tensor, target: Tensor, *, beta: float = 0.8, reduction: str = "none") -> Tensor:
    """FocalL1 loss (Eq. 8–9), summed over the four coordinate errors ``x = |pred - target|``.

    ``L_f(x) = -α x² (2 ln(βx) - 1)/4`` for ``x ≤ 1`` and ``-α ln(β) x + C`` for ``x > 1`` with
    ``α = eβ`` (gradient peak normalised to 1, Eq. 8) and ``C = (2α ln β + α)/4`` (continuity).
    The gradient ``-αx ln(βx)`` vanishes at ``x = 0`` and peaks at ``x* = 1/(eβ)``. Coordinates
    are expected normalised (the inlier regime is ``x ≤ 1``).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    beta : float, default 0.8
        Shape parameter, ``1/e ≤ β ≤ 1`` (the paper's best: 0.8).
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        FocalL1 per pair, summed over coordinates, then reduced.
    """
    beta = check_positive("beta", beta)
    if not (1 / math.e <= beta <= 1):
        raise ValueError(f"beta must lie in [1/e, 1] (Zhang et al. Eq. 8), got {beta}")
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    alpha = math.e * beta
    x = (pred - target).abs()
    # x² ln(βx) -> 0 as x -> 0; evaluate the log on a safe value so 0 gives a finite gradient.
    positive = x > 0
    xs = torch.where(positive, x, torch.ones_like(x))
    inlier = torch.where(positive, -alpha * xs * xs * (2 * torch.log(beta * xs) - 1) / 4, torch.zeros_like(x))
    outlier = -alpha * math.log(beta) * x + (2 * alpha * math.log(beta) + alpha) / 4
    return reduce_loss(torch.where(x <= 1, inlier, outlier).sum(-1), reduction)


def _focal_terms(pred, target, gamma, eps, detach_weight):
    gamma = check_positive("gamma", gamma, allow_zero=True)
    eps = check_positive("eps", eps)
    detach_weight = _validate.flag(detach_weight, "detach_weight")
    pred, target = check_boxes(pred, target)
    loss, iou = _efficient_iou(pred, target, eps)
    # IoU is clamped at eps so IoU^γ (γ < 1) keeps a finite gradient on disjoint boxes.
    weight = iou.clamp(min=eps) ** gamma
    return (weight.detach() if detach_weight else weight), loss


def focal_eiou_loss(pred: Tensor, target: Tensor, *, gamma: float = 0.5, eps: float = 1e-7,
                    detach_weight: bool = False, reduction: str = "none") -> Tensor:
    """Focal-EIoU loss ``IoU^γ · L_EIoU`` (Eq. 10).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    gamma : float, default 0.5
        Outlier suppression ``γ ≥ 0`` (paper default 0.5; ``γ = 0`` gives EIoU).
    eps : float, default 1e-7
        Offset of every EIoU denominator.
    detach_weight : bool, default False
        Treat ``IoU^γ`` as a constant weight in back-propagation (the paper's Eq. 10 differentiates through
        it, which is the default). Differentiating through the weight adds ``γ IoU^{γ-1} L_EIoU ∂IoU``, which
        for poorly overlapping boxes *lowers* the loss by lowering the IoU: in ``analysis/sim_focal_eiou.py``
        such boxes drift away.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        ``IoU^γ · L_EIoU`` per pair, or reduced.
    """
    check_reduction(reduction)
    weight, loss = _focal_terms(pred, target, gamma, eps, detach_weight)
    return reduce_loss(weight * loss, reduction)


def focal_eiou_loss_normalized(pred: Tensor, target: Tensor, *, gamma: float = 0.5, eps: float = 1e-7,
                               detach_weight: bool = False, mask: Tensor | None = None) -> Tensor:
    """Batch-normalised Focal-EIoU ``Σ_i W_i L_EIoU,i / Σ_i W_i`` with ``W_i = IoU_i^γ`` (Eq. 11).

    Returns a scalar over all pairs (or only those where the boolean ``mask`` is true); the
    denominator is offset by ``eps`` so an all-disjoint batch stays finite.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    gamma : float, default 0.5
        Outlier suppression ``γ ≥ 0``.
    eps : float, default 1e-7
        Offset of the EIoU denominators and of ``Σ_i W_i``.
    detach_weight : bool, default False
        Treat ``W_i`` as constant in back-propagation (:func:`focal_eiou_loss`).
    mask : Tensor[...] of bool, optional
        Pairs to include (the shape of the per-pair loss).

    Returns
    -------
    Tensor[]
        The normalised loss.
    """
    weight, loss = _focal_terms(pred, target, gamma, eps, detach_weight)
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor, got {type(mask).__name__}")
        if mask.shape != loss.shape:
            raise ValueError(f"mask must have shape {tuple(loss.shape)}, got {tuple(mask.shape)}")
        weight = weight * mask
    return (weight * loss).sum() / (weight.sum() + eps)
