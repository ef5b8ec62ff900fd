"""Machinery shared by the torchvision ``RoIHeads`` integrations: install, restore, score RoIs.

Every integration (:mod:`bbgen.integrations.torchvision`'s OFB and pRoI, :mod:`~bbgen.integrations.ohem`,
:mod:`~bbgen.integrations.iou_balanced`) changes one ``model.roi_heads`` *instance* through
:func:`install`: a new ``fg_bg_sampler`` and/or a ``select_training_samples`` replacement, undone exactly
by :func:`restore` or by leaving the returned :class:`Integration` handle's ``with`` block. Samplers
that rank RoIs by their loss (OHNM, OHPM, OHEM) get the current forward's features through
:class:`RoIInputs` and score with :func:`roi_losses`. What lives elsewhere: the samplers themselves
(:mod:`bbgen.roi.samplers`) and the methods' selection rules (one module per method).
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bbgen.boxes import box_iou

__all__ = ["Integration", "RoIInputs", "install", "restore", "roi_heads_of", "sampler_settings", "check_generator", "require_inputs",
           "roi_losses", "regression_targets", "match_proposals", "prepare_rois", "keep_rois"]

Sampler = Callable[..., tuple[list[Tensor], list[Tensor]]]  # fg_bg_sampler: labels per image -> (pos, neg) masks
# select(heads, inputs, proposals, targets) -> (proposals, matched_idxs, labels, regression_targets)
SelectFn = Callable[[nn.Module, "RoIInputs", list[Tensor], list[dict[str, Tensor]]], tuple[list[Tensor], ...]]
STATE_ATTR = "_bbgen_integration"  # attribute on roi_heads holding what restore() must undo
_HEAD_ATTRS = ("select_training_samples", "fg_bg_sampler", "box_coder", "box_roi_pool", "box_head",
               "box_predictor", "proposal_matcher", "check_targets")


@dataclass
class Integration:
    """Handle returned by every ``use_*`` integration; a context manager that restores on exit.

    Parameters
    ----------
    model : nn.Module
        the model the integration was installed on.
    mode : str
        the integration's name (``"ofb"``, ``"proi"``, ``"ohem"``, ...).
    """

    model: nn.Module
    mode: str
    _undo: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def restore(self) -> None:
        """Undo this integration; a no-op if it was already undone or replaced by a later one."""
        if roi_heads_of(self.model).__dict__.get(STATE_ATTR) is self:
            restore(self.model)

    def __enter__(self) -> "Integration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()


class RoIInputs:
    """The features/image shapes of the roi_heads call in progress (training only), for scoring."""

    def __init__(self) -> None:
        self.features: Optional[dict[str, Tensor]] = None
        self.image_shapes: Optional[list[tuple[int, int]]] = None

    def pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook of ``roi_heads``: keep the features and image shapes of a training call.

        Parameters
        ----------
        module : nn.Module
            the ``RoIHeads``.
        args, kwargs : tuple, dict
            its call's arguments ``(features, proposals, image_shapes, targets)``.
        """
        if module.training:
            self.features = args[0] if len(args) > 0 else kwargs.get("features")
            self.image_shapes = args[2] if len(args) > 2 else kwargs.get("image_shapes")

    def post_hook(self, module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        """Forward hook of ``roi_heads``: drop the references (always called, also on error).

        Parameters
        ----------
        module, args, kwargs, output
            as passed by torch; unused.
        """
        self.features = self.image_shapes = None  # do not keep the batch's feature maps alive


def roi_heads_of(model: nn.Module) -> nn.Module:
    """``model.roi_heads`` (or ``model`` itself if it is a ``RoIHeads``); TypeError otherwise.

    Parameters
    ----------
    model : nn.Module
        a torchvision ``FasterRCNN``, a ``DistributedDataParallel`` around one, or its ``RoIHeads``.
    """
    model = getattr(model, "module", model) if isinstance(model, nn.parallel.DistributedDataParallel) else model
    heads = getattr(model, "roi_heads", model)
    if not isinstance(heads, nn.Module) or not all(hasattr(heads, a) for a in _HEAD_ATTRS):
        raise TypeError("model must be a torchvision FasterRCNN (or its RoIHeads) with "
                        f"roi_heads.{{{', '.join(_HEAD_ATTRS)}}}, got {type(model).__name__}")
    return heads


def sampler_settings(model: nn.Module, batch_size_per_image: Optional[int],
                     positive_fraction: Optional[float]) -> tuple[nn.Module, int, float]:
    """Restore ``model`` and fill the sampler settings left as None from its own ``fg_bg_sampler``.

    Parameters
    ----------
    model : nn.Module
        a torchvision ``FasterRCNN`` (or its ``RoIHeads``).
    batch_size_per_image : int, optional
        B; None: the model's.
    positive_fraction : float, optional
        None: the model's.

    Returns
    -------
    tuple[nn.Module, int, float]
        ``(roi_heads, batch_size_per_image, positive_fraction)``.
    """
    heads = roi_heads_of(model)
    restore(heads)  # defaults come from the model's own sampler, not from an earlier integration
    base = heads.fg_bg_sampler
    return (heads, base.batch_size_per_image if batch_size_per_image is None else batch_size_per_image,
            base.positive_fraction if positive_fraction is None else positive_fraction)


def check_generator(generator: Optional[torch.Generator]) -> None:
    """TypeError unless ``generator`` is None or a ``torch.Generator``.

    Parameters
    ----------
    generator : torch.Generator or None
        the argument to check.
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def restore(model: nn.Module) -> bool:
    """Undo the integration installed on ``model``; returns False if nothing was installed.

    Parameters
    ----------
    model : nn.Module
        the ``FasterRCNN`` (or its ``RoIHeads``) an integration was installed on.
    """
    heads = roi_heads_of(model)
    state: Optional[Integration] = heads.__dict__.pop(STATE_ATTR, None)
    if state is None:
        return False
    for undo in reversed(state._undo):
        undo()
    return True


def install(model: nn.Module, mode: str, *, sampler: Optional[Sampler] = None,
            select: Optional[SelectFn] = None, needs_inputs: bool = False) -> Integration:
    """Install a sampler and/or a ``select_training_samples`` replacement on ``model.roi_heads``.

    Parameters
    ----------
    model : nn.Module
        a torchvision ``FasterRCNN`` (or its ``RoIHeads``); an earlier integration is restored first.
    mode : str
        name stored on the returned handle.
    sampler : object, optional
        replaces ``roi_heads.fg_bg_sampler``.
    select : callable, optional
        ``select(heads, inputs, proposals, targets)`` replaces ``select_training_samples``;
        ``inputs`` is a :class:`RoIInputs` filled during training forwards when ``needs_inputs``.
    needs_inputs : bool
        register the hooks that hand the current features to ``select``.
    """
    heads = roi_heads_of(model)
    restore(heads)  # installing twice replaces the earlier integration
    handle = Integration(model, mode)
    if sampler is not None:
        old_sampler = heads.fg_bg_sampler
        heads.fg_bg_sampler = sampler
        handle._undo.append(lambda: setattr(heads, "fg_bg_sampler", old_sampler))
    if select is not None:
        had_own = "select_training_samples" in heads.__dict__
        old_select = heads.__dict__.get("select_training_samples")
        inputs = RoIInputs()
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
    heads.__dict__[STATE_ATTR] = handle
    return handle


def roi_losses(heads: nn.Module, features: dict[str, Tensor], proposals: list[Tensor],
               image_shapes: list[tuple[int, int]], labels: list[Tensor],
               regression_targets: list[Tensor]) -> list[Tensor]:
    """Per-RoI Fast R-CNN loss under the current box head, without gradients.

    The terms of torchvision's ``fastrcnn_loss`` before its averaging: cross-entropy plus, for
    positives, the class-specific Smooth L1 (β = 1/9) summed over the 4 deltas. This is the
    hardness used by OHEM-style mining (thesis §4.5.3; Shrivastava et al. 2016, §4).

    Parameters
    ----------
    heads : nn.Module
        torchvision ``RoIHeads``.
    features : dict[str, Tensor[B, C, H, W]]
        the feature maps of the current forward.
    proposals : list[Tensor[R_i, 4]]
        RoIs per image (resized image frame).
    image_shapes : list[tuple[int, int]]
        (height, width) per image.
    labels : list[Tensor[R_i]]
        class per RoI (0 = background; >= 0).
    regression_targets : list[Tensor[R_i, 4]]
        encoded targets per RoI (ignored for background).

    Returns
    -------
    list[Tensor[R_i]]
        loss per RoI, per image.
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


def regression_targets(heads: nn.Module, proposals: list[Tensor], matched_idxs: list[Tensor],
                       gt_boxes: list[Tensor]) -> list[Tensor]:
    """torchvision's target encoding (``RoIHeads.select_training_samples``), background images included.

    Parameters
    ----------
    heads : nn.Module
        torchvision ``RoIHeads`` (its ``box_coder`` encodes).
    proposals : list[Tensor[R_i, 4]]
        RoIs per image.
    matched_idxs : list[Tensor[R_i]]
        index of the GT each RoI is matched to (any valid index for background RoIs).
    gt_boxes : list[Tensor[G_i, 4]]
        GT boxes per image.
    """
    matched = []
    for props, idx, gt in zip(proposals, matched_idxs, gt_boxes):
        if gt.numel() == 0:
            gt = torch.zeros((1, 4), dtype=props.dtype, device=props.device)
        matched.append(gt[idx])
    return list(heads.box_coder.encode(matched, proposals))


def match_proposals(heads: nn.Module, proposals: list[Tensor], gt_boxes: list[Tensor],
                    gt_labels: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """torchvision's ``assign_targets_to_proposals`` that also returns each RoI's max IoU with the GTs.

    Labels: the matched GT's class, 0 for background (max IoU below the matcher's low threshold),
    -1 for ignored (between its thresholds), as torchvision labels them.

    Parameters
    ----------
    heads : nn.Module
        torchvision ``RoIHeads`` (its ``proposal_matcher`` decides).
    proposals : list[Tensor[R_i, 4]]
        RoIs per image (GT boxes already appended).
    gt_boxes : list[Tensor[G_i, 4]]
        GT boxes per image.
    gt_labels : list[Tensor[G_i]]
        GT classes per image.

    Returns
    -------
    tuple[list[Tensor[R_i]], list[Tensor[R_i]], list[Tensor[R_i]]]
        matched GT index (clamped to >= 0), label, and max IoU (0 for images without GTs) per image.
    """
    matcher = heads.proposal_matcher
    matched_idxs, labels, max_ious = [], [], []
    for props, gt, gl in zip(proposals, gt_boxes, gt_labels):
        if gt.numel() == 0:  # background image: as torchvision
            zeros = torch.zeros((props.shape[0],), dtype=torch.int64, device=props.device)
            matched_idxs.append(zeros)
            labels.append(zeros.clone())
            max_ious.append(torch.zeros((props.shape[0],), dtype=props.dtype, device=props.device))
            continue
        quality = box_iou(gt, props)  # bbgen's IoU: torchvision's values, computed faster
        if matcher.allow_low_quality_matches:  # torchvision's matcher itself (its extra matches)
            vals, idx = quality.amax(0), matcher(quality)
            fg = idx >= 0
        else:  # the same rule (thresholds as torchvision's Matcher) with a single max over the GTs
            vals, idx = quality.max(0)
            fg = vals >= matcher.high_threshold
        lab = torch.where(fg, gl[idx.clamp(min=0)].to(torch.int64), 0)
        if matcher.low_threshold < matcher.high_threshold:
            lab = torch.where(~fg & (vals >= matcher.low_threshold), -1, lab)
        matched_idxs.append(torch.where(fg, idx, 0))
        labels.append(lab)
        max_ious.append(vals)
    return matched_idxs, labels, max_ious


def require_inputs(inputs: RoIInputs, what: str) -> tuple[dict[str, Tensor], list[tuple[int, int]]]:
    """The features and image shapes of the current forward; RuntimeError outside a training forward.

    Parameters
    ----------
    inputs : RoIInputs
        filled by the hooks that :func:`install` registers.
    what : str
        the option that needs them, for the error message.
    """
    if inputs.features is None or inputs.image_shapes is None:
        raise RuntimeError(f"{what} scores RoIs with the box head and needs the features of the current "
                           "forward pass: call the model (or model.roi_heads) in training mode")
    return inputs.features, inputs.image_shapes


def prepare_rois(heads: nn.Module, proposals: list[Tensor], targets: list[dict[str, Tensor]]
                 ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """The first half of torchvision's ``select_training_samples``: checks, GTs appended, matching.

    Parameters
    ----------
    heads : nn.Module
        torchvision ``RoIHeads``.
    proposals : list[Tensor[R_i, 4]]
        RPN proposals per image.
    targets : list[dict[str, Tensor]]
        torchvision targets (``boxes`` [G_i, 4], ``labels`` [G_i]).

    Returns
    -------
    tuple
        ``(proposals, gt_boxes, matched_idxs, labels, max_ious)``, per image, as :func:`match_proposals`.
    """
    heads.check_targets(targets)
    dtype = proposals[0].dtype
    gt_boxes = [t["boxes"].to(dtype) for t in targets]
    proposals = heads.add_gt_proposals(proposals, gt_boxes)
    matched_idxs, labels, max_ious = match_proposals(heads, proposals, gt_boxes, [t["labels"] for t in targets])
    return proposals, gt_boxes, matched_idxs, labels, max_ious


def keep_rois(heads: nn.Module, keep: list[Tensor], proposals: list[Tensor], matched_idxs: list[Tensor],
              labels: list[Tensor], gt_boxes: list[Tensor]) -> tuple[list[Tensor], ...]:
    """The second half of ``select_training_samples``: the kept RoIs with labels and regression targets.

    Parameters
    ----------
    heads : nn.Module
        torchvision ``RoIHeads``.
    keep : list[Tensor[K_i]]
        indices of the RoIs to train on, per image.
    proposals, matched_idxs, labels : list[Tensor[R_i, ...]]
        as returned by :func:`prepare_rois`.
    gt_boxes : list[Tensor[G_i, 4]]
        GT boxes per image.

    Returns
    -------
    tuple
        ``(proposals, matched_idxs, labels, regression_targets)`` as torchvision returns them.
    """
    proposals = [p[k] for p, k in zip(proposals, keep)]
    labels = [lab[k] for lab, k in zip(labels, keep)]
    matched_idxs = [m[k] for m, k in zip(matched_idxs, keep)]
    return proposals, matched_idxs, labels, regression_targets(heads, proposals, matched_idxs, gt_boxes)
