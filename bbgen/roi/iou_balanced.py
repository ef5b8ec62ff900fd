"""IoU-balanced negative sampling (Libra R-CNN, Pang et al. 2019, §3.1, Eq. 2) for two-stage detectors.

:class:`IoUBalancedSampler` is a drop-in for torchvision's ``BalancedPositiveNegativeSampler`` that also takes
each RoI's max IoU; :func:`bbgen.integrations.iou_balanced.use_iou_balanced` installs it in a Faster R-CNN.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from .._typing import SeedLike
from .._validate import positive_int
from .samplers import OFBSampler, append_masks, check_matched_idxs

__all__ = ["IoUBalancedSampler"]


def _pick(candidates: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``min(k, len)`` entries of ``candidates`` [N] drawn uniformly without replacement."""
    if k <= 0 or candidates.numel() == 0:
        return candidates[:0]
    perm = torch.randperm(candidates.numel(), generator=generator, device=generator.device)[:k]
    return candidates[perm.to(candidates.device)]


class IoUBalancedSampler:
    """IoU-balanced negative sampling (Libra R-CNN, Pang et al. 2019, §3.1, Eq. 2), random positives.

    Per image, ``num_pos = min(#positives, floor(B · positive_fraction))`` positives are drawn uniformly (as
    torchvision's sampler) and ``num_neg = min(#negatives, B - num_pos)`` negatives as follows, with
    ``n_iou = floor(num_neg · (1 - floor_fraction))`` (the rule of mmdetection's ``IoUBalancedNegSampler``):

    1. [floor_thr, max_iou) is cut into ``num_bins`` equal IoU bins; from each, ``n_iou // num_bins``
       negatives are drawn uniformly, or all of the bin when it holds fewer (Eq. 2: p_k = N / (K · M_k));
    2. the rest of the ``n_iou`` is drawn uniformly from the negatives at or above ``floor_thr`` not yet taken;
    3. ``num_neg`` minus what was taken is drawn uniformly from the negatives below ``floor_thr``;
    4. any shortfall is drawn uniformly from the negatives not yet taken.

    Negatives whose IoU is ``>= max_iou`` (a matcher with a higher background threshold) count in the
    last bin. With ``floor_thr = 0`` there is nothing below the floor and step 3 is empty.

    Parameters
    ----------
    batch_size_per_image : int
        B, RoIs sampled per image (torchvision default 512).
    positive_fraction : float
        maximum fraction of positives, in [0, 1].
    floor_thr : float
        lower end of the balanced IoU range, in [0, max_iou).
    num_bins : int
        K, number of IoU bins (Libra R-CNN: 3).
    floor_fraction : float
        share of the negatives reserved for IoU below ``floor_thr``, in [0, 1].
    max_iou : float
        upper end of the balanced range: the background IoU threshold (torchvision: 0.5), in (0, 1].
    generator : torch.Generator, int, numpy.random.Generator or None
        used for every draw, as in :class:`~bbgen.roi.samplers.OFBSampler` (a torch.Generator on any device
        as is; an int seed or a numpy Generator through :func:`bbgen._validate.as_generator`; None: a private
        OS-seeded one).
    """

    def __init__(self, batch_size_per_image: int, positive_fraction: float, *, floor_thr: float = 0.0,
                 num_bins: int = 3, floor_fraction: float = 0.0, max_iou: float = 0.5,
                 generator: SeedLike = None) -> None:
        self._ofb = OFBSampler(batch_size_per_image, positive_fraction, generator=generator)  # checks B, fraction
        num_bins = positive_int(num_bins, "num_bins")
        if not isinstance(max_iou, (int, float)) or not 0.0 < float(max_iou) <= 1.0:
            raise ValueError(f"max_iou must lie in (0, 1], got {max_iou!r}")
        if not isinstance(floor_thr, (int, float)) or not 0.0 <= float(floor_thr) < float(max_iou):
            raise ValueError(f"floor_thr must lie in [0, max_iou = {max_iou}), got {floor_thr!r}")
        if not isinstance(floor_fraction, (int, float)) or not 0.0 <= float(floor_fraction) <= 1.0:
            raise ValueError(f"floor_fraction must lie in [0, 1], got {floor_fraction!r}")
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, float(positive_fraction)
        self.floor_thr, self.num_bins = float(floor_thr), num_bins
        self.floor_fraction, self.max_iou = float(floor_fraction), float(max_iou)
        self.generator = self._ofb.generator

    def __repr__(self) -> str:
        keys = ("batch_size_per_image", "positive_fraction", "floor_thr", "num_bins", "floor_fraction", "max_iou")
        return f"IoUBalancedSampler({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"

    def bin_index(self, ious: Tensor) -> Tensor:
        """IoU bin of each negative: 0..K-1 over [floor_thr, max_iou), -1 below ``floor_thr``.

        Parameters
        ----------
        ious : Tensor[N]
            max IoUs (float); values at or above ``max_iou`` count in bin K-1.

        Returns
        -------
        Tensor[N]
            int64 bin indices.
        """
        width = (self.max_iou - self.floor_thr) / self.num_bins
        # below the floor (iou - floor) / width < 0 floors to <= -1
        return ((ious - self.floor_thr) / width).floor_().clamp_(-1, self.num_bins - 1).long()

    def negatives(self, ious: Tensor, num: int) -> Tensor:
        """Draw ``min(num, N)`` IoU-balanced negatives (steps 1–4 of the class docstring).

        Parameters
        ----------
        ious : Tensor[N]
            the negatives' max IoUs with the image's GTs.
        num : int
            how many to draw.

        Returns
        -------
        Tensor[min(num, N)]
            positions in ``ious``, without repeats.
        """
        g, k = self.generator, self.num_bins
        num = min(num, ious.numel())
        n_iou = int(num * (1.0 - self.floor_fraction))
        b = self.bin_index(ious)
        # sorted by (bin, uniform key): each bin's entries in random order, the floor (-1) first
        keys = torch.rand(ious.shape, generator=g, device=g.device, dtype=torch.float64).to(ious.device)
        order = torch.sort(b + keys).indices
        counts = torch.bincount(b + 1, minlength=k + 1).tolist()  # [below floor, bin 0..K-1]
        ends = [sum(counts[:i + 1]) for i in range(k + 1)]
        quota = [min(c, n_iou // k) for c in counts[1:]]
        # step 1: per bin its first n_iou // K (a uniform draw within the bin, Eq. 2)
        parts = [order[e - c:e - c + q] for c, e, q in zip(counts[1:], ends[1:], quota)]
        left = [order[e - c + q:e] for c, e, q in zip(counts[1:], ends[1:], quota)]
        taken = sum(quota)
        rest = torch.cat(left)
        extra = _pick(rest, n_iou - taken, g)  # step 2: the rest of n_iou uniformly from the bins' leftovers
        below = order[:min(counts[0], num - taken - extra.numel())]  # step 3: below the floor (random order)
        parts += [extra, below]
        taken += extra.numel() + below.numel()
        if taken < num:  # step 4: shortfall from whatever is left (only the bins' leftovers can be)
            mask = torch.zeros(ious.shape, dtype=torch.bool, device=ious.device)
            mask[extra] = True
            free = ~mask[rest]
            parts.append(_pick(rest[free], num - taken, g))
        return torch.cat(parts)

    def __call__(self, matched_idxs: Sequence[Tensor],
                 max_ious: Optional[Sequence[Tensor]] = None) -> tuple[list[Tensor], list[Tensor]]:
        """Sample positives and negatives for each image.

        Parameters
        ----------
        matched_idxs : list[Tensor[R_i]]
            per image, class labels: ``>= 1`` positive, ``0`` background, ``-1`` ignored.
        max_ious : list[Tensor[R_i]]
            per image, each RoI's max IoU with the image's GTs (required).

        Returns
        -------
        pos_masks, neg_masks : list[Tensor[R_i]]
            per image, ``uint8`` masks of the sampled positives and negatives (torchvision's format).
        """
        check_matched_idxs(matched_idxs)
        if max_ious is None or len(max_ious) != len(matched_idxs):
            raise ValueError(f"max_ious must give one [R_i] tensor per image ({len(matched_idxs)}), "
                             f"got {None if max_ious is None else len(max_ious)}")
        pos_masks, neg_masks = [], []
        for i, (labels, ious) in enumerate(zip(matched_idxs, max_ious)):
            pos_pick, neg_pick = self.sample(labels, ious, f"[{i}]")
            append_masks(labels, pos_pick, neg_pick, pos_masks, neg_masks)
        return pos_masks, neg_masks

    def sample(self, labels: Tensor, ious: Tensor, where: str = "") -> tuple[Tensor, Tensor]:
        """One image's sampled positives and negatives as index tensors (what :meth:`__call__` turns into masks).

        Parameters
        ----------
        labels : Tensor[R]
            class labels: ``>= 1`` positive, ``0`` background, ``-1`` ignored.
        ious : Tensor[R]
            each RoI's max IoU with the image's GTs.
        where : str
            suffix naming the image in error messages.
        """
        if not isinstance(labels, Tensor) or labels.dim() != 1 or not isinstance(ious, Tensor) \
                or ious.shape != labels.shape:
            raise ValueError(f"matched_idxs{where} and max_ious{where} must be 1-D tensors of one length")
        positive, negative = torch.where(labels >= 1)[0], torch.where(labels == 0)[0]
        pos_pick = _pick(positive, int(self.batch_size_per_image * self.positive_fraction), self.generator)
        return pos_pick, negative[self.negatives(ious[negative], self.batch_size_per_image - pos_pick.numel())]
