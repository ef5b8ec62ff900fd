"""Switch a torchvision Faster R-CNN to OFB sampling, generated positive RoIs and OHPM.

Three-line switch (thesis §4.5–4.6)::

    from bbgen.integrations.torchvision import use_proi
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(num_classes=21)
    with use_proi(model, iou_dist="uniform", ohpm=True):   # or: use_ofb(model)
        ...train as usual...                                # restored on exit (or restore(model))

What is changed, on the ``model.roi_heads`` instance only (the class and other models are untouched):

* :func:`use_ofb` replaces ``roi_heads.fg_bg_sampler`` by :class:`bbgen.roi.samplers.OFBSampler`
  (thesis §4.6.1, Tables 4.2/4.3); with ``negative="hard"`` it also wraps
  ``select_training_samples`` so the negatives are the highest-loss ones under the current head
  (OHNM, the "H" rows of Table 4.3).
* :func:`use_proi` wraps ``select_training_samples`` (thesis §4.3.2 Alg. 2, §4.6.2, Tables 4.4/4.5):
  RPN positives are discarded, positives are generated around the targets by
  :func:`bbgen.roi.proi.generate_prois`, negatives are RPN proposals whose max IoU with the targets lies
  in ``neg_iou_range``; labels, matched indices and regression targets are built as torchvision
  builds them (its ``box_coder``). With ``ohpm=True`` the generated candidates are scored by the
  model's own box head under ``no_grad``, NMS'd by loss and the hardest kept (§4.5.3, Table 4.1).

Evaluation is unaffected: ``select_training_samples`` only runs in training mode, and the hook that
hands the current features to the OHPM/OHNM scorer is inert outside training. Scoring runs the box
head in training mode under ``no_grad``; a box head with BatchNorm would update its running
statistics there (torchvision's default heads have none). Restore before pickling or deep-copying
the model object (``state_dict`` is unaffected: no parameter or buffer is added).
"""
from __future__ import annotations

import functools
import types
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bbgen.boxes import box_iou, check_boxes
from bbgen.roi.distributions import IoUDistLike, IoUDistribution, resolve_iou_dist
from bbgen.roi.proi import generate_prois_validated, host_gts
from bbgen._validate import as_generator
from bbgen.generator.proposals import Proposal, get_proposal
from bbgen.roi.samplers import OFBSampler, ohpm_select_batched

from .heads import (Integration, RoIInputs, check_generator, install, regression_targets, require_inputs, restore,
                    roi_heads_of, roi_losses, sampler_settings)

__all__ = ["Integration", "use_ofb", "use_proi", "restore", "record_samples", "roi_losses"]


# ------------------------------------------------------------------------------------------ OFB

def _ofb_hard_select(heads: nn.Module, inputs: RoIInputs, proposals: list[Tensor],
                     targets: list[dict[str, Tensor]]) -> tuple[list[Tensor], ...]:
    """torchvision's ``select_training_samples`` with per-RoI losses handed to the sampler (OHNM)."""
    heads.check_targets(targets)
    features, image_shapes = require_inputs(inputs, "negative='hard'")
    dtype = proposals[0].dtype
    gt_boxes = [t["boxes"].to(dtype) for t in targets]
    proposals = heads.add_gt_proposals(proposals, gt_boxes)
    matched_idxs, labels = heads.assign_targets_to_proposals(proposals, gt_boxes, [t["labels"] for t in targets])
    # a negative's loss is its background cross-entropy; the sampler ranks only negatives
    bg = [torch.zeros_like(lab) for lab in labels]
    losses = roi_losses(heads, features, proposals, image_shapes, bg, [torch.zeros_like(p) for p in proposals])
    pos_masks, neg_masks = heads.fg_bg_sampler(labels, losses=losses)
    keep = [torch.where(p | n)[0] for p, n in zip(pos_masks, neg_masks)]
    proposals = [p[k] for p, k in zip(proposals, keep)]
    labels = [lab[k] for lab, k in zip(labels, keep)]
    matched_idxs = [m[k] for m, k in zip(matched_idxs, keep)]
    return proposals, matched_idxs, labels, regression_targets(heads, proposals, matched_idxs, gt_boxes)


def use_ofb(model: nn.Module, *, negative: str = "random", batch_size_per_image: Optional[int] = None,
            positive_fraction: Optional[float] = None,
            generator: Optional[torch.Generator] = None) -> Integration:
    """Train ``model`` with online foreground-balanced positive sampling (thesis §4.6.1).

    Parameters
    ----------
    model : nn.Module
        A torchvision ``FasterRCNN`` (or its ``roi_heads``).
    negative : {"random", "hard"}, default "random"
        ``"random"`` (torchvision's negatives) or ``"hard"`` (highest-loss negatives, OHNM).
    batch_size_per_image : int, optional
        Defaults to the model's current sampler setting.
    positive_fraction : float, optional
        Defaults to the model's current sampler setting.
    generator : torch.Generator, optional
        ``torch.Generator`` for all draws.

    Returns
    -------
    Integration
        A handle (context manager; ``restore(model)`` undoes it).
    """
    roi_heads_of(model)
    if negative not in ("random", "hard"):
        raise ValueError(f"negative must be 'random' or 'hard', got {negative!r}")
    check_generator(generator)
    _, batch, fraction = sampler_settings(model, batch_size_per_image, positive_fraction)
    sampler = OFBSampler(batch, fraction, negative=negative, generator=generator)
    select = _ofb_hard_select if negative == "hard" else None
    return install(model, "ofb", sampler=sampler, select=select, needs_inputs=select is not None)


# ------------------------------------------------------------------------------------------ pRoI

@dataclass(frozen=True)
class _PRoIConfig:
    num_rois: int
    iou_dist: IoUDistribution
    fg_balanced: bool
    exact: bool
    proposal: Proposal
    ohpm: bool
    nms_iou: float
    neg_iou_range: tuple[float, float]
    positive_fraction: float
    generator: Optional[torch.Generator]


def _index(tensors: list[Tensor], keep: list[Tensor]) -> list[Tensor]:
    return [t[k] for t, k in zip(tensors, keep)]


def _proi_select(cfg: _PRoIConfig, heads: nn.Module, inputs: RoIInputs, proposals: list[Tensor],
                 targets: list[dict[str, Tensor]]) -> tuple[list[Tensor], ...]:
    """``select_training_samples`` with generated positives and RPN negatives (thesis §4.6.2)."""
    heads.check_targets(targets)
    dtype, device = proposals[0].dtype, proposals[0].device
    gt_boxes = [t["boxes"].to(dtype) for t in targets]
    gt_labels = [t["labels"] for t in targets]
    gen = as_generator(cfg.generator, device)
    batch = heads.fg_bg_sampler.batch_size_per_image
    num_fg = int(batch * cfg.positive_fraction)  # torchvision's split of the per-image batch
    num_bg = batch - num_fg

    # positives: Alg. 2 around the targets, inside the (resized) images. torchvision has checked the targets'
    # types, shapes and degenerate boxes (training mode); NaN/inf it lets through, so that check stays
    wh = None if inputs.image_shapes is None else np.array([(w, h) for h, w in inputs.image_shapes], np.float64)
    host = host_gts(gt_boxes, gt_labels, wh)  # one device-to-host copy: checked here, planned from by Alg. 2
    if not np.isfinite(host.gt).all():  # name the image and the GT
        for i, boxes in enumerate(gt_boxes):
            check_boxes(boxes, f"targets[{i}]['boxes']")
    sizes = None if wh is None else torch.from_numpy(wh).to(device, non_blocking=True)  # for the torch backend
    rois = generate_prois_validated(gt_boxes, gt_labels, cfg.num_rois, cfg.iou_dist, fg_balanced=cfg.fg_balanced,
                                    exact=cfg.exact, proposal=cfg.proposal, image_sizes=sizes, generator=gen,
                                    host=host)
    per_image = [cfg.num_rois if gt.shape[0] else 0 for gt in gt_boxes]  # exactly RoINum per image with GTs
    pos_boxes = list(rois.boxes.to(dtype).split(per_image))
    pos_match = list(rois.gt_index.split(per_image))
    pos_labels = list(rois.labels.to(torch.int64).split(per_image))
    if cfg.ohpm:  # §4.5.3: score all RoINum candidates, NMS by loss, keep the num_fg hardest
        features, image_shapes = require_inputs(inputs, "ohpm=True")
        reg = regression_targets(heads, pos_boxes, pos_match, gt_boxes)
        losses = roi_losses(heads, features, pos_boxes, image_shapes, pos_labels, reg)
        keep = ohpm_select_batched(pos_boxes, losses, num_fg, cfg.nms_iou)
        pos_boxes, pos_match, pos_labels = (_index(t, keep) for t in (pos_boxes, pos_match, pos_labels))

    # negatives: RPN proposals whose max IoU with the targets lies in [lo, hi); RPN positives dropped
    lo, hi = cfg.neg_iou_range
    out_boxes, out_match, out_labels = [], [], []
    for props, gt, pb, pm, pl in zip(proposals, gt_boxes, pos_boxes, pos_match, pos_labels):
        if gt.numel():
            max_iou = box_iou(gt, props).amax(0)  # bbgen's IoU: coordinate-wise, faster than torchvision's here
            cand = torch.where((max_iou >= lo) & (max_iou < hi))[0]
        else:  # background image: every proposal is a negative, as in torchvision
            cand = torch.arange(props.shape[0], device=device)
        pick = torch.randperm(cand.numel(), generator=gen, device=gen.device)[:num_bg].to(device)
        neg = props[cand[pick]]
        out_boxes.append(torch.cat([pb, neg]))
        out_match.append(F.pad(pm, (0, neg.shape[0])))  # negatives: matched index 0, label 0 (background)
        out_labels.append(F.pad(pl, (0, neg.shape[0])))
    return out_boxes, out_match, out_labels, regression_targets(heads, out_boxes, out_match, gt_boxes)


def use_proi(model: nn.Module, *, num_rois: int = 128, iou_dist: IoUDistLike = "uniform", fg_balanced: bool = True,
             ohpm: bool = False, neg_iou_range: tuple[float, float] = (0.1, 0.5),
             positive_fraction: float = 0.25, generator: Optional[torch.Generator] = None,
             exact: bool = False, proposal: Union[str, Proposal] = "uniform", nms_iou: float = 0.7) -> Integration:
    """Train ``model``'s second stage on generated positive RoIs (thesis §4.3.2, §4.6.2).

    Per training image, with B = ``roi_heads.fg_bg_sampler.batch_size_per_image`` (torchvision: 512):

    * positives: ``num_rois`` RoIs from :func:`bbgen.roi.proi.generate_prois` (RoINum of Alg. 2;
      ``iou_dist``, ``fg_balanced``, ``exact`` and ``proposal`` are passed on); with ``ohpm=True``
      they are candidates of which the ``floor(B · positive_fraction)`` hardest survive NMS by loss
      (``nms_iou``), as in thesis Table 4.4 (RoINum 128, fg/bg 32/96);
    * negatives: up to ``B - floor(B · positive_fraction)`` RPN proposals drawn at random among
      those whose max IoU with the image's targets lies in ``neg_iou_range`` = [lo, hi)
      (images without targets: among all proposals).

    Parameters
    ----------
    model : nn.Module
        A torchvision ``FasterRCNN`` (or its ``roi_heads``).
    num_rois : int, default 128
        Generated positive candidates per image (RoINum of Alg. 2).
    iou_dist : str, IoUDistribution or (bases, weights), default "uniform"
        IoU distribution of the positives, passed to :func:`bbgen.roi.proi.generate_prois`.
    fg_balanced : bool, default True
        ``fgBalancedRoIAlloc`` or equal per instance, passed to :func:`bbgen.roi.proi.generate_prois`.
    ohpm : bool, default False
        Keep the ``floor(B · positive_fraction)`` hardest candidates after NMS by loss (§4.5.3).
    neg_iou_range : (float, float), default (0.1, 0.5)
        ``[lo, hi)`` of the negatives' max IoU with the image's targets, ``0 <= lo < hi <= 1``.
    positive_fraction : float, default 0.25
        Share of B for positives, in ``(0, 1]``.
    generator : torch.Generator, optional
        ``torch.Generator`` on the model's device for every draw; None gives a fresh OS-seeded one per step.
    exact : bool, default False
        Interval mode of :func:`bbgen.roi.proi.generate_prois` (the IoU histogram equals the weights).
    proposal : str or Proposal, default "uniform"
        Relative spatial control, passed to :func:`bbgen.roi.proi.generate_prois`.
    nms_iou : float, default 0.7
        IoU of the OHPM NMS, in ``[0, 1]``.

    Returns
    -------
    Integration
        A handle (context manager; ``restore(model)`` undoes it).
    """
    if isinstance(num_rois, bool) or not isinstance(num_rois, int) or num_rois < 1:
        raise ValueError(f"num_rois must be a positive int, got {num_rois!r}")
    if not isinstance(positive_fraction, (int, float)) or not 0.0 < float(positive_fraction) <= 1.0:
        raise ValueError(f"positive_fraction must lie in (0, 1], got {positive_fraction!r}")
    try:
        lo, hi = (float(v) for v in neg_iou_range)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"neg_iou_range must be a pair (lo, hi), got {neg_iou_range!r}") from exc
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"neg_iou_range must satisfy 0 <= lo < hi <= 1, got {neg_iou_range!r}")
    if not 0.0 <= float(nms_iou) <= 1.0:
        raise ValueError(f"nms_iou must lie in [0, 1], got {nms_iou!r}")
    check_generator(generator)
    # resolved (and so checked) at install time, not at the first step
    cfg = _PRoIConfig(num_rois, resolve_iou_dist(iou_dist), bool(fg_balanced), bool(exact), get_proposal(proposal),
                      bool(ohpm), float(nms_iou), (lo, hi), float(positive_fraction), generator)
    return install(model, "proi+ohpm" if ohpm else "proi", select=functools.partial(_proi_select, cfg),
                    needs_inputs=True)


@contextmanager
def record_samples(model: nn.Module) -> Iterator[list[dict[str, list[Tensor]]]]:
    """Record what ``select_training_samples`` returns at each training step (stock or integrated).

    Parameters
    ----------
    model : nn.Module
        A torchvision ``FasterRCNN`` (or its ``roi_heads``). Wrap this context *inside*
        ``use_ofb``/``use_proi``, not around them.

    Yields
    ------
    list[dict[str, list[Tensor]]]
        A list that receives, per call, ``{"proposals", "matched_idxs", "labels", "regression_targets"}``
        (lists over images, detached) — e.g. to count positives per class or to histogram their IoUs.
    """
    heads = roi_heads_of(model)
    had_own = "select_training_samples" in heads.__dict__
    inner = heads.select_training_samples
    log: list[dict[str, list[Tensor]]] = []

    def recording(self: nn.Module, proposals: list[Tensor],
                  targets: Optional[list[dict[str, Tensor]]]) -> tuple[list[Tensor], ...]:
        out = inner(proposals, targets)
        keys = ("proposals", "matched_idxs", "labels", "regression_targets")
        log.append({k: [t.detach() for t in v] for k, v in zip(keys, out)})
        return out

    heads.select_training_samples = types.MethodType(recording, heads)
    try:
        yield log
    finally:
        if had_own:
            heads.select_training_samples = inner
        else:
            heads.__dict__.pop("select_training_samples", None)
