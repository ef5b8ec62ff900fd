"""Box primitives: area, IoU, format conversion, validation and the unit frame of a reference box.

Boxes are ``[x1, y1, x2, y2]`` float tensors (torchvision's convention). Every function takes torch
tensors (numpy arrays are converted) and returns tensors on the caller's device and dtype.

The *unit frame* of a reference box ``B`` is the affine map of each axis that sends ``B`` to
``[0, 0, 1, 1]``: ``u = (x - x1) / w``, ``v = (y - y1) / h``. IoU is invariant under independent positive
affine maps of the axes (design notes §1), so every feasible-space computation of the Bounding Box
Generator (thesis §4.3.1, App. B) is done there and mapped back.

Example
-------
>>> import torch
>>> from bbgen.boxes import box_iou, to_unit_frame
>>> a = torch.tensor([[0., 0., 2., 2.]]); b = torch.tensor([[1., 1., 3., 3.]])
>>> box_iou(a, b)
tensor([[0.1429]])
>>> to_unit_frame(b, a[0])
tensor([[0.5000, 0.5000, 1.5000, 1.5000]])
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_boxes",
    "check_boxes",
    "box_area",
    "iou_xyxy",
    "elementwise_box_iou",
    "box_iou",
    "box_convert",
    "to_unit_frame",
    "from_unit_frame",
]

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_boxes(boxes: Any, name: str = "boxes", *, dtype: torch.dtype | None = None,
             device: torch.device | str | None = None) -> Tensor:
    """Convert ``boxes`` (tensor, ndarray or nested sequence) to a floating tensor ``[..., 4]``.

    Integer input is promoted to ``float32`` (torch's default). Raises ``TypeError`` for non-numeric
    input and ``ValueError`` when the last dimension is not 4.
    """
    if isinstance(boxes, Tensor):
        t = boxes
    elif isinstance(boxes, np.ndarray):
        if not (np.issubdtype(boxes.dtype, np.number) or boxes.dtype == bool):
            raise TypeError(f"{name} must be numeric, got numpy dtype {boxes.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(boxes))
    else:
        try:
            t = torch.as_tensor(boxes)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor, ndarray or sequence of numbers, "
                            f"got {type(boxes).__name__}") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must be a real numeric tensor, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if t.ndim == 0 or t.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [..., 4], got {tuple(t.shape)}")
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype or t.dtype, device=device or t.device)
    return t


def check_boxes(boxes: Tensor, name: str = "boxes", *, positive: bool = True) -> None:
    """Raise ``ValueError`` if ``boxes`` holds NaN/inf or (``positive``) a box with ``x2 <= x1`` or ``y2 <= y1``.

    The message names the argument, the index of the first bad box and its value.
    """
    if boxes.numel() == 0:
        return
    flat = boxes.reshape(-1, 4)
    finite = torch.isfinite(flat).all(dim=1)
    # one host sync on the common path; the diagnosis below only runs on bad input
    if bool(finite.all() & (flat[:, 2:] > flat[:, :2]).all() if positive else finite.all()):
        return
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise ValueError(f"{name}[{i}] = {flat[i].tolist()} contains NaN or inf")
    i = int((flat[:, 2:] <= flat[:, :2]).any(1).nonzero()[0, 0])
    raise ValueError(f"{name}[{i}] = {flat[i].tolist()} is degenerate or inverted (need x2 > x1 and y2 > y1)")


def box_area(boxes: Tensor) -> Tensor:
    """Area of ``[..., 4]`` boxes -> ``[...]``; negative extents give negative area (not clamped)."""
    boxes = as_boxes(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def iou_xyxy(ax1: Any, ay1: Any, ax2: Any, ay2: Any, bx1: Any, by1: Any, bx2: Any, by2: Any) -> Any:
    """IoU of boxes given coordinate-wise (tensors or floats, broadcast); the one IoU formula of bbgen.

    ``IoU = A(B ∩ B̄) / (A(B) + A(B̄) − A(B ∩ B̄))`` (thesis Eq. 2.2 / B.1). Taking coordinates separately lets
    the batched kernels test millions of candidates without stacking them into ``[..., 4]`` tensors.
    """
    ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 = (v if isinstance(v, Tensor) else torch.as_tensor(v)
                                              for v in (ax1, ay1, ax2, ay2, bx1, by1, bx2, by2))
    iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union


def elementwise_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of corresponding boxes: ``[..., 4]`` x ``[..., 4]`` (broadcast) -> ``[...]``."""
    a, b = as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2")
    return iou_xyxy(*a.unbind(-1), *b.unbind(-1))


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU: ``[N, 4]`` x ``[M, 4]`` -> ``[N, M]`` (same values as ``torchvision.ops.box_iou``)."""
    a, b = as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"box_iou expects [N, 4] and [M, 4], got {tuple(a.shape)} and {tuple(b.shape)}")
    return elementwise_box_iou(a[:, None, :], b[None, :, :])


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert ``[..., 4]`` boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``."""
    fmts = ("xyxy", "xywh", "cxcywh")
    for arg, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in fmts:
            raise ValueError(f"{arg} must be one of {fmts}, got {fmt!r}")
    b = as_boxes(boxes)
    if in_fmt == out_fmt:
        return b.clone()
    p, q, r, s = b.unbind(-1)
    if in_fmt == "xywh":
        p, q, r, s = p, q, p + r, q + s
    elif in_fmt == "cxcywh":
        p, q, r, s = p - r / 2, q - s / 2, p + r / 2, q + s / 2
    # now (p, q, r, s) is xyxy
    if out_fmt == "xywh":
        return torch.stack((p, q, r - p, s - q), -1)
    if out_fmt == "cxcywh":
        return torch.stack(((p + r) / 2, (q + s) / 2, r - p, s - q), -1)
    return torch.stack((p, q, r, s), -1)


def to_unit_frame(boxes: Tensor, ref: Tensor) -> Tensor:
    """Map ``boxes [..., 4]`` into the unit frame of ``ref [..., 4]`` (broadcast): ``ref`` -> ``[0, 0, 1, 1]``."""
    b, r = as_boxes(boxes), as_boxes(ref, "ref")
    w, h = r[..., 2] - r[..., 0], r[..., 3] - r[..., 1]
    scale = torch.stack((w, h, w, h), -1)
    shift = torch.stack((r[..., 0], r[..., 1], r[..., 0], r[..., 1]), -1)
    return (b - shift) / scale


def from_unit_frame(boxes: Tensor, ref: Tensor) -> Tensor:
    """Inverse of :func:`to_unit_frame`: ``x = x1 + w·u``, ``y = y1 + h·v``."""
    b, r = as_boxes(boxes), as_boxes(ref, "ref")
    tl, wh = r[..., :2], r[..., 2:] - r[..., :2]
    return torch.cat((tl + b[..., :2] * wh, tl + b[..., 2:] * wh), -1)
