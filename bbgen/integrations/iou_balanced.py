"""IoU-balanced negative sampling (Libra R-CNN, Pang et al. 2019, §3.1) for torchvision's Faster R-CNN.

:func:`use_iou_balanced` installs :class:`bbgen.roi.iou_balanced.IoUBalancedSampler` as
``model.roi_heads.fg_bg_sampler`` and replaces ``select_training_samples`` (on the instance only) by
torchvision's own steps with one addition: the sampler is handed each RoI's max IoU with the GTs,
computed in the same pass as the matching. Positives are drawn as torchvision draws them (uniformly,
at most ``B · positive_fraction``); negatives evenly over ``num_bins`` IoU bins in
[``floor_thr``, bg threshold) plus a random remainder below ``floor_thr`` (see the sampler).

    from bbgen.integrations.iou_balanced import use_iou_balanced
    with use_iou_balanced(model, num_bins=3, generator=torch.Generator().manual_seed(0)):
        ...train as usual...
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from bbgen.roi.iou_balanced import IoUBalancedSampler

from .heads import Integration, RoIInputs, check_generator, install, keep_rois, prepare_rois, sampler_settings

__all__ = ["use_iou_balanced"]


def _iou_balanced_select(heads: nn.Module, inputs: RoIInputs, proposals: list[Tensor],
                         targets: list[dict[str, Tensor]]) -> tuple[list[Tensor], ...]:
    proposals, gt_boxes, matched_idxs, labels, max_ious = prepare_rois(heads, proposals, targets)
    sampler = heads.fg_bg_sampler
    keep = [torch.cat(sampler.sample(lab, iou, f"[{i}]")) for i, (lab, iou) in enumerate(zip(labels, max_ious))]
    return keep_rois(heads, keep, proposals, matched_idxs, labels, gt_boxes)


def use_iou_balanced(model: nn.Module, *, floor_thr: float = 0.0, num_bins: int = 3, floor_fraction: float = 0.0,
                     batch_size_per_image: Optional[int] = None, positive_fraction: Optional[float] = None,
                     generator: Optional[torch.Generator] = None) -> Integration:
    """Train ``model``'s second stage with IoU-balanced negatives (Libra R-CNN, Eq. 2).

    Parameters
    ----------
    model : nn.Module
        a torchvision ``FasterRCNN`` (or its ``roi_heads``, or a DDP wrapper around one).
    floor_thr : float
        lower end of the balanced range; below it negatives are drawn at random (``floor_fraction``).
    num_bins : int
        K, IoU bins in [floor_thr, bg threshold) (Libra R-CNN: 3).
    floor_fraction : float
        share of the negatives drawn at random below ``floor_thr``, in [0, 1].
    batch_size_per_image, positive_fraction : optional
        default to the model's current sampler settings.
    generator : torch.Generator, optional
        every draw; None gives a private OS-seeded one.

    Returns
    -------
    Integration
        handle (context manager; ``restore(model)`` undoes it).
    """
    check_generator(generator)
    heads, batch, fraction = sampler_settings(model, batch_size_per_image, positive_fraction)
    sampler = IoUBalancedSampler(
        batch, fraction, floor_thr=floor_thr, num_bins=num_bins, floor_fraction=floor_fraction,
        max_iou=float(heads.proposal_matcher.low_threshold), generator=generator)
    return install(model, "iou_balanced", sampler=sampler, select=_iou_balanced_select)
