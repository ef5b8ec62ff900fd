"""IoU-family regression losses of thesis Table 3.3 (Eq. 3.11–3.19).

All of them read the shared :func:`~bbgen.losses._geometry.pair_geometry`; GIoU, DIoU and CIoU
use torchvision's ``eps`` placement so that they equal ``torchvision.ops`` to float precision.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validate
from ._geometry import pair_geometry
from ._reduce import check_boxes, check_positive, check_reduction, reduce_loss, smooth_l1_terms

__all__ = ["bounded_iou_loss", "ciou_loss", "diou_loss", "giou_loss", "iou_loss"]

_IOU_MODES = ("linear", "log")


def iou_loss(
    pred: Tensor, target: Tensor, *, mode: str = "linear", eps: float = 1e-7, reduction: str = "none"
) -> Tensor:
    """IoU loss: ``1 - IoU`` (``mode="linear"``) or ``-ln IoU`` (``mode="log"``, thesis Eq. 3.11).

    The log form clamps IoU at ``eps`` so disjoint boxes give the finite value ``-ln eps`` (and,
    like IoU itself, zero gradient there).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    mode : {"linear", "log"}, default "linear"
        ``1 - IoU`` or ``-ln IoU``.
    eps : float, default 1e-7
        Guards the union and the logarithm, ``> 0``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        IoU loss per pair; a scalar after reduction.
    """
    if mode not in _IOU_MODES:
        raise ValueError(f"mode must be one of {_IOU_MODES}, got {mode!r}")
    eps = check_positive("eps", eps)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    iou = pair_geometry(pred, target, eps).iou
    loss = 1 - iou if mode == "linear" else -torch.log(iou.clamp(min=eps))
    return reduce_loss(loss, reduction)


def bounded_iou_loss(
    pred: Tensor, target: Tensor, *, beta: float = 0.2, eps: float = 1e-7, reduction: str = "none"
) -> Tensor:
    """Bounded IoU loss (thesis Eq. 3.12–3.14), summed over ``(cx, cy, w, h)``.

    Each parameter's bounded IoU fixes all other parameters at the target's:
    ``IoU_B(ĉx, cx) = max(0, (w - 2|ĉx - cx|)/(w + 2|ĉx - cx|))`` and
    ``IoU_B(ŵ, w) = min(ŵ/w, w/ŵ)`` (same for y/h); the loss is ``2·SmoothL1_β(1 - IoU_B)``.
    ``β = 0.2`` follows the reference implementation; ``eps`` guards the divisions (mmdetection
    uses 1e-3, which leaves a small positive loss at a perfect match).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    beta : float, default 0.2
        Smooth L1 switch point ``> 0`` (the reference implementation's).
    eps : float, default 1e-7
        Offset of every width and height ratio.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        Summed over the four parameters, per pair or reduced.
    """
    beta = check_positive("beta", beta)
    eps = check_positive("eps", eps)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    p_ctr = (pred[..., :2] + pred[..., 2:]) / 2
    t_ctr = (target[..., :2] + target[..., 2:]) / 2
    p_wh = pred[..., 2:] - pred[..., :2]
    t_wh = target[..., 2:] - target[..., :2]
    d = 2 * (p_ctr - t_ctr).abs()
    iou_ctr = ((t_wh - d) / (t_wh + d + eps)).clamp(min=0)
    iou_wh = torch.minimum(p_wh / (t_wh + eps), t_wh / (p_wh + eps))
    loss = 2 * smooth_l1_terms(1 - torch.cat([iou_ctr, iou_wh], dim=-1), beta)
    return reduce_loss(loss.sum(-1), reduction)


def giou_loss(pred: Tensor, target: Tensor, *, eps: float = 1e-7, reduction: str = "none") -> Tensor:
    """GIoU loss ``1 - IoU + (|C| - |A ∪ B|)/|C|`` with ``C`` the enclosing box (thesis Eq. 3.15).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    eps : float, default 1e-7
        Offset of the union and of the enclosing area, ``> 0``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        GIoU loss of each pair or the reduced value.
    """
    eps = check_positive("eps", eps)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    g = pair_geometry(pred, target, eps)
    area_c = g.enc_w * g.enc_h
    return reduce_loss(1 - g.iou + (area_c - g.union) / (area_c + eps), reduction)


def _diou(pred: Tensor, target: Tensor, eps: float):
    """DIoU loss and the geometry it came from (shared by DIoU and CIoU)."""
    g = pair_geometry(pred, target, eps)
    diag2 = g.enc_w**2 + g.enc_h**2 + eps
    return 1 - g.iou + g.center_dist2 / diag2, g


def diou_loss(pred: Tensor, target: Tensor, *, eps: float = 1e-7, reduction: str = "none") -> Tensor:
    """DIoU loss ``1 - IoU + d²(ĉ, c)/ē²`` (thesis Eq. 3.16), ``ē`` the enclosing box diagonal.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    eps : float, default 1e-7
        Added to the squared diagonal of the enclosing box.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        Per-pair DIoU loss, reduced as asked.
    """
    eps = check_positive("eps", eps)
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    return reduce_loss(_diou(pred, target, eps)[0], reduction)


def ciou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    eps: float = 1e-7,
    detach_alpha: bool = True,
    reduction: str = "none",
) -> Tensor:
    """CIoU loss ``L_DIoU + αv`` (thesis Eq. 3.17–3.19).

    ``v = 4/π² (arctan(w/h) - arctan(ŵ/ĥ))²`` and ``α = v/((1 - IoU) + v)``. With
    ``detach_alpha=True`` (default) ``α`` is a constant for back-propagation, as in the reference
    implementation of Zheng et al. and ``torchvision.ops.complete_box_iou_loss``; set it to
    ``False`` for the literal, fully differentiated formula. Heights are offset by ``eps`` so
    zero-height boxes keep a finite ``arctan`` gradient.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    eps : float, default 1e-7
        Offsets denominators and the heights inside ``arctan``, ``> 0``.
    detach_alpha : bool, default True
        Treat ``α`` as a constant in back-propagation (the reference implementation).
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        CIoU loss.
    """
    eps = check_positive("eps", eps)
    detach_alpha = _validate.flag(detach_alpha, "detach_alpha")
    check_reduction(reduction)
    pred, target = check_boxes(pred, target)
    diou, g = _diou(pred, target, eps)
    v = (4 / math.pi**2) * (torch.atan(g.target_w / (g.target_h + eps)) - torch.atan(g.pred_w / (g.pred_h + eps))) ** 2
    alpha = v / (1 - g.iou + v + eps)
    if detach_alpha:
        alpha = alpha.detach()
    return reduce_loss(diou + alpha * v, reduction)
