"""Argument validation, reduction and elementwise pieces shared by the losses of :mod:`bbgen.losses`."""
from __future__ import annotations

import torch
from torch import Tensor

from .. import _validate

__all__ = ["REDUCTIONS", "check_boxes", "check_positive", "check_reduction", "check_tensor", "reduce_loss",
           "smooth_l1_terms"]

REDUCTIONS = ("none", "mean", "sum")


def check_tensor(name: str, value: object) -> Tensor:
    """Return ``value`` if it is a floating-point tensor, else raise ``TypeError`` naming ``name``."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def check_boxes(pred: object, target: object) -> tuple[Tensor, Tensor]:
    """Validate a pair of ``[..., 4]`` xyxy box tensors whose leading dimensions broadcast.

    Returns both tensors broadcast to the common shape ``[..., 4]`` so that every loss sees
    one pair per element (a loss computed from broadcast views keeps correct gradients).
    """
    pred = check_tensor("pred", pred)
    target = check_tensor("target", target)
    for name, t in (("pred", pred), ("target", target)):
        if t.ndim == 0 or t.shape[-1] != 4:
            raise ValueError(f"{name} must have shape [..., 4] (x1, y1, x2, y2), got {tuple(t.shape)}")
    if pred.dtype != target.dtype:
        raise TypeError(f"pred and target must share a dtype, got {pred.dtype} and {target.dtype}")
    if pred.device != target.device:
        raise ValueError(f"pred and target must be on one device, got {pred.device} and {target.device}")
    try:
        shape = torch.broadcast_shapes(pred.shape, target.shape)
    except RuntimeError:
        raise ValueError(
            f"pred shape {tuple(pred.shape)} and target shape {tuple(target.shape)} do not broadcast"
        ) from None
    return pred.expand(shape), target.expand(shape)


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite number > 0 (>= 0 with ``allow_zero``); see :mod:`bbgen._validate`."""
    if not allow_zero:
        return _validate.positive_float(value, name)
    value = _validate.finite_float(value, name)
    if value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def smooth_l1_terms(diff: Tensor, beta: float) -> Tensor:
    """Elementwise Smooth L1 of ``|diff|`` in the Fast R-CNN/torch convention (Zhang Eq. 1), unreduced."""
    absd = diff.abs()
    return torch.where(absd < beta, 0.5 * absd * absd / beta, absd - 0.5 * beta)


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ("none" | "mean" | "sum") to a per-pair loss tensor.

    ``"mean"`` of an empty tensor is 0 (not NaN) and stays attached to the graph, as in
    torchvision's box losses.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_reduction(reduction: object) -> str:
    """Validate ``reduction`` before any work is done."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]

