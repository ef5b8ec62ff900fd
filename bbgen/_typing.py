"""Type aliases of bbgen's public signatures (what an argument accepts, instead of ``Any``).

The validators of :mod:`bbgen._validate` turn each of these into one canonical form (see
docs/architecture.md, "One validator").
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["ArrayLike", "BoxesLike", "CoordLike", "ImageSizeLike", "ScalarLike", "SeedLike", "ThresholdLike"]

#: A real number: Python, numpy or a one-element tensor.
ScalarLike = Union[float, int, np.floating, np.integer, Tensor]
#: Numbers as a tensor, an ndarray or a (nested) sequence; converted with :func:`torch.as_tensor`.
ArrayLike = Union[Tensor, np.ndarray, Sequence[float], Sequence[Sequence[float]]]
#: Unit-frame coordinates or thresholds of the closed-form feasible-space formulas: broadcast elementwise,
#: and the result has the same kind (tensor in, tensor out; ndarray or float in, ndarray or float out).
CoordLike = Union[Tensor, np.ndarray, float]
#: Boxes ``[..., 4]`` ``[x1, y1, x2, y2]``: a tensor, an ndarray or a nested sequence of numbers.
BoxesLike = Union[Tensor, np.ndarray, Sequence[float], Sequence[Sequence[float]]]
#: An IoU threshold in ``(0, 1]``: one number for all boxes, or a tensor ``[N]`` / ``[N, num]``.
ThresholdLike = Union[float, Tensor, np.ndarray, Sequence[float]]
#: Randomness: a :class:`torch.Generator`, an int seed, a :class:`numpy.random.Generator` (a 64-bit seed is
#: drawn from it) or ``None`` (a fresh OS seed) — see :func:`bbgen._validate.as_generator`.
SeedLike = Union[torch.Generator, int, np.integer, np.random.Generator, None]
#: An image: ``(W, H)``, sizes ``[N, 2]`` or allowed regions ``[N, 4]`` ``[x_min, y_min, x_max, y_max]``.
ImageSizeLike = Union[tuple[float, float], Sequence[float], Tensor, np.ndarray, None]
