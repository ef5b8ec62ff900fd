"""Bounding-box regression losses from the thesis (Table 3.3) and the seed papers.

Box losses take ``pred``/``target`` xyxy tensors ``[..., 4]`` (broadcastable) and
``reduction="none" | "mean" | "sum"``; all are autograd-differentiable and finite on identical,
touching, disjoint, nested and zero-area boxes. Modules by source:

* :mod:`.lp` — L1, L2, Smooth L1, Balanced L1 (thesis Eq. 3.6–3.9);
* :mod:`.iou` — IoU (linear / −ln), Bounded IoU, GIoU, DIoU, CIoU (thesis Eq. 3.11–3.19);
* :mod:`.focal_eiou` — Zhang et al.: efficient IoU (EIoU), FocalL1, Focal-EIoU (Eq. 7–11);
* :mod:`.extended_iou` — Peng & Yu: extended IoU, Smooth-EIoU, analytic gradients, SOT
  (Eq. 10–28); this is what mmdetection calls ``EIoULoss``;
* :mod:`.gfl` — Li et al.: QFL, DFL, integral decoding (Eq. 2, 5, 6).
"""
from __future__ import annotations

from .extended_iou import (
    extended_intersection_union,
    extended_iou,
    extended_iou_grad,
    extended_iou_loss,
    smooth_extended_iou_grad,
    sot_step,
)
from .focal_eiou import efficient_iou_loss, eiou_loss, focal_eiou_loss, focal_eiou_loss_normalized, focal_l1_loss
from .gfl import distribution_focal_loss, integral_decode, quality_focal_loss
from .iou import bounded_iou_loss, ciou_loss, diou_loss, giou_loss, iou_loss
from .lp import balanced_l1_loss, l1_loss, l2_loss, smooth_l1_loss

#: Every per-pair box loss ``f(pred, target, *, reduction)`` by a short name (used by the
#: regression-loss profile and the plots).
BOX_LOSSES = {
    "l1": l1_loss,
    "l2": l2_loss,
    "smooth_l1": smooth_l1_loss,
    "balanced_l1": balanced_l1_loss,
    "iou": iou_loss,
    "bounded_iou": bounded_iou_loss,
    "giou": giou_loss,
    "diou": diou_loss,
    "ciou": ciou_loss,
    "eiou": efficient_iou_loss,
    "focal_l1": focal_l1_loss,
    "focal_eiou": focal_eiou_loss,
    "smooth_extended_iou": extended_iou_loss,
}

__all__ = [
    "BOX_LOSSES",
    "balanced_l1_loss",
    "bounded_iou_loss",
    "ciou_loss",
    "diou_loss",
    "distribution_focal_loss",
    "efficient_iou_loss",
    "eiou_loss",
    "extended_intersection_union",
    "extended_iou",
    "extended_iou_grad",
    "extended_iou_loss",
    "focal_eiou_loss",
    "focal_eiou_loss_normalized",
    "focal_l1_loss",
    "giou_loss",
    "integral_decode",
    "iou_loss",
    "l1_loss",
    "l2_loss",
    "quality_focal_loss",
    "smooth_extended_iou_grad",
    "smooth_l1_loss",
    "sot_step",
]
