"""Argument checks of :func:`bbgen.roi.proi.generate_prois`: labels, image sizes, ground truths.

A training step calls ``generate_prois`` once per batch with a few GTs per image, so the common case (one ``(W, H)``
for all images, or none) is checked on one host copy of the GTs in plain Python comparisons; anything that fails
them goes through the tensor checks that name the argument, the image and the GT. The host copy the checks read
(:class:`HostGTs`, one device-to-host copy on CUDA) is the one the compiled backends then plan from.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from typing import Union

import numpy as np
import torch
from torch import Tensor

from .._typing import ImageSizeLike
from ..boxes import check_boxes

__all__ = ["Sizes", "HostGTs", "as_labels", "image_sizes_of", "host_gts", "check_gts"]

Sizes = Union[tuple[float, float], Tensor, None]  # validated image sizes: one (W, H) for all images, or [B, 2]
_BIG = sys.float_info.max
_FEW = 32  # GTs up to which Python comparisons beat numpy's per-call cost (~1 us per op on tiny arrays)


def as_labels(labels: object, name: str, num: int, device: torch.device) -> Tensor:
    """``labels`` as an integer tensor of shape ``[num]`` on ``device`` (numpy arrays are converted).

    Parameters
    ----------
    labels : Tensor[num] or ndarray[num]
        integer labels of one image's GTs.
    name : str
        the argument's name in messages.
    num : int
        number of GTs of the image.
    device : torch.device
        the boxes' device.
    """
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a tensor of integer labels, got {type(labels).__name__}")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"{name} must have an integer dtype, got {labels.dtype}")
    if tuple(labels.shape) != (num,):
        raise ValueError(f"{name} must have shape [{num}] to match the boxes, got {tuple(labels.shape)}")
    if labels.device != device:
        raise ValueError(f"{name} is on {labels.device} but the boxes are on {device}")
    return labels


def image_sizes_of(image_sizes: ImageSizeLike, num_images: int, device: torch.device, dtype: torch.dtype) -> Sizes:
    """Validate ``None``, one ``(W, H)`` for all images, or one ``(W, H)`` per image (``[B, 2]``).

    Parameters
    ----------
    image_sizes : (W, H), array-like [B, 2] or None
        as passed to :func:`bbgen.roi.proi.generate_prois`.
    num_images : int
        B.
    device, dtype : torch.device, torch.dtype
        of the boxes (a per-image tensor is returned there).

    Returns
    -------
    None, a ``(W, H)`` tuple of floats (one size for all images) or a ``[B, 2]`` tensor on ``device``.
    """
    if image_sizes is None:
        return None
    if (isinstance(image_sizes, tuple) and len(image_sizes) == 2 and all(type(v) in (int, float) for v in image_sizes)
            and all(0 < v < math.inf for v in image_sizes)):  # the common (W, H): no numpy round trip
        return float(image_sizes[0]), float(image_sizes[1])
    try:
        sizes = np.asarray(image_sizes.detach().cpu() if isinstance(image_sizes, Tensor) else image_sizes,
                           dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"image_sizes must be (W, H) or a [B, 2] array of sizes, got {image_sizes!r}") from exc
    if sizes.shape not in ((2,), (num_images, 2)):
        raise ValueError(f"image_sizes must be (W, H) or one (W, H) per image ({num_images}), "
                         f"got shape {sizes.shape}")
    if not (np.isfinite(sizes).all() and (sizes > 0).all()):
        raise ValueError(f"image_sizes must be positive and finite, got {sizes.tolist()}")
    if sizes.ndim == 1:
        return float(sizes[0]), float(sizes[1])
    return torch.as_tensor(sizes, dtype=dtype, device=device)


@dataclass(frozen=True)
class HostGTs:
    """The GTs of a batch on the host, images one after the other (what the compiled backends read).

    Attributes
    ----------
    gt : ndarray[G, 4]
        all GT boxes (float32 or float64; float64 when copied from a GPU).
    labels : ndarray[G]
        their integer labels.
    lengths : list[int]
        GTs per image (sum G).
    sizes : (W, H), ndarray[B, 2] float64 or None
        one image size for all, one per image, or none.
    """

    gt: np.ndarray
    labels: np.ndarray
    lengths: list[int]
    sizes: tuple[float, float] | np.ndarray | None


def host_gts(boxes: list[Tensor], labels: list[Tensor], sizes: Sizes) -> HostGTs:
    """The batch as :class:`HostGTs`: views of CPU tensors (one concatenation for several images); from a GPU, one
    device-to-host copy of everything (float64 boxes and sizes as their bits next to the int64 labels), one sync.

    Parameters
    ----------
    boxes, labels : list[Tensor[G_i, 4]], list[Tensor[G_i]]
        per image GTs (one dtype and device) and integer labels (same device).
    sizes : (W, H), Tensor[B, 2], ndarray[B, 2] float64 or None
        validated image sizes (:func:`image_sizes_of`); an ndarray (sizes the caller holds on the host) is kept.
    """
    lengths, n = [b.shape[0] for b in boxes], sum(b.shape[0] for b in boxes)
    if isinstance(sizes, np.ndarray):
        return replace(host_gts(boxes, labels, None), sizes=sizes)
    per_image = isinstance(sizes, Tensor)
    if boxes[0].device.type == "cpu":
        gt = boxes[0].detach().numpy() if len(boxes) == 1 else np.concatenate([b.detach().numpy() for b in boxes])
        lab = labels[0].numpy() if len(labels) == 1 else torch.cat(labels).numpy()
        return HostGTs(gt, lab, lengths, sizes.to(torch.float64).numpy() if per_image else sizes)
    words = [torch.cat(boxes).detach().to(torch.float64).view(torch.int64).reshape(-1)]
    if per_image:
        words.append(sizes.to(torch.float64).view(torch.int64).reshape(-1))
    words.append(torch.cat(labels).to(torch.int64))
    host = torch.cat(words).cpu().numpy()
    gt = host[:4 * n].view(np.float64).reshape(n, 4)
    wh = host[4 * n:4 * n + 2 * len(boxes)].view(np.float64).reshape(-1, 2) if per_image else sizes
    return HostGTs(gt, host[host.shape[0] - n:], lengths, wh)


def check_gts(host: HostGTs, boxes: list[Tensor], sizes: Sizes, single: bool) -> None:
    """``ValueError`` unless every GT is finite with positive extent (:func:`bbgen.boxes.check_boxes`) and, when
    ``sizes`` is given, inside its image ``[0, W] x [0, H]``: RoIs with IoU >= T inside the image exist for every T
    only around a GT that lies in it (as in :func:`bbgen.generator.batched.generate_boxes`).

    Parameters
    ----------
    host : HostGTs
        the batch on the host (:func:`host_gts`): the checks read it, with no further copy.
    boxes : list[Tensor[G_i, 4]]
        the same GTs, per image (the diagnosis of a failure names them).
    sizes : (W, H), Tensor[B, 2] or None
        validated image sizes (:func:`image_sizes_of`).
    single : bool
        the caller passed one image (messages say ``gt_boxes[j]`` instead of ``gt_boxes[i][j]``).
    """
    if _all_inside(host):
        return
    for i, b in enumerate(boxes):  # the diagnosis: names the first bad GT as the caller indexes it
        check_boxes(b, "gt_boxes" if single else f"gt_boxes[{i}]")
    _check_in_images(boxes, sizes, single)


def _all_inside(host: HostGTs) -> bool:
    """``x_min <= x1 < x2 <= x_max`` (and for y) for every GT, with its image ``[0, W] x [0, H]`` or, without
    one, the finite floats as the bounds: the one test covers NaN (every comparison false), inf and inverted
    boxes."""
    arr, sizes = host.gt, host.sizes
    if isinstance(sizes, np.ndarray):  # one size per image: each GT's upper bound is its image's
        lo, hi = arr[:, :2], arr[:, 2:]
        return bool((hi > lo).all() and (lo >= 0).all() and (hi <= np.repeat(sizes, host.lengths, axis=0)).all())
    (x0, y0), (x1, y1) = ((0.0, 0.0), sizes) if sizes is not None else ((-_BIG, -_BIG), (_BIG, _BIG))
    if arr.shape[0] <= _FEW:
        return all(x0 <= a < c <= x1 and y0 <= b < d <= y1 for a, b, c, d in arr.tolist())
    lo, hi = arr[:, :2], arr[:, 2:]
    return bool((hi > lo).all() and (lo >= (x0, y0)).all() and (hi <= (x1, y1)).all())


def _check_in_images(boxes: list[Tensor], sizes: Sizes, single: bool) -> None:
    """``ValueError`` naming the image and the GT when a GT does not fit inside its image."""
    if sizes is None:
        return
    wh = sizes.detach().cpu().numpy() if isinstance(sizes, Tensor) else np.asarray([sizes] * len(boxes))
    for i, b in enumerate(boxes):
        arr = b.detach().cpu().numpy()
        bad = ((arr[:, :2] < 0) | (arr[:, 2:] > wh[i])).any(1)
        if bad.any():
            j = int(bad.nonzero()[0][0])
            name, image = (f"gt_boxes[{j}]", "the image") if single else (f"gt_boxes[{i}][{j}]", f"image {i}")
            raise ValueError(f"{name} = {arr[j].tolist()} does not fit inside {image} of size (W, H) = "
                             f"{tuple(float(v) for v in wh[i])}; RoIs can stay inside the image only around a GT "
                             "that lies in it (clip the GT to the image, or pass image_sizes=None)")
