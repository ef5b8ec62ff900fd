"""Online hard example mining (OHEM, Shrivastava et al. 2016) for torchvision's Faster R-CNN.

:func:`use_ohem` replaces ``model.roi_heads.select_training_samples`` (on the instance only): every
RoI of the image (RPN proposals plus the GTs, as torchvision appends them) is scored by the current
box head under ``no_grad`` with its Fast R-CNN loss (cross-entropy + Smooth L1 for positives,
:func:`bbgen.integrations.heads.roi_losses`), NMS is run on the RoIs with the loss as score, and the
B highest-loss survivors per image are trained on (Shrivastava et al. §4.1, "read-only" RoI network;
§4.2: NMS at IoU 0.7, B/N RoIs per image, no fg:bg ratio). Ignored RoIs (label -1, a matcher with
two thresholds) are never selected. This is :func:`bbgen.roi.samplers.ohpm_select_batched` over all RoIs
(thesis §4.5.3 restricts it to positives): one sort and one host sync for the batch, NMS per image. The
selection itself is deterministic; ``generator`` permutes the RoIs before the stable sort, so that equal
losses are broken at random (reproducibly).

    from bbgen.integrations.ohem import use_ohem
    with use_ohem(model, batch_size_per_image=64, generator=torch.Generator().manual_seed(0)):
        ...train as usual...
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor, nn

from bbgen.roi.samplers import ohpm_select_batched

from .heads import (Integration, RoIInputs, check_generator, install, keep_rois, prepare_rois, regression_targets,
                    require_inputs, roi_heads_of, roi_losses)

__all__ = ["use_ohem", "ohem_keep"]


def ohem_keep(boxes: Tensor, losses: Tensor, labels: Tensor, batch_size: int, nms_iou: float = 0.7,
              generator: Optional[torch.Generator] = None) -> Tensor:
    """OHEM's choice for one image: NMS by loss over the non-ignored RoIs, then the ``batch_size`` hardest.

    Parameters
    ----------
    boxes : Tensor[R, 4]
        the image's RoIs.
    losses : Tensor[R]
        their per-RoI losses.
    labels : Tensor[R]
        their labels (-1 = ignored, never kept).
    batch_size : int
        B, RoIs kept at most.
    nms_iou : float
        an RoI is suppressed when its IoU with a harder kept one exceeds this (paper: 0.7).
    generator : torch.Generator, optional
        breaks ties between equal losses at random; None keeps the lower index first.

    Returns
    -------
    Tensor[K]
        indices into ``boxes`` of the kept RoIs, hardest first (K <= B).
    """
    return ohpm_select_batched([boxes], [losses], batch_size, nms_iou, candidates=[labels >= 0],
                               generator=generator)[0]


def _ohem_select(batch_size: Optional[int], nms_iou: float, generator: Optional[torch.Generator], heads: nn.Module,
                 inputs: RoIInputs, proposals: list[Tensor],
                 targets: list[dict[str, Tensor]]) -> tuple[list[Tensor], ...]:
    features, image_shapes = require_inputs(inputs, "use_ohem")
    proposals, gt_boxes, matched_idxs, labels, _ = prepare_rois(heads, proposals, targets)
    reg = regression_targets(heads, proposals, matched_idxs, gt_boxes)
    losses = roi_losses(heads, features, proposals, image_shapes, [lab.clamp(min=0) for lab in labels], reg)
    b = batch_size or heads.fg_bg_sampler.batch_size_per_image
    keep = ohpm_select_batched(proposals, losses, b, nms_iou, candidates=[lab >= 0 for lab in labels],
                               generator=generator)  # ohem_keep for every image, one host sync for the batch
    return keep_rois(heads, keep, proposals, matched_idxs, labels, gt_boxes)


def use_ohem(model: nn.Module, *, batch_size_per_image: Optional[int] = None, nms_iou: float = 0.7,
             generator: Optional[torch.Generator] = None) -> Integration:
    """Train ``model``'s second stage on the hardest RoIs (OHEM, Shrivastava et al. 2016, §4).

    Parameters
    ----------
    model : nn.Module
        a torchvision ``FasterRCNN`` (or its ``roi_heads``, or a DDP wrapper around one).
    batch_size_per_image : int, optional
        B, RoIs trained on per image; default: the model's ``fg_bg_sampler.batch_size_per_image``.
    nms_iou : float
        IoU above which a RoI is suppressed by a harder one (paper: 0.7), in [0, 1].
    generator : torch.Generator, optional
        random tie-break between equal losses (see :func:`ohem_keep`).

    Returns
    -------
    Integration
        handle (context manager; ``restore(model)`` undoes it).
    """
    roi_heads_of(model)
    if batch_size_per_image is not None and (isinstance(batch_size_per_image, bool) or
                                             not isinstance(batch_size_per_image, int) or batch_size_per_image < 1):
        raise ValueError(f"batch_size_per_image must be a positive int, got {batch_size_per_image!r}")
    if not isinstance(nms_iou, (int, float)) or not 0.0 <= float(nms_iou) <= 1.0:
        raise ValueError(f"nms_iou must lie in [0, 1], got {nms_iou!r}")
    check_generator(generator)
    select = functools.partial(_ohem_select, batch_size_per_image, float(nms_iou), generator)
    return install(model, "ohem", select=select, needs_inputs=True)
