"""Positive RoI generator: GENERATEPROI of thesis Alg. 2 (§4.3.2), batched over images.

``fgBalancedRoIAlloc`` decides how many RoIs each ground truth gets; ``genRoIs`` draws an IoU bin and a
threshold per RoI (:mod:`bbgen.roi.distributions`) and generates the box with the batched Bounding Box Generator
(:func:`bbgen.generator.batched.generate_boxes`, thesis Alg. 1). The proposal distribution of the generator is the
relative spatial control (thesis §4.3.1.2).

Example
-------
>>> import torch
>>> from bbgen.roi.proi import generate_prois
>>> gts = torch.tensor([[10., 10., 60., 90.], [100., 40., 180., 120.]])
>>> rois = generate_prois(gts, torch.tensor([1, 2]), 8, generator=torch.Generator().manual_seed(0))
>>> rois.boxes.shape, rois.labels.tolist(), bool((rois.ious >= 0.5).all())
(torch.Size([8, 4]), [1, 1, 1, 1, 2, 2, 2, 2], True)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Sequence, Union

import numpy as np
import torch
from torch import Tensor

from .._typing import ImageSizeLike
from ._proi_inputs import HostGTs, Sizes, as_labels, check_gts, host_gts, image_sizes_of
from ..boxes import as_boxes
from .distributions import T_MAX, IoUDistLike, IoUDistribution, resolve_iou_dist, sample_iou_bins
from ..generator.batched import generate_validated
from .._validate import as_generator
from ..generator.proposals import Proposal, get_proposal
from ..generator.backends import check_memory, draw_seed, proposal_code, resolve_backend

__all__ = ["PRoIs", "HostGTs", "allocate_rois", "generate_prois", "generate_prois_validated", "host_gts"]

@dataclass(frozen=True)
class PRoIs:
    """Generated positive RoIs of one or more images (R = total number of RoIs).

    RoIs are grouped by image and, within an image, by GT.

    Attributes
    ----------
    boxes : Tensor[R, 4]
        dtype of the GT boxes.
    labels : Tensor[R]
        Label of the source GT.
    gt_index : Tensor[R]
        Index of the source GT within its image.
    ious : Tensor[R] float64
        IoU with the source GT, computed on the returned coordinates: the values the generator verified, so
        they fall in the right bins.
    image_index : Tensor[R]
        Image of each RoI; all zero for a single image.
    """

    boxes: Tensor
    labels: Tensor
    gt_index: Tensor
    ious: Tensor
    image_index: Tensor

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def to_dict(self) -> dict[str, list]:
        """Plain lists (for JSON)."""
        return {f.name: getattr(self, f.name).tolist() for f in fields(self)}


def allocate_rois(labels: Tensor, valid: Tensor, num_rois: int, *, fg_balanced: bool = True,
                  generator: torch.Generator | None = None) -> Tensor:
    """``fgBalancedRoIAlloc`` (thesis Alg. 2): number of RoIs per GT, for a padded batch of images.

    ``num_rois`` is split equally over the classes present in the image, then each class's share
    equally over its instances (``fg_balanced=False``: equally over all instances). Every member of a
    group of m sharing n gets ``n // m``, and ``n % m`` members drawn uniformly at random get one more
    (largest remainder; all remainders in a group are equal, so the random tie-break decides). So each
    image with GTs gets exactly ``num_rois``; the authors' code rounds shares up and returns more.

    Parameters
    ----------
    labels : Tensor[B, G]
        Integer labels, padded.
    valid : Tensor[B, G] of bool
        False at padding.
    num_rois : int
        RoIs per image.
    fg_balanced : bool, default True
        Class-balanced (True) or instance-balanced (False) split.
    generator : torch.Generator, optional
        Source of the tie-break.

    Returns
    -------
    Tensor[B, G] int64
        Counts (0 at padding), from pairwise ``[B, G, G]`` comparisons: no host sync.
    """
    u = torch.rand((2, *labels.shape), generator=generator, device=labels.device, dtype=torch.float64)
    col = valid[:, None, :]
    if fg_balanced:
        group = col & (labels[:, :, None] == labels[:, None, :])               # [B, G, G] same class
        # the first GT of each class represents it and its u is the class's random key (the min of u over
        # the class would favour classes with many instances); argmax returns the first maximum
        first = group.to(torch.uint8).argmax(-1)                              # [B, G]
        rep = valid & (first == torch.arange(labels.shape[1], device=labels.device))
        class_key = u[0].gather(1, first)
        num_classes = rep.sum(-1, keepdim=True).clamp(min=1)
        class_rank = (rep[:, None, :] & (class_key[:, None, :] < class_key[:, :, None])).sum(-1)
        share = num_rois // num_classes + (class_rank < num_rois % num_classes)      # int64 + bool
    else:
        group = col.expand(-1, labels.shape[1], -1)
        share = torch.full_like(labels, num_rois, dtype=torch.int64)
    size = group.sum(-1).clamp(min=1)
    rank = (group & (u[1][:, None, :] < u[1][:, :, None])).sum(-1)
    counts = torch.div(share, size, rounding_mode="floor") + (rank < torch.remainder(share, size))
    return counts * valid


def generate_prois(gt_boxes: Union[Tensor, Sequence[Tensor]], gt_labels: Union[Tensor, Sequence[Tensor]],
                   num_rois: int = 128, *, iou_dist: IoUDistLike = "uniform", fg_balanced: bool = True,
                   exact: bool = False, proposal: Union[str, Proposal] = "uniform",
                   image_sizes: ImageSizeLike = None, generator: torch.Generator | int | None = None,
                   backend: str = "auto") -> PRoIs:
    """GENERATEPROI (thesis Alg. 2): ``num_rois`` positive RoIs per image around its ground truths.

    Parameters
    ----------
    gt_boxes : Tensor[G, 4] or list[Tensor[G_i, 4]]
        One image (xyxy, floating) or a list of them.
    gt_labels : Tensor[G] or list[Tensor[G_i]]
        Integer labels, or a list matching ``gt_boxes``.
    num_rois : int, default 128
        RoIs per image (RoINum); images without GTs get none.
    iou_dist : str, IoUDistribution or (bases, weights), default "uniform"
        Preset name (``"base"``, ``"uniform"``, ``"left_skew"``, ``"right_skew"``; thesis Fig. 4.5), an
        :class:`~bbgen.roi.distributions.IoUDistribution` or a ``(bases, weights)`` pair.
    fg_balanced : bool, default True
        ``fgBalancedRoIAlloc`` (equal per class, then per instance) or equal per instance.
    exact : bool, default False
        Threshold mode (False, the paper: IoU ≥ T, T drawn in the bin) or interval mode (True:
        bin lo ≤ IoU < bin hi, so the IoU histogram over the bins equals the weights).
    proposal : str or Proposal, default "uniform"
        Relative spatial control, passed to :func:`~bbgen.generator.batched.generate_boxes`.
    image_sizes : (W, H) or Tensor[B, 2], optional
        ``(W, H)`` for all images or one per image; RoIs stay inside the image, and every GT must lie inside its
        image (``ValueError`` naming the image and the GT otherwise; the torchvision integration's
        :func:`generate_prois_validated` instead widens the image to contain such a GT).
    generator : torch.Generator, int or None
        ``torch.Generator`` on the boxes' device, an int seed, or None (OS-seeded).
    backend : str, default "auto"
        ``"auto"`` (numba on CPU: allocation, bins and boxes of the whole batch in one compiled call; triton on
        CUDA: the same allocation and bins on the host, the boxes in one Triton launch, :mod:`bbgen.roi.proi_gpu`),
        ``"numba"``, ``"triton"`` or ``"torch"`` (tensor ops, the reference path, and the only one for a
        callable proposal); see :mod:`bbgen.generator.backends`.

    Returns
    -------
    PRoIs
        On the input device.

    Notes
    -----
    Memory: 48 bytes per float32 RoI (box, label, GT index, IoU, image index); a call whose output cannot fit in
    this machine's memory raises ``ValueError`` before allocating.
    """
    single = isinstance(gt_boxes, (Tensor, np.ndarray))
    if single != isinstance(gt_labels, (Tensor, np.ndarray)):
        raise TypeError("gt_boxes and gt_labels must both be tensors (one image) or both be lists (a batch), "
                        f"got {type(gt_boxes).__name__} and {type(gt_labels).__name__}")
    box_list = [gt_boxes] if single else list(gt_boxes)
    label_list = [gt_labels] if single else list(gt_labels)
    if len(box_list) != len(label_list):
        raise ValueError(f"got {len(box_list)} gt_boxes but {len(label_list)} gt_labels")
    if isinstance(num_rois, bool) or not isinstance(num_rois, (int, np.integer)) or num_rois < 0:
        raise ValueError(f"num_rois must be an integer >= 0, got {num_rois!r}")
    num_rois = int(num_rois)
    dist: IoUDistribution = resolve_iou_dist(iou_dist)

    boxes = [as_boxes(b, f"gt_boxes[{i}]" if not single else "gt_boxes") for i, b in enumerate(box_list)]
    if not boxes:
        raise ValueError("gt_boxes is an empty list; pass at least one image")
    device, dtype = boxes[0].device, boxes[0].dtype
    for i, b in enumerate(boxes):
        name = "gt_boxes" if single else f"gt_boxes[{i}]"
        if b.ndim != 2:
            raise ValueError(f"{name} must have shape [G, 4], got {tuple(b.shape)}")
        if b.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name} must be float32 or float64 (IoU constraints need it), got {b.dtype}")
        if b.device != device or b.dtype != dtype:
            raise ValueError(f"{name} is {b.dtype} on {b.device} but gt_boxes[0] is {dtype} on {device}")
    labels = [as_labels(lab, "gt_labels" if single else f"gt_labels[{i}]", b.shape[0], device)
              for i, (b, lab) in enumerate(zip(boxes, label_list))]
    sizes = image_sizes_of(image_sizes, len(boxes), device, dtype)
    host = host_gts(boxes, labels, sizes)  # the checks and the compiled backends read this one host copy
    check_gts(host, boxes, sizes, single)
    return generate_prois_validated(boxes, labels, num_rois, dist, fg_balanced=fg_balanced, exact=exact,
                                    proposal=get_proposal(proposal), image_sizes=sizes,
                                    generator=as_generator(generator, device), backend=backend, host=host)


def generate_prois_validated(boxes: list[Tensor], labels: list[Tensor], num_rois: int, dist: IoUDistribution, *,
                             fg_balanced: bool, exact: bool, proposal: Proposal,
                             image_sizes: Sizes, generator: torch.Generator, backend: str = "auto",
                             host: HostGTs | None = None) -> PRoIs:
    """:func:`generate_prois` after argument checking, for callers whose inputs are valid by construction
    (the torchvision integration, once per training step).

    Parameters
    ----------
    boxes : list[Tensor[G_i, 4]]
        Per image GT boxes: finite, positive, one dtype and device.
    labels : list[Tensor[G_i]]
        Per image integer labels.
    num_rois : int
        RoIs per image (RoINum).
    dist : IoUDistribution
        A resolved distribution.
    fg_balanced, exact : bool
        As in :func:`generate_prois`.
    proposal : Proposal
        A resolved proposal.
    image_sizes : (W, H), Tensor[B, 2] or None
        ``None``, a ``(W, H)`` pair or a ``[B, 2]`` tensor on the boxes' device. A GT that sticks out of its
        image widens that image's allowed region to contain it.
    generator : torch.Generator
        On the boxes' device.
    backend : str, default "auto"
        As in :func:`generate_prois`.
    host : HostGTs, optional
        The same GTs, labels and sizes on the host (:func:`host_gts`) when the caller already has them (to
        check them, say); the compiled backends copy them otherwise.

    Returns
    -------
    PRoIs
        On the boxes' device.
    """
    device, dtype = boxes[0].device, boxes[0].dtype
    lengths = [b.shape[0] for b in boxes]
    num_out = num_rois * sum(n > 0 for n in lengths)
    if num_out == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return PRoIs(torch.zeros(0, 4, dtype=dtype, device=device), torch.cat(labels)[:0], empty,
                     torch.zeros(0, dtype=torch.float64, device=device), empty)
    which = resolve_backend(backend, device, proposal)
    if which in ("numba", "triton"):
        host = host or host_gts(boxes, labels, image_sizes)
    if which == "numba":
        return _prois_numba(host, boxes[0].dtype, labels[0].dtype, num_rois, dist, fg_balanced, exact, proposal,
                            draw_seed(generator, device), num_out)
    if which == "triton":  # the numba plan on the host, all boxes in one Triton launch (3 host syncs)
        from .proi_gpu import prois_triton  # noqa: PLC0415 (imports numba and triton)

        out, ious, ints = prois_triton(host, device, dtype, num_rois, _bin_table(dist), fg_balanced, exact,
                                       proposal, draw_seed(generator, device), num_out)
        return _from_kernel(out, ious, ints, labels[0].dtype)

    # pad to [B, G] so that allocation is one batched computation
    if len(set(lengths)) == 1:  # the common case of a training batch: no padding needed
        padded_boxes, padded_labels = torch.stack(boxes), torch.stack(labels).to(torch.int64)
    else:
        padded_boxes = torch.nn.utils.rnn.pad_sequence(boxes, batch_first=True)
        padded_labels = torch.nn.utils.rnn.pad_sequence([lab.to(torch.int64) for lab in labels], batch_first=True)
    width = padded_labels.shape[1]
    valid = torch.arange(width, device=device) < torch.tensor(lengths, device=device)[:, None]
    counts = allocate_rois(padded_labels, valid, num_rois, fg_balanced=fg_balanced, generator=generator)

    # genRoIs: one source GT per RoI, then one bin / threshold per RoI
    source = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts.reshape(-1),
                                     output_size=num_out)
    image_index, gt_index = torch.div(source, width, rounding_mode="floor"), torch.remainder(source, width)
    ref = padded_boxes.reshape(-1, 4)[source]
    # float64 edges: the kernel verifies in float64, and float32(0.7) < 0.7 would let IoUs slip a bin down
    _, lo, hi, threshold = sample_iou_bins(dist, num_out, generator=generator, device=device, dtype=torch.float64)
    roi_sizes = None
    if image_sizes is not None:
        # allowed region per RoI: its image, widened to contain the GT where an annotation sticks out of the
        # image (real data has such boxes) — the IoU guarantee holds, boxes stay in the image where the GT does
        wh = (image_sizes[image_index] if isinstance(image_sizes, Tensor)
              else torch.as_tensor(image_sizes, device=device)
              .expand(num_out, 2)).to(torch.float64)
        r64 = ref.to(torch.float64)
        roi_sizes = torch.cat([torch.minimum(r64[:, :2], 0.0 * wh), torch.maximum(r64[:, 2:], wh)], 1)
    # inputs are valid by construction (checked GTs, thresholds in (0, 1], regions containing their GT):
    # skip generate_boxes' argument checks, a large share of a 128-RoI call
    lo_t, hi_t = (lo, hi) if exact else (threshold, None)
    out, ious = generate_validated(ref, lo_t[:, None], None if hi_t is None else hi_t[:, None], roi_sizes, "random",
                                   proposal, generator, t_min=min(dist.bases[0], T_MAX))  # bounds T
    return PRoIs(boxes=out[:, 0], labels=padded_labels.reshape(-1)[source].to(labels[0].dtype), gt_index=gt_index,
                 ious=ious[:, 0], image_index=image_index)


def _prois_numba(host: HostGTs, dtype: torch.dtype, label_dtype: torch.dtype, num_rois: int, dist: IoUDistribution,
                 fg_balanced: bool, exact: bool, proposal: Proposal, seed: int, num_out: int) -> PRoIs:
    """:func:`generate_prois_validated` on the numba backend: one compiled call (:mod:`bbgen.roi.proi_cpu`)."""
    proi_cpu = _proi_cpu()
    check_memory(num_out, dtype, "generate_prois", extra=32)  # label, GT index, IoU, image index
    gt, lab, sizes = proi_cpu.host_batch(host)
    out_np = np.empty((num_out, 4), dtype=np.float32 if dtype == torch.float32 else np.float64)
    out_int = np.empty((3, num_out), np.int64)  # label, GT index, image index
    out_iou = np.empty(num_out)
    code, param = proposal_code(proposal)
    failed = proi_cpu.prois_kernel(gt, lab, np.array(host.lengths, np.int64), num_rois, fg_balanced, _bin_table(dist),
                                   exact, sizes, code, param, seed, out_np, out_int, out_iou)
    if failed:
        q = int(np.isnan(out_np[:, 0]).nonzero()[0][0])
        raise RuntimeError(f"generate_prois: {failed} RoI(s) could not meet their IoU constraint in "
                           f"{dtype} (e.g. around gt_boxes[{out_int[2, q]}][{out_int[1, q]}]); the IoU bin "
                           "is too narrow to be represented at this precision")
    return _from_kernel(torch.from_numpy(out_np), torch.from_numpy(out_iou), torch.from_numpy(out_int), label_dtype)


def _from_kernel(boxes: Tensor, ious: Tensor, ints: Tensor, label_dtype: torch.dtype) -> PRoIs:
    """PRoIs from a compiled path's outputs; ``ints [3, R]``: label, GT index, image index."""
    return PRoIs(boxes=boxes, labels=ints[0].to(label_dtype), gt_index=ints[1], ious=ious, image_index=ints[2])


@functools.cache
def _proi_cpu():
    """:mod:`bbgen.roi.proi_cpu`, imported on first use (it imports numba)."""
    from . import proi_cpu  # noqa: PLC0415

    return proi_cpu


@functools.lru_cache(maxsize=64)
def _bin_table(dist: IoUDistribution) -> np.ndarray:
    """``[4, K]`` float64: bin lower edges, upper edges, threshold widths, CDF (as :func:`sample_iou_bins`)."""
    edges, probs = dist.edges, dist.probs
    cdf = np.cumsum(probs)
    return np.array([edges[:-1], edges[1:], [(b - a) * dist.jitter for a, b in zip(edges, edges[1:])],
                     cdf / cdf[-1]], dtype=np.float64)
