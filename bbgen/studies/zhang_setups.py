"""The inputs of Zhang et al.'s Algorithm 1 (their Fig. 6): the two set-ups, the readings of their scale,
the box parameterisations, and the anchor–target pairs built from them.

The readings and parameterisations are explained in :mod:`bbgen.studies.zhang_regression`, which runs
the simulation on these pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor

from .._typing import SeedLike
from .._validate import as_generator
from ..losses import iou_loss

__all__ = ["CENTRE", "PARAMETERISATIONS", "READINGS", "SETUPS", "TARGET_AREA", "Reading", "Setup", "check_choice",
           "decode", "disjoint_share", "encode", "make_pairs"]

TARGET_AREA, CENTRE = 100.0, 10.0
#: parameterisation -> meaning of its 4 numbers
PARAMETERISATIONS = {"xyxy": "(x1, y1, x2, y2) corners", "xywh": "(centre x, centre y, w, h), the DIoU code's"}


@dataclass(frozen=True)
class Setup:
    """One of Fig. 6's set-ups.

    Attributes
    ----------
    points : int
        Number of anchor centres ``N`` (uniform in a square around the targets).
    side : float
        Side of that square.
    areas : tuple of float
        Anchor areas; every area is combined with every ratio.
    ratios : tuple of float
        Aspect ratios w:h of the anchors and of the targets (one target per ratio, area 100).
    figure : int
        The paper's figure of the results (7 or 8).
    """

    points: int
    side: float
    areas: tuple[float, ...]
    ratios: tuple[float, ...]
    figure: int


SETUPS = {
    1: Setup(1000, 20.0, (50, 67, 75, 100, 133, 150, 200), (1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4), figure=7),
    2: Setup(100, 2.5, (50, 100, 150), (1 / 3, 1, 3), figure=8),
}


@dataclass(frozen=True)
class Reading:
    """A reading of Alg. 1's scale.

    Attributes
    ----------
    name : str
        Key in :data:`READINGS`.
    length_scale : float
        Factor on every length (centres, sampling side, anchor and target sizes).
    lr_scale : float
        Factor on every μ of the schedule.
    converges : bool
        Whether the losses converge within T = 200 under this reading (False: labelled non-converging).
    description : str
        One line for reports.
    """

    name: str
    length_scale: float
    lr_scale: float
    converges: bool
    description: str


READINGS = {
    "literal": Reading("literal", 1.0, 1.0, False,
                       "Alg. 1 as printed (areas 50-200, mu = 0.1): barely moves in T = 200, non-converging"),
    "diou": Reading("diou", 0.1, 1.0, True,
                    "every length x 0.1 (centres, sampling side, anchor and target sizes): the DIoU paper's "
                    "unit-size boxes"),
    "literal-lr": Reading("literal-lr", 1.0, 100.0, True,
                          "printed geometry, mu x 100 (= 1 / 0.1^2): the diou trajectories at 10x the lengths"),
}


def check_choice(name: str, value: object, options: Mapping | Sequence) -> None:
    """Raise ``ValueError`` naming ``name`` and ``value`` unless ``value`` is one of ``options``.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        The given value.
    options : mapping or sequence
        The allowed values (a mapping's keys).
    """
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")


def make_pairs(setup: int, points: int, *, reading: str = "literal", generator: SeedLike = 0,
               dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """All anchor–target pairs of a set-up as xyxy boxes (Alg. 1's inputs).

    Parameters
    ----------
    setup : int
        1 or 2 (Fig. 6a / 6b).
    points : int
        Number of anchor centres ``N`` (the paper: 1000 / 100).
    reading : str
        A key of :data:`READINGS`; its ``length_scale`` multiplies every coordinate.
    generator : SeedLike
        Source of the uniform centres: a ``torch.Generator``, an int seed (default 0), a numpy Generator or
        None. They are drawn in float64, so equal seeds give every reading the same centres.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    (anchors, targets) : tuple[Tensor[P, 4], Tensor[P, 4]]
        ``P = N · S · A`` pairs, ordered (centre, area, ratio, target).
    """
    check_choice("setup", setup, SETUPS)
    check_choice("reading", reading, READINGS)
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be a positive integer, got {points!r}")
    cfg, s = SETUPS[setup], READINGS[reading].length_scale
    f64 = torch.float64
    centres = CENTRE + (torch.rand(points, 2, generator=as_generator(generator), dtype=f64) - 0.5) * cfg.side
    area, ratio = torch.tensor(cfg.areas, dtype=f64), torch.tensor(cfg.ratios, dtype=f64)
    a_grid, r_grid = (g.reshape(1, -1) for g in torch.meshgrid(area, ratio, indexing="ij"))
    anchors = _boxes(centres[:, 0, None], centres[:, 1, None], a_grid, r_grid)  # [N, S, 4]
    c = torch.tensor(CENTRE, dtype=f64)
    targets = _boxes(c, c, torch.tensor(TARGET_AREA, dtype=f64), ratio)  # [A, 4]
    pred = anchors[:, :, None, :].expand(-1, -1, len(targets), -1).reshape(-1, 4)
    tgt = targets.expand(anchors.shape[0], anchors.shape[1], -1, -1).reshape(-1, 4)
    return (pred * s).to(dtype).contiguous(), (tgt * s).to(dtype).contiguous()


def _boxes(cx: Tensor, cy: Tensor, area: Tensor, ratio: Tensor) -> Tensor:
    w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    return torch.stack(torch.broadcast_tensors(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def encode(boxes: Tensor, param: str) -> Tensor:
    """xyxy boxes ``[..., 4]`` in the parameterisation ``param`` (a key of :data:`PARAMETERISATIONS`).

    Parameters
    ----------
    boxes : Tensor[..., 4]
        xyxy boxes.
    param : str
        ``"xyxy"`` (returned as is) or ``"xywh"`` (centre x, centre y, w, h).
    """
    check_choice("param", param, PARAMETERISATIONS)
    if param == "xyxy":
        return boxes
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), -1)


def decode(params: Tensor, param: str) -> Tensor:
    """Inverse of :func:`encode`: boxes in parameterisation ``param`` back to xyxy (differentiable).

    Parameters
    ----------
    params : Tensor[..., 4]
        Boxes in the parameterisation ``param``.
    param : str
        ``"xyxy"`` or ``"xywh"``.
    """
    check_choice("param", param, PARAMETERISATIONS)
    if param == "xyxy":
        return params
    cx, cy, w, h = params.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def disjoint_share(anchors: Tensor, targets: Tensor) -> float:
    """Share of anchor–target pairs that do not overlap (IoU = 0), e.g. at the start of Alg. 1.

    Parameters
    ----------
    anchors, targets : Tensor[P, 4]
        xyxy boxes, paired row by row.
    """
    iou = 1 - iou_loss(anchors, targets)
    return float((iou <= 0).double().mean())
