"""Every argument check shared across bbgen, written once (docs/architecture.md, "One validator").

Each function takes the user's value and the argument's name, and returns the canonical form or raises a
``ValueError`` / ``TypeError`` that names the argument and the value (never NaN, a hang or a deep torch
traceback). Private module: the rest of bbgen imports it as ``from .. import _validate``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._typing import BoxesLike, ImageSizeLike, SeedLike, ThresholdLike
from .boxes import as_boxes, check_boxes

__all__ = ["IOU_MARGIN", "as_generator", "as_numpy_generator", "count", "finite_float", "flag", "image_sizes", "interval",
           "iou_threshold", "order", "positive_float", "positive_int", "ref_boxes_2d", "thresholds",
           "threshold_values"]

# Generated boxes are verified in float64 with this margin, so that any float64 IoU formula a user writes
# agrees that the constraint holds (different operation orders differ by a few ulps).
IOU_MARGIN = 1e-12

_ORDERS = ("random", "tl", "br")


def ref_boxes_2d(ref_boxes: BoxesLike, name: str = "ref_boxes", *, values: bool = True) -> Tensor:
    """Validate ``[N, 4]`` float32/float64 reference boxes (finite, x2 > x1, y2 > y1; ``values=False``: shape and
    dtype only, for a kernel that checks every box as it reads it)."""
    ref = as_boxes(ref_boxes, name)
    if ref.ndim != 2:
        raise ValueError(f"{name} must have shape [N, 4], got {tuple(ref.shape)}")
    if ref.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 (half precision cannot hold IoU constraints), "
                        f"got {ref.dtype}")
    if values:
        check_boxes(ref, name)
    return ref


def thresholds(value: ThresholdLike, n: int, num: int, name: str, device: torch.device, *,
               values: bool = True) -> Tensor:
    """Broadcast an IoU threshold (float, ``[N]`` or ``[N, num]``) to a float64 ``[N, num]`` tensor in (0, 1]
    (``values=False``: shape only, for a kernel that checks every threshold as it reads it)."""
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
    if values:
        threshold_values(t, name)
    return t.contiguous()


def threshold_values(t: Tensor, name: str) -> None:
    """``ValueError`` naming ``name`` and the first value of ``t`` outside (0, 1] (NaN included)."""
    if t.numel():
        low, high = (float(v) for v in torch.stack(torch.aminmax(t)).tolist())  # NaN propagates; one host sync
        if not (low > 0 and high <= 1):
            bad = ~((t > 0) & (t <= 1))
            raise ValueError(f"{name} must lie in (0, 1], got {float(t[bad][0])}")


def interval(iou: Tensor, max_iou: Tensor | None, name: str = "max_iou") -> None:
    """Check ``iou < max_iou`` elementwise for the interval mode (``max_iou=None``: threshold mode, nothing to check)."""
    if max_iou is not None and max_iou.numel() and bool((max_iou <= iou).any()):
        i = int((max_iou <= iou).reshape(-1).nonzero()[0, 0])
        raise ValueError(f"{name} must be greater than iou (interval mode iou <= IoU < max_iou), got "
                         f"iou = {float(iou.reshape(-1)[i])}, {name} = {float(max_iou.reshape(-1)[i])}")


def order(value: str) -> str:
    """``"random"``, ``"tl"`` or ``"br"``: which corner GENERATEBB samples first."""
    if value not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}, got {value!r}")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def count(value: Any, name: str) -> int:
    """A non-negative int (``bool`` refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def image_sizes(image_size: ImageSizeLike, ref: Tensor, name: str = "image_size") -> Tensor | None:
    """Parse ``(W, H)``, ``[N, 2]`` sizes or ``[N, 4]`` allowed regions ``[x_min, y_min, x_max, y_max]`` to a
    float64 region tensor ``[N, 4]``; every reference box must lie inside its region.

    A box inside the region with IoU >= iou exists for every iou only when the reference box itself is inside
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


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """An int ``>= minimum`` (``bool`` refused): ``"<name> must be a positive int, got <value>"``."""
    if not _is_int(value) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def flag(value: Any, name: str) -> bool:
    """A ``bool`` (or ``numpy.bool_``) switch; anything else (``"yes"``, ``1``, ``None``) is a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r:.200}")
    return bool(value)


def finite_float(value: Any, name: str) -> float:
    """A finite real number (Python, numpy or a one-element tensor) as ``float``."""
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, (int, float, np.integer, np.floating))
                                                  or isinstance(value, Tensor) and value.numel() == 1):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def positive_float(value: Any, name: str) -> float:
    """A finite real number ``> 0`` as ``float``."""
    v = finite_float(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {v}")
    return v


def iou_threshold(value: Any, name: str = "iou") -> float:
    """One IoU threshold in ``(0, 1]`` as ``float`` (:func:`thresholds` broadcasts one to a tensor)."""
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, (int, float, np.integer, np.floating))
                                                  or isinstance(value, Tensor) and value.numel() == 1):
        raise TypeError(f"{name} must be a real number in (0, 1], got {type(value).__name__}")
    v = float(value)
    if not (0.0 < v <= 1.0):
        raise ValueError(f"{name} must lie in (0, 1], got {v}")
    return v


def as_generator(generator: SeedLike, device: torch.device | str | None = None, *,
                 name: str = "generator") -> torch.Generator:
    """The one randomness normalisation of bbgen: a ``torch.Generator`` on ``device``.

    Accepts the caller's ``torch.Generator`` (returned as is; it must be on ``device``'s type), an int seed,
    a ``numpy.random.Generator`` (one 64-bit seed is drawn from it, so the numpy stream advances) or ``None``
    (a fresh OS seed: not reproducible). bbgen never touches torch's global RNG.
    """
    dev = torch.device("cpu" if device is None else device)
    if isinstance(generator, torch.Generator):
        if generator.device.type != dev.type:
            raise ValueError(f"{name} is on {generator.device} but the tensors are on {dev}")
        return generator
    g = torch.Generator(device=dev)
    if generator is None:
        g.seed()
    elif isinstance(generator, np.random.Generator):
        g.manual_seed(int(generator.integers(0, 2**64, dtype=np.uint64)))
    elif _is_int(generator):
        try:
            g.manual_seed(int(generator))
        except (RuntimeError, OverflowError, ValueError) as exc:
            raise ValueError(f"{name} seed must fit in 64 bits, got {generator!r}") from exc
    else:
        raise TypeError(f"{name} must be a torch.Generator, an int seed, a numpy.random.Generator or None, "
                        f"got {type(generator).__name__}")
    return g


def as_numpy_generator(generator: SeedLike, name: str = "generator") -> np.random.Generator:
    """The numpy counterpart of :func:`as_generator`, for bbgen's numpy-based simulations.

    Parameters
    ----------
    generator : int, numpy.random.Generator, torch.Generator or None
        An int seed gives ``numpy.random.default_rng(seed)``; a ``numpy.random.Generator`` is returned as is
        (its stream is used and advances); a ``torch.Generator`` (any device) gives ``default_rng`` of one
        64-bit draw from it (its stream advances by that draw); ``None`` gives a fresh OS-entropy generator
        (not reproducible).
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        For a ``bool`` or any other type, naming ``name``.
    ValueError
        For a negative int seed (numpy seeds are non-negative).
    """
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        return np.random.default_rng()
    if isinstance(generator, torch.Generator):
        word = torch.empty((), dtype=torch.int64, device=generator.device).random_(-(1 << 63), None,
                                                                                generator=generator)
        return np.random.default_rng(int(word) & 0xFFFFFFFFFFFFFFFF)
    if _is_int(generator):
        if generator < 0:
            raise ValueError(f"{name} seed must be a non-negative int, got {generator!r}")
        return np.random.default_rng(int(generator))
    raise TypeError(f"{name} must be an int seed, a numpy.random.Generator, a torch.Generator or None, "
                    f"got {type(generator).__name__}")
