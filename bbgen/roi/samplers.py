"""RoI samplers for two-stage detectors: OFB sampling and online hard positive mining.

* :class:`OFBSampler` — Online Foreground-Balanced sampling (thesis §4.6.1, Tables 4.2/4.3): with C foreground
  classes among an image's positive RoIs and k_c positives of class c, every positive gets probability 1/(C·k_c)
  and the positives are drawn from that multinomial without replacement. Negatives are drawn at random or, when
  per-RoI losses are supplied, as the hardest (OHNM, the "H" rows of Table 4.3). Drop-in for torchvision's
  ``BalancedPositiveNegativeSampler``.
* :func:`ohpm_select` — Online Hard Positive Mining (thesis §4.5.3, Table 4.1): NMS with the loss as score, then
  the k hardest survivors; :func:`ohpm_select_batched` does it for every image of a batch with one sort and one
  host sync for the batch (plus torchvision's NMS per image), as OHEM and OHPM run it in a training step.

Only torch is required; ``torchvision.ops.nms`` is used when torchvision is importable.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from .._typing import SeedLike
from .._validate import as_generator, positive_int
from ..boxes import box_iou

__all__ = ["OFBSampler", "append_masks", "check_matched_idxs", "ohpm_select", "ohpm_select_batched",
           "ofb_probabilities"]

_NEGATIVE_MODES = ("random", "hard")


def _check_boxes(boxes: Tensor, name: str) -> None:
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [N, 4], got {tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {boxes.dtype}")


def _greedy_nms_torch(boxes: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS over ``boxes`` [N, 4] already in priority order -> kept positions [K] (ascending).

    A box is suppressed when its IoU with an earlier kept box exceeds ``iou_threshold`` (torchvision's
    convention). The pairwise matrix is computed once; the scan is O(N²) but N is a few hundred candidates here.
    """
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    overlap = (box_iou(boxes, boxes) > iou_threshold).cpu()  # bbgen's single IoU implementation
    suppressed = torch.zeros(n, dtype=torch.bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlap[i]
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _greedy_nms(boxes: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS with the rows of ``boxes`` [N, 4] as priority order -> kept positions [K]."""
    try:
        from torchvision.ops import nms
    except ImportError:
        return _greedy_nms_torch(boxes, iou_threshold)
    # Strictly decreasing rank scores make torchvision visit the boxes in exactly our order,
    # so ties in the loss cannot be broken differently by its internal sort.
    rank = torch.arange(boxes.shape[0], 0, -1, dtype=torch.float32, device=boxes.device)
    return nms(boxes.float(), rank, iou_threshold).sort().values


def ohpm_select(boxes: Tensor, losses: Tensor, k: int, nms_iou: float = 0.7) -> Tensor:
    """Online hard positive mining (thesis §4.5.3): NMS by loss, then the ``k`` hardest.

    Parameters
    ----------
    boxes : Tensor[N, 4]
        Candidate boxes (x1, y1, x2, y2), e.g. the RoINum pRoIs of one image.
    losses : Tensor[N]
        Per-candidate loss (higher = harder); finite.
    k : int
        How many to keep (``k >= 0``); fewer are returned when NMS leaves fewer than ``k``.
    nms_iou : float, default 0.7
        A candidate is suppressed when its IoU with a harder kept one exceeds this.

    Returns
    -------
    LongTensor[min(k, K)]
        Indices into ``boxes``, hardest first; ties in the loss are broken by the lower index (deterministic).

    See Also
    --------
    ohpm_select_batched : the same for every image of a batch, with one host sync.
    """
    _check_boxes(boxes, "boxes")
    if not isinstance(losses, Tensor):
        raise TypeError(f"losses must be a torch.Tensor, got {type(losses).__name__}")
    if losses.shape != boxes.shape[:1]:
        raise ValueError(f"losses must have shape [{boxes.shape[0]}] to match boxes, got {tuple(losses.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if not 0.0 <= float(nms_iou) <= 1.0:
        raise ValueError(f"nms_iou must lie in [0, 1], got {nms_iou!r}")
    return ohpm_select_batched([boxes], [losses], k, float(nms_iou))[0]


def ohpm_select_batched(boxes: Sequence[Tensor], losses: Sequence[Tensor], k: int, nms_iou: float = 0.7, *,
                        candidates: Optional[Sequence[Tensor]] = None,
                        generator: Optional[torch.Generator] = None) -> list[Tensor]:
    """:func:`ohpm_select` for each image of a batch: NMS by loss, then the ``k`` hardest, per image.

    One stable sort orders the whole batch (by image, then by decreasing loss) and one host sync reads the
    per-image counts (and whether every loss is finite); only the NMS (torchvision's, which syncs on CUDA) runs
    once per image. Without ``candidates`` and ``generator`` image ``i``'s result equals
    ``ohpm_select(boxes[i], losses[i], k, nms_iou)``. Inputs are trusted to be well formed (the training
    integrations build them); use :func:`ohpm_select` for checked single-image calls.

    Parameters
    ----------
    boxes : sequence of Tensor[R_i, 4]
        per image candidate boxes, one device.
    losses : sequence of Tensor[R_i]
        their losses (higher = harder).
    k : int
        boxes kept per image at most.
    nms_iou : float, default 0.7
        a box is suppressed when its IoU with a harder kept one exceeds this.
    candidates : sequence of Tensor[R_i] bool, optional
        only these may be kept (OHEM: the non-ignored RoIs); all by default.
    generator : torch.Generator, optional
        permutes the batch before the stable sort, so that equal losses are broken at random (reproducibly);
        None keeps the lower index first.

    Returns
    -------
    list[LongTensor[K_i]]
        per image, indices into ``boxes[i]``, hardest first (``K_i <= k``).

    Examples
    --------
    >>> boxes = [torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 11.], [20., 20., 30., 30.]])] * 2
    >>> losses = [torch.tensor([0.2, 0.9, 0.5]), torch.tensor([0.9, 0.2, 0.1])]
    >>> [kept.tolist() for kept in ohpm_select_batched(boxes, losses, 2)]
    [[1, 2], [0, 2]]
    """
    if len(boxes) == 0:
        return []
    device = boxes[0].device
    sizes = [b.shape[0] for b in boxes]
    loss = torch.cat([lo.detach() for lo in losses]).double()
    image = torch.cat([torch.full((n,), i, dtype=torch.int64, device=device) for i, n in enumerate(sizes)])
    if generator is not None:
        order = torch.randperm(loss.numel(), generator=generator, device=generator.device).to(device)
    else:
        order = torch.arange(loss.numel(), device=device)
    if candidates is not None:
        order = order[torch.cat(list(candidates))[order]]
    order = order[torch.sort(-loss[order], stable=True).indices]  # stable: ties keep the (permuted) index order
    order = order[torch.sort(image[order], stable=True).indices]  # grouped by image, hardest first within
    counts = torch.bincount(image[order], minlength=len(sizes))
    host = torch.cat([counts, (~torch.isfinite(loss[order])).sum()[None]]).tolist()  # the one sync
    if host[-1]:
        raise ValueError("losses must be finite; got NaN or inf")
    out, start = [], 0
    for b, chunk, n in zip(boxes, order.split(host[:-1]), sizes):
        local = chunk - start
        out.append(local[_greedy_nms(b.detach()[local], float(nms_iou))[:k]])
        start += n
    return out


def ofb_probabilities(labels: Tensor) -> Tensor:
    """OFB sampling weights (thesis §4.6.1): ``1 / (C · k_c)`` for each positive label.

    Parameters
    ----------
    labels : Tensor[P]
        Class labels of the positive RoIs (integers ≥ 1).

    Returns
    -------
    Tensor[P] float64
        Probabilities summing to 1 (each present class gets total mass 1/C).
    """
    if labels.numel() == 0:
        return torch.zeros(0, dtype=torch.float64, device=labels.device)
    counts = torch.bincount(labels)
    return 1.0 / (counts.count_nonzero() * counts[labels]).double()


def check_matched_idxs(matched_idxs: Sequence[Tensor]) -> None:
    """Raise ``TypeError`` unless ``matched_idxs`` is a list/tuple (one labels tensor per image), as torchvision passes.

    Parameters
    ----------
    matched_idxs : list[Tensor[R_i]]
        what a sampler is called with.
    """
    if isinstance(matched_idxs, Tensor) or not isinstance(matched_idxs, (list, tuple)):
        raise TypeError(f"matched_idxs must be a list of tensors, got {type(matched_idxs).__name__}")


def append_masks(labels: Tensor, pos_pick: Tensor, neg_pick: Tensor, pos_masks: list[Tensor],
                  neg_masks: list[Tensor]) -> None:
    """Append one image's ``uint8`` masks [R] of the picked positives and negatives (torchvision's format).

    Parameters
    ----------
    labels : Tensor[R]
        the image's RoI labels (only their shape and device are used).
    pos_pick, neg_pick : Tensor[P], Tensor[Q]
        positions of the sampled positives and negatives.
    pos_masks, neg_masks : list[Tensor[R]]
        the per-image mask lists, appended to in place.
    """
    for pick, masks in ((pos_pick, pos_masks), (neg_pick, neg_masks)):
        mask = torch.zeros_like(labels, dtype=torch.uint8)
        mask[pick] = 1
        masks.append(mask)


class OFBSampler:
    """Online foreground-balanced positive sampler with random or hard negatives (thesis §4.6.1).

    Same contract as ``torchvision.models.detection._utils.BalancedPositiveNegativeSampler``, so it can be
    assigned to ``model.roi_heads.fg_bg_sampler``. Per image, ``floor(batch_size_per_image · positive_fraction)``
    positives (or all, if fewer) are drawn without replacement with probability proportional to 1/(C·k_c);
    negatives fill the rest of the batch. C and k_c are counted per image, like torchvision's per-image quotas
    (with one image per batch, the thesis's VOC setting, this is the batch-level rule of §4.6.1).

    Parameters
    ----------
    batch_size_per_image : int
        RoIs sampled per image (torchvision default 512).
    positive_fraction : float
        Maximum fraction of positives (torchvision default 0.25).
    negative : {"random", "hard"}, default "random"
        ``"random"`` (uniform without replacement) or ``"hard"`` (the highest-loss negatives; requires
        ``losses`` in the call — OHNM, thesis Table 4.3).
    generator : torch.Generator, int, numpy.random.Generator or None
        Used for every draw (reproducible sampling). A ``torch.Generator`` (on any device) is used as is; an int
        seed or a numpy Generator gives a CPU one (:func:`bbgen._validate.as_generator`); None gives a private
        OS-seeded one (torch's global RNG is never used). Draws happen on the generator's device and the
        indices are moved to the labels' device.
    """

    def __init__(self, batch_size_per_image: int, positive_fraction: float, *, negative: str = "random",
                 generator: SeedLike = None) -> None:
        batch_size_per_image = positive_int(batch_size_per_image, "batch_size_per_image")
        if not isinstance(positive_fraction, (int, float)) or not 0.0 <= float(positive_fraction) <= 1.0:
            raise ValueError(f"positive_fraction must lie in [0, 1], got {positive_fraction!r}")
        if negative not in _NEGATIVE_MODES:
            raise ValueError(f"negative must be one of {_NEGATIVE_MODES}, got {negative!r}")
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, float(positive_fraction)
        if not isinstance(generator, torch.Generator):  # keep the caller's generator on whatever device it is
            generator = as_generator(generator)
        self.negative, self.generator = negative, generator

    def __repr__(self) -> str:
        return (f"OFBSampler(batch_size_per_image={self.batch_size_per_image}, "
                f"positive_fraction={self.positive_fraction}, negative={self.negative!r})")

    def _draw_positives(self, labels: Tensor, num: int) -> Tensor:
        """``num`` positions of ``labels`` [P] drawn without replacement with OFB weights."""
        if num >= labels.numel():
            return torch.arange(labels.numel(), device=labels.device)
        if num == 0:
            return torch.zeros(0, dtype=torch.long, device=labels.device)
        device = labels.device
        labels = labels.to(self.generator.device)
        # weights 1/k_c (the common factor 1/C of ofb_probabilities does not change the draw). Successive
        # weighted draws without replacement via exponential keys (Efraimidis & Spirakis): the num smallest
        # Exp(1)/w = Exp(1)·k_c. This is the algorithm torch.multinomial(replacement=False) runs, without its
        # input validation, which costs more than the draw itself here.
        keys = torch.empty(labels.shape, device=labels.device).exponential_(generator=self.generator)
        keys.mul_(torch.bincount(labels)[labels])
        return torch.topk(keys, num, largest=False, sorted=False).indices.to(device)

    def _draw_negatives(self, count: int, num: int, losses: Optional[Tensor], device: torch.device) -> Tensor:
        if self.negative == "hard":
            # highest loss first; stable so equal losses keep index order (deterministic OHNM)
            return torch.sort(-losses.detach().double(), stable=True).indices[:num]
        return torch.randperm(count, generator=self.generator, device=self.generator.device)[:num].to(device)

    def __call__(self, matched_idxs: Sequence[Tensor],
                 losses: Optional[Sequence[Tensor]] = None) -> tuple[list[Tensor], list[Tensor]]:
        """Sample positives and negatives for each image.

        Parameters
        ----------
        matched_idxs : list[Tensor[R_i]]
            per image, integer class labels: ``>= 1`` positive (its class), ``0`` background, ``-1`` ignored
            (what torchvision's ``RoIHeads.subsample`` passes).
        losses : list[Tensor[R_i]], optional
            per image, per-RoI losses; required for ``negative="hard"``.

        Returns
        -------
        tuple[list[Tensor[R_i]], list[Tensor[R_i]]]
            ``(pos_masks, neg_masks)``: per image ``uint8`` masks of the sampled RoIs.
        """
        check_matched_idxs(matched_idxs)
        if self.negative == "hard" and losses is None:
            raise ValueError("losses is required when negative='hard' (per-RoI losses for OHNM), got None")
        if losses is not None and len(losses) != len(matched_idxs):
            raise ValueError(f"losses must have one tensor per image ({len(matched_idxs)}), got {len(losses)}")
        num_pos_max = int(self.batch_size_per_image * self.positive_fraction)
        pos_masks, neg_masks = [], []
        for i, labels in enumerate(matched_idxs):
            if not isinstance(labels, Tensor) or labels.dim() != 1:
                raise ValueError(f"matched_idxs[{i}] must be a 1-D tensor of class labels")
            positive, negative = torch.where(labels >= 1)[0], torch.where(labels == 0)[0]
            num_pos = min(positive.numel(), num_pos_max)
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            neg_losses = None
            if losses is not None:
                if losses[i].shape != labels.shape:
                    raise ValueError(f"losses[{i}] must have shape {tuple(labels.shape)}, got {tuple(losses[i].shape)}")
                neg_losses = losses[i][negative]
            pos_pick = positive[self._draw_positives(labels[positive], num_pos)]
            neg_pick = negative[self._draw_negatives(negative.numel(), num_neg, neg_losses, labels.device)]
            append_masks(labels, pos_pick, neg_pick, pos_masks, neg_masks)
        return pos_masks, neg_masks
