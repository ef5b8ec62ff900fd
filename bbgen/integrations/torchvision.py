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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bbgen.boxes import box_iou, check_boxes
from bbgen.roi.distributions import IoUDistribution, resolve_iou_dist
from bbgen.roi.proi import generate_prois_validated
from bbgen._validate import as_generator
from bbgen.generator.proposals import Proposal, get_proposal
from bbgen.roi.samplers import OFBSampler, ohpm_select

__all__ = ["Integration", "use_ofb", "use_proi", "restore", "record_samples", "roi_losses"]

_STATE = "_bbgen_integration"  # attribute on roi_heads holding what restore() must undo
_HEAD_ATTRS = ("select_training_samples", "fg_bg_sampler", "box_coder", "box_roi_pool", "box_head",
               "box_predictor", "proposal_matcher", "check_targets")


@dataclass
class Integration:
    """Handle returned by :func:`use_ofb` / :func:`use_proi`; a context manager that restores on exit."""

    model: nn.Module
    mode: str
    _undo: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def restore(self) -> None:
        """Undo this integration; a no-op if it was already undone or replaced by a later one."""
        if _roi_heads(self.model).__dict__.get(_STATE) is self:
            restore(self.model)

    def __enter__(self) -> "Integration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()


class _Inputs:
    """The features/image shapes of the roi_heads call in progress (training only), for scoring."""

    def __init__(self) -> None:
        self.features: Optional[dict[str, Tensor]] = None
        self.image_shapes: Optional[list[tuple[int, int]]] = None

    def pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if module.training:
            self.features = args[0] if len(args) > 0 else kwargs.get("features")
            self.image_shapes = args[2] if len(args) > 2 else kwargs.get("image_shapes")

    def post_hook(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        self.features = self.image_shapes = None  # do not keep the batch's feature maps alive


def _roi_heads(model: nn.Module) -> nn.Module:
    heads = getattr(model, "roi_heads", model)
    if not isinstance(heads, nn.Module) or not all(hasattr(heads, a) for a in _HEAD_ATTRS):
        raise TypeError("model must be a torchvision FasterRCNN (or its RoIHeads) with "
                        f"roi_heads.{{{', '.join(_HEAD_ATTRS)}}}, got {type(model).__name__}")
    return heads


def _check_generator(generator: Optional[torch.Generator]) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def restore(model: nn.Module) -> bool:
    """Undo :func:`use_ofb` / :func:`use_proi` on ``model``; returns False if nothing was installed."""
    heads = _roi_heads(model)
    state: Optional[Integration] = heads.__dict__.pop(_STATE, None)
    if state is None:
        return False
    for undo in reversed(state._undo):
        undo()
    return True


def _install(model: nn.Module, mode: str, *, sampler: Any = None,
             select: Optional[Callable[..., Any]] = None, needs_inputs: bool = False) -> Integration:
    """Install a sampler and/or a ``select_training_samples`` replacement on ``model.roi_heads``."""
    heads = _roi_heads(model)
    restore(heads)  # installing twice replaces the earlier integration
    handle = Integration(model, mode)
    if sampler is not None:
        old_sampler = heads.fg_bg_sampler
        heads.fg_bg_sampler = sampler
        handle._undo.append(lambda: setattr(heads, "fg_bg_sampler", old_sampler))
    if select is not None:
        had_own = "select_training_samples" in heads.__dict__
        old_select = heads.__dict__.get("select_training_samples")
        inputs = _Inputs()
        if needs_inputs:
            pre = heads.register_forward_pre_hook(inputs.pre_hook, with_kwargs=True)
            post = heads.register_forward_hook(inputs.post_hook, with_kwargs=True, always_call=True)
            handle._undo += [pre.remove, post.remove]
        heads.select_training_samples = types.MethodType(
            lambda self, proposals, targets: select(self, inputs, proposals, targets), heads)

        def undo_select() -> None:
            if had_own:
                heads.select_training_samples = old_select
            else:
                heads.__dict__.pop("select_training_samples", None)

        handle._undo.append(undo_select)
    heads.__dict__[_STATE] = handle
    return handle


def roi_losses(heads: nn.Module, features: dict[str, Tensor], proposals: list[Tensor],
               image_shapes: list[tuple[int, int]], labels: list[Tensor],
               regression_targets: list[Tensor]) -> list[Tensor]:
    """Per-RoI Fast R-CNN loss under the current box head, without gradients.

    The terms of torchvision's ``fastrcnn_loss`` before its averaging: cross-entropy plus, for
    positives, the class-specific Smooth L1 (β = 1/9) summed over the 4 deltas. This is the
    hardness used by OHEM-style mining (thesis §4.5.3). Returns per image ``[R_i]`` losses.
    """
    with torch.no_grad():
        pooled = heads.box_roi_pool(features, proposals, image_shapes)
        logits, deltas = heads.box_predictor(heads.box_head(pooled))
        lab = torch.cat(labels)
        loss = F.cross_entropy(logits, lab, reduction="none")
        deltas = deltas.reshape(lab.numel(), -1, 4)[torch.arange(lab.numel(), device=lab.device), lab]
        reg = F.smooth_l1_loss(deltas, torch.cat(regression_targets), beta=1 / 9, reduction="none").sum(1)
        loss = loss + torch.where(lab > 0, reg, torch.zeros_like(reg))
    return list(loss.split([p.shape[0] for p in proposals]))


def _regression_targets(heads: nn.Module, proposals: list[Tensor], matched_idxs: list[Tensor],
                        gt_boxes: list[Tensor]) -> list[Tensor]:
    """torchvision's target encoding (``RoIHeads.select_training_samples``), background images included."""
    matched = []
    for props, idx, gt in zip(proposals, matched_idxs, gt_boxes):
        if gt.numel() == 0:
            gt = torch.zeros((1, 4), dtype=props.dtype, device=props.device)
        matched.append(gt[idx])
    return list(heads.box_coder.encode(matched, proposals))


def _require_inputs(inputs: _Inputs, what: str) -> tuple[dict[str, Tensor], list[tuple[int, int]]]:
    if inputs.features is None or inputs.image_shapes is None:
        raise RuntimeError(f"{what} scores RoIs with the box head and needs the features of the current "
                           "forward pass: call the model (or model.roi_heads) in training mode")
    return inputs.features, inputs.image_shapes


# ------------------------------------------------------------------------------------------ OFB

def _ofb_hard_select(heads: nn.Module, inputs: _Inputs, proposals: list[Tensor],
                     targets: list[dict[str, Tensor]]) -> tuple[list[Tensor], ...]:
    """torchvision's ``select_training_samples`` with per-RoI losses handed to the sampler (OHNM)."""
    heads.check_targets(targets)
    features, image_shapes = _require_inputs(inputs, "negative='hard'")
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
    return proposals, matched_idxs, labels, _regression_targets(heads, proposals, matched_idxs, gt_boxes)


def use_ofb(model: nn.Module, *, negative: str = "random", batch_size_per_image: Optional[int] = None,
            positive_fraction: Optional[float] = None,
            generator: Optional[torch.Generator] = None) -> Integration:
    """Train ``model`` with online foreground-balanced positive sampling (thesis §4.6.1).

    Args:
        model: a torchvision ``FasterRCNN`` (or its ``roi_heads``).
        negative: ``"random"`` (torchvision's negatives) or ``"hard"`` (highest-loss negatives, OHNM).
        batch_size_per_image, positive_fraction: default to the model's current sampler settings.
        generator: ``torch.Generator`` for all draws.

    Returns:
        an :class:`Integration` handle (context manager; ``restore(model)`` undoes it).
    """
    heads = _roi_heads(model)
    if negative not in ("random", "hard"):
        raise ValueError(f"negative must be 'random' or 'hard', got {negative!r}")
    _check_generator(generator)
    restore(heads)  # defaults come from the model's own sampler, not from an earlier integration
    base = heads.fg_bg_sampler
    sampler = OFBSampler(
        batch_size_per_image if batch_size_per_image is not None else base.batch_size_per_image,
        positive_fraction if positive_fraction is not None else base.positive_fraction,
        negative=negative, generator=generator)
    select = _ofb_hard_select if negative == "hard" else None
    return _install(model, "ofb", sampler=sampler, select=select, needs_inputs=select is not None)


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


def _proi_select(cfg: _PRoIConfig, heads: nn.Module, inputs: _Inputs, proposals: list[Tensor],
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
    sizes = None if inputs.image_shapes is None else torch.tensor(
        [(w, h) for h, w in inputs.image_shapes], dtype=torch.float64, device=device)
    try:  # one host sync for the batch; on failure name the image
        check_boxes(torch.cat(gt_boxes), "targets' boxes")
    except ValueError:
        for i, boxes in enumerate(gt_boxes):
            check_boxes(boxes, f"targets[{i}]['boxes']")
        raise
    rois = generate_prois_validated(gt_boxes, gt_labels, cfg.num_rois, cfg.iou_dist, fg_balanced=cfg.fg_balanced,
                                    exact=cfg.exact, proposal=cfg.proposal, image_sizes=sizes, generator=gen)
    per_image = [cfg.num_rois if gt.shape[0] else 0 for gt in gt_boxes]  # exactly RoINum per image with GTs
    pos_boxes = list(rois.boxes.to(dtype).split(per_image))
    pos_match = list(rois.gt_index.split(per_image))
    pos_labels = list(rois.labels.to(torch.int64).split(per_image))
    if cfg.ohpm:  # §4.5.3: score all RoINum candidates, NMS by loss, keep the num_fg hardest
        features, image_shapes = _require_inputs(inputs, "ohpm=True")
        reg = _regression_targets(heads, pos_boxes, pos_match, gt_boxes)
        losses = roi_losses(heads, features, pos_boxes, image_shapes, pos_labels, reg)
        keep = [ohpm_select(b, loss, num_fg, nms_iou=cfg.nms_iou) for b, loss in zip(pos_boxes, losses)]
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
    return out_boxes, out_match, out_labels, _regression_targets(heads, out_boxes, out_match, gt_boxes)


def use_proi(model: nn.Module, *, num_rois: int = 128, iou_dist: Any = "uniform", fg_balanced: bool = True,
             ohpm: bool = False, neg_iou_range: tuple[float, float] = (0.1, 0.5),
             positive_fraction: float = 0.25, generator: Optional[torch.Generator] = None,
             exact: bool = False, proposal: Any = "uniform", nms_iou: float = 0.7) -> Integration:
    """Train ``model``'s second stage on generated positive RoIs (thesis §4.3.2, §4.6.2).

    Per training image, with B = ``roi_heads.fg_bg_sampler.batch_size_per_image`` (torchvision: 512):

    * positives: ``num_rois`` RoIs from :func:`bbgen.roi.proi.generate_prois` (RoINum of Alg. 2;
      ``iou_dist``, ``fg_balanced``, ``exact`` and ``proposal`` are passed on); with ``ohpm=True``
      they are candidates of which the ``floor(B · positive_fraction)`` hardest survive NMS by loss
      (``nms_iou``), as in thesis Table 4.4 (RoINum 128, fg/bg 32/96);
    * negatives: up to ``B - floor(B · positive_fraction)`` RPN proposals drawn at random among
      those whose max IoU with the image's targets lies in ``neg_iou_range`` = [lo, hi)
      (images without targets: among all proposals).

    Args:
        model: a torchvision ``FasterRCNN`` (or its ``roi_heads``).
        generator: ``torch.Generator`` on the model's device for every draw; None gives a fresh
            OS-seeded one per step.

    Returns:
        an :class:`Integration` handle (context manager; ``restore(model)`` undoes it).
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
    _check_generator(generator)
    # resolved (and so checked) at install time, not at the first step
    cfg = _PRoIConfig(num_rois, resolve_iou_dist(iou_dist), bool(fg_balanced), bool(exact), get_proposal(proposal),
                      bool(ohpm), float(nms_iou), (lo, hi), float(positive_fraction), generator)
    return _install(model, "proi+ohpm" if ohpm else "proi", select=functools.partial(_proi_select, cfg),
                    needs_inputs=True)


@contextmanager
def record_samples(model: nn.Module) -> Iterator[list[dict[str, list[Tensor]]]]:
    """Record what ``select_training_samples`` returns at each training step (stock or integrated).

    Yields a list that receives, per call, ``{"proposals", "matched_idxs", "labels",
    "regression_targets"}`` (lists over images, detached) — e.g. to count positives per class or
    to histogram their IoUs. Wrap it *inside* ``use_ofb``/``use_proi``, not around them.
    """
    heads = _roi_heads(model)
    had_own = "select_training_samples" in heads.__dict__
    inner = heads.select_training_samples
    log: list[dict[str, list[Tensor]]] = []

    def recording(self: nn.Module, proposals: list[Tensor], targets: Any) -> tuple[list[Tensor], ...]:
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
