"""Box primitives: area, IoU, format conversion, validation and the unit frame of a reference box.

Boxes are ``[x1, y1, x2, y2]`` float tensors (torchvision's convention). Every function takes torch
tensors (numpy arrays are converted) and returns tensors on the caller's device and dtype.

The *unit frame* of a reference box ``B`` is the affine map of each axis that sends ``B`` to
``[0, 0, 1, 1]``: ``u = (x - x1) / w``, ``v = (y - y1) / h``. IoU is invariant under independent positive
affine maps of the axes (docs/architecture.md, "Unit frame"), so every feasible-space computation of the Bounding Box
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

import numpy as np
import torch
from torch import Tensor

from ._typing import BoxesLike, CoordLike

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


def as_boxes(boxes: BoxesLike, name: str = "boxes", *, dtype: torch.dtype | None = None,
             device: torch.device | str | None = None) -> Tensor:
    """Convert ``boxes`` to a floating tensor ``[..., 4]``.

    Integer input is promoted to torch's default dtype (``float32``).

    Parameters
    ----------
    boxes : Tensor[..., 4] or ndarray or nested sequence
        ``[x1, y1, x2, y2]`` boxes.
    name : str, default "boxes"
        Argument name for error messages.
    dtype : torch.dtype, optional
        Convert to this dtype.
    device : torch.device or str, optional
        Move to this device.

    Returns
    -------
    Tensor[..., 4]

    Raises
    ------
    TypeError
        Non-numeric input.
    ValueError
        The last dimension is not 4.
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

    Parameters
    ----------
    boxes : Tensor[..., 4] or ndarray or nested sequence
        Converted with :func:`as_boxes` (shape and dtype errors name ``name`` too).
    name : str, default "boxes"
        Argument name for error messages.
    positive : bool, default True
        Also require positive width and height.
    """
    boxes = as_boxes(boxes, name)
    if boxes.numel() == 0:
        return
    flat = boxes.reshape(-1, 4)
    # whole-tensor reductions, one host sync on the common path: min/max propagate NaN and show ±inf, and
    # x2 > x1 <=> x2 - x1 > 0 in IEEE arithmetic (20x faster than isfinite(...).all() on 1e6 boxes)
    ok = torch.isfinite(torch.stack(torch.aminmax(flat))).all()
    if bool(ok & ((flat[:, 2:] - flat[:, :2]).amin() > 0) if positive else ok):
        return
    finite = torch.isfinite(flat).all(dim=1)  # the diagnosis below only runs on bad input
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise ValueError(f"{name}[{i}] = {flat[i].tolist()} contains NaN or inf")
    bad = (flat[:, 2:] <= flat[:, :2]).any(1).nonzero()
    if bad.numel():  # (none: a flush-to-zero subtraction made a tiny positive extent 0)
        i = int(bad[0, 0])
        raise ValueError(f"{name}[{i}] = {flat[i].tolist()} is degenerate or inverted (need x2 > x1 and y2 > y1)")


def _broadcast(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """``ValueError`` naming both arguments when the leading dimensions of ``a`` and ``b`` do not broadcast.

    Plain tuple comparisons: ``box_iou`` runs this once per image in every training step, and
    ``torch.broadcast_shapes`` costs ~60 µs a call.
    """
    for x, y in zip(reversed(a.shape[:-1]), reversed(b.shape[:-1])):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{name_a} shape {tuple(a.shape)} and {name_b} shape {tuple(b.shape)} do not "
                             "broadcast")


def box_area(boxes: Tensor) -> Tensor:
    """Area of boxes; negative extents give negative area (not clamped).

    Parameters
    ----------
    boxes : Tensor[..., 4]

    Returns
    -------
    Tensor[...]
    """
    boxes = as_boxes(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def iou_xyxy(ax1: CoordLike, ay1: CoordLike, ax2: CoordLike, ay2: CoordLike,
             bx1: CoordLike, by1: CoordLike, bx2: CoordLike, by2: CoordLike) -> Tensor:
    """IoU of boxes given coordinate-wise; the one IoU formula of bbgen.

    ``IoU = A(B ∩ B̄) / (A(B) + A(B̄) − A(B ∩ B̄))`` (thesis Eq. 2.2 / B.1). Taking coordinates separately lets
    the batched kernels test millions of candidates without stacking them into ``[..., 4]`` tensors.

    Parameters
    ----------
    ax1, ay1, ax2, ay2 : Tensor[...] or float
        First boxes, one coordinate each.
    bx1, by1, bx2, by2 : Tensor[...] or float
        Second boxes; everything broadcasts.

    Returns
    -------
    Tensor[...]
    """
    ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 = (v if isinstance(v, Tensor) else torch.as_tensor(v)
                                              for v in (ax1, ay1, ax2, ay2, bx1, by1, bx2, by2))
    iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union


def elementwise_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of corresponding boxes.

    Parameters
    ----------
    boxes1, boxes2 : Tensor[..., 4]
        Broadcast against each other.

    Returns
    -------
    Tensor[...]
    """
    a, b = as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2")
    _broadcast(a, b, "boxes1", "boxes2")
    return iou_xyxy(*a.unbind(-1), *b.unbind(-1))


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU (same values as ``torchvision.ops.box_iou``).

    Parameters
    ----------
    boxes1 : Tensor[N, 4]
    boxes2 : Tensor[M, 4]

    Returns
    -------
    Tensor[N, M]

    Examples
    --------
    >>> box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[0., 0., 1., 2.]]))
    tensor([[0.5000]])
    """
    a, b = as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"box_iou expects [N, 4] and [M, 4], got {tuple(a.shape)} and {tuple(b.shape)}")
    return elementwise_box_iou(a[:, None, :], b[None, :, :])


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between formats.

    Parameters
    ----------
    boxes : Tensor[..., 4]
    in_fmt, out_fmt : {"xyxy", "xywh", "cxcywh"}

    Returns
    -------
    Tensor[..., 4]
        A new tensor (also when the formats are equal).
    """
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
    """Map boxes into the unit frame of ``ref`` (``ref`` -> ``[0, 0, 1, 1]``): ``u = (x - x1) / w``.

    Parameters
    ----------
    boxes : Tensor[..., 4]
        Boxes in image coordinates.
    ref : Tensor[..., 4]
        Reference boxes with positive width and height (a degenerate one has no unit frame:
        ``ValueError``); broadcasts with ``boxes``.

    Returns
    -------
    Tensor[..., 4]
    """
    b, r = as_boxes(boxes), as_boxes(ref, "ref")
    _broadcast(b, r, "boxes", "ref")
    check_boxes(r, "ref")
    w, h = r[..., 2] - r[..., 0], r[..., 3] - r[..., 1]
    scale = torch.stack((w, h, w, h), -1)
    shift = torch.stack((r[..., 0], r[..., 1], r[..., 0], r[..., 1]), -1)
    return (b - shift) / scale


def from_unit_frame(boxes: Tensor, ref: Tensor) -> Tensor:
    """Inverse of :func:`to_unit_frame`: ``x = x1 + w·u``, ``y = y1 + h·v``.

    Parameters
    ----------
    boxes : Tensor[..., 4]
        Boxes in the unit frame.
    ref : Tensor[..., 4]
        The reference boxes they were mapped with.

    Returns
    -------
    Tensor[..., 4]
    """
    b, r = as_boxes(boxes), as_boxes(ref, "ref")
    _broadcast(b, r, "boxes", "ref")
    tl, wh = r[..., :2], r[..., 2:] - r[..., :2]
    return torch.cat((tl + b[..., :2] * wh, tl + b[..., 2:] * wh), -1)
