"""Argument checks shared by the generators (clear ``ValueError``/``TypeError`` naming argument and value)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .boxes import as_boxes, check_boxes

# Generated boxes are verified in float64 with this margin, so that any float64 IoU formula a user writes
# agrees that the constraint holds (different operation orders differ by a few ulps).
IOU_MARGIN = 1e-12

_ORDERS = ("random", "tl", "br")


def ref_boxes_2d(ref_boxes: Any, name: str = "ref_boxes") -> Tensor:
    """Validate ``[N, 4]`` float32/float64 reference boxes (finite, x2 > x1, y2 > y1)."""
    ref = as_boxes(ref_boxes, name)
    if ref.ndim != 2:
        raise ValueError(f"{name} must have shape [N, 4], got {tuple(ref.shape)}")
    if ref.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 (half precision cannot hold IoU constraints), "
                        f"got {ref.dtype}")
    check_boxes(ref, name)
    return ref


def thresholds(value: Any, n: int, num: int, name: str, device: torch.device) -> Tensor:
    """Broadcast an IoU threshold (float, ``[N]`` or ``[N, num]``) to a float64 ``[N, num]`` tensor in (0, 1]."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a float or a tensor, got bool")
    if isinstance(value, (int, float, np.floating, np.integer)):
        t = torch.full((n, num), float(value), dtype=torch.float64, device=device)
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.float64, device=device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a float or a tensor of floats, got {type(value).__name__}") from exc
        if t.ndim == 0:
            t = t.expand(n, num)
        elif t.shape == (n,):
            t = t[:, None].expand(n, num)
        elif t.shape != (n, num):
            raise ValueError(f"{name} must be a float, [N] = [{n}] or [N, num] = [{n}, {num}], got {tuple(t.shape)}")
    if t.numel():
        bad = ~((t > 0) & (t <= 1))  # also catches NaN
        if bool(bad.any()):
            raise ValueError(f"{name} must lie in (0, 1], got {float(t[bad][0])}")
    return t.contiguous()


def interval(lo: Tensor, hi: Tensor | None, name: str = "max_iou") -> None:
    """Check ``iou < max_iou`` elementwise for the interval mode."""
    if hi is not None and hi.numel() and bool((hi <= lo).any()):
        i = int((hi <= lo).reshape(-1).nonzero()[0, 0])
        raise ValueError(f"{name} must be greater than iou (interval mode lo <= IoU < hi), got "
                         f"iou = {float(lo.reshape(-1)[i])}, {name} = {float(hi.reshape(-1)[i])}")


def order(value: Any) -> str:
    if value not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}, got {value!r}")
    return value


def count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def image_sizes(image_size: Any, ref: Tensor, name: str = "image_size") -> Tensor | None:
    """Parse ``(W, H)``, ``[N, 2]`` sizes or ``[N, 4]`` allowed regions ``[x_min, y_min, x_max, y_max]`` to a
    float64 region tensor ``[N, 4]``; every reference box must lie inside its region.

    A box inside the region with IoU >= T exists for every T only when the reference box itself is inside
    (it is such a box); otherwise we refuse rather than clamp, which would break the IoU guarantee.
    """
    if image_size is None:
        return None
    try:
        t = torch.as_tensor(image_size, dtype=torch.float64, device=ref.device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be (W, H), an [N, 2] or an [N, 4] tensor, got {image_size!r}") from exc
    n = ref.shape[0]
    if t.shape == (2,):
        t = t.expand(n, 2)
    if t.shape == (n, 2):
        if t.numel() and not bool((torch.isfinite(t) & (t > 0)).all()):
            bad = t[~(torch.isfinite(t) & (t > 0)).all(1)][0].tolist()
            raise ValueError(f"{name} must hold positive finite sizes (W, H), got {bad}")
        t = torch.cat([torch.zeros_like(t), t], 1)
    elif t.shape == (n, 4):
        good = torch.isfinite(t).all(1) & (t[:, 2] > t[:, 0]) & (t[:, 3] > t[:, 1])
        if not bool(good.all()):
            raise ValueError(f"{name} regions must be finite with x_max > x_min and y_max > y_min, "
                             f"got {t[~good][0].tolist()}")
    else:
        raise ValueError(f"{name} must be (W, H), [N, 2] = [{n}, 2] or [N, 4] = [{n}, 4], got shape {tuple(t.shape)}")
    r = ref.to(torch.float64)
    outside = (r[:, 0] < t[:, 0]) | (r[:, 1] < t[:, 1]) | (r[:, 2] > t[:, 2]) | (r[:, 3] > t[:, 3])
    if bool(outside.any()):
        i = int(outside.nonzero()[0, 0])
        raise ValueError(f"reference box {i} = {ref[i].tolist()} does not fit inside the image region "
                         f"[x_min, y_min, x_max, y_max] = {t[i].tolist()}; boxes can only be generated inside "
                         "the image around a box that lies in it")
    return t.contiguous()
