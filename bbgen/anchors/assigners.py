"""Anchor assigners (thesis §3.2.1: the labelling rule that creates foreground–background imbalance).

* :class:`MaxIoUAssigner` — torchvision's ``Matcher``: IoU >= high -> positive, [low, high) -> ignored,
  < low -> negative, plus ``allow_low_quality_matches`` (every GT's highest-IoU anchors, ties
  included, become positive for their best GT).  ``ssd_rule=True`` gives ``SSDMatcher`` instead
  (each GT's single best anchor is forced to that GT).
* :class:`ATSSAssigner` — ATSS (Zhang et al., CVPR 2020): per GT and level the ``topk`` anchors
  nearest to its centre are candidates; IoU >= mean + std of the candidates' IoUs and anchor centre
  inside the GT (margin 0.01 px, as mmdetection) -> positive; an anchor claimed by several GTs goes to
  the highest IoU.  No ignored band.

This module holds the configurations and the dense reference semantics; :mod:`bbgen.anchors.maxiou`
evaluates them sparsely.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import _validate

__all__ = ["ATSSAssigner", "MaxIoUAssigner", "assigner_config", "max_iou_matches"]

BELOW_LOW = -1
BETWEEN = -2


@dataclass(frozen=True)
class MaxIoUAssigner:
    """Max-IoU labelling (torchvision's ``Matcher``); defaults are RetinaNet's.

    ``high`` / ``low`` keep torchvision's names (``high_threshold`` / ``low_threshold``): two IoU thresholds
    with different roles, positive and negative.

    Parameters
    ----------
    high : float, default 0.5
        IoU threshold in ``(0, 1]`` at and above which an anchor is positive.
    low : float, default 0.4
        IoU threshold below which an anchor is negative (``low <= high``); ``[low, high)`` is ignored.
    allow_low_quality : bool, default True
        Every GT's highest-IoU anchors (ties included) become positive for their best GT.
    ssd_rule : bool, default False
        ``SSDMatcher``: each GT's single best anchor is forced to that GT.
    """

    high: float = 0.5
    low: float = 0.4
    allow_low_quality: bool = True
    ssd_rule: bool = False

    def __post_init__(self) -> None:
        for name in ("high", "low"):
            _validate.iou_threshold(getattr(self, name), f"MaxIoUAssigner: {name}")
        if self.low > self.high:
            raise ValueError(f"MaxIoUAssigner: low={self.low} must be <= high={self.high}")


@dataclass(frozen=True)
class ATSSAssigner:
    """ATSS (Zhang et al., CVPR 2020, Alg. 1).

    Parameters
    ----------
    topk : int, default 9
        Candidates per GT and level (9 in the paper).
    centre_eps : float, default 0.01
        Margin (px) by which an anchor centre must lie inside the GT (as mmdetection).
    """

    topk: int = 9
    centre_eps: float = 0.01

    def __post_init__(self) -> None:
        _validate.positive_int(self.topk, "ATSSAssigner: topk")


# torchvision's thresholds for each preset anchor set
_MAXIOU = {
    "retinanet": MaxIoUAssigner(0.5, 0.4, True),
    "rpn": MaxIoUAssigner(0.7, 0.3, True),
    "ssd300": MaxIoUAssigner(0.5, 0.5, False, ssd_rule=True),
}


def assigner_config(assigner: str | MaxIoUAssigner | ATSSAssigner,
                    anchors_name: str = "retinanet") -> MaxIoUAssigner | ATSSAssigner:
    """Resolve an assigner name or object.

    Parameters
    ----------
    assigner : {"maxiou", "atss"} or MaxIoUAssigner or ATSSAssigner
        ``"maxiou"`` takes the detector's own thresholds for a preset anchor set (RetinaNet 0.5/0.4,
        RPN 0.7/0.3, SSD 0.5 with SSD's rule) and RetinaNet's for user configs.
    anchors_name : str, default "retinanet"
        Name of the anchor set.

    Returns
    -------
    MaxIoUAssigner or ATSSAssigner
    """
    if isinstance(assigner, (MaxIoUAssigner, ATSSAssigner)):
        return assigner
    if assigner == "maxiou":
        return _MAXIOU.get(anchors_name, _MAXIOU["retinanet"])
    if assigner == "atss":
        return ATSSAssigner()
    raise ValueError(f"assigner must be 'maxiou', 'atss' or an assigner object, got {assigner!r}")


def max_iou_matches(iou: Tensor, assigner: MaxIoUAssigner) -> Tensor:
    """Dense max-IoU matching, the same tensor operations as torchvision's ``Matcher`` / ``SSDMatcher``.

    Parameters
    ----------
    iou : Tensor[G, K] or numpy.ndarray[G, K]
        IoU of every GT with every anchor (non-empty); a float16/32/64 numpy array is converted with
        ``torch.as_tensor`` (no copy when contiguous).
    assigner : MaxIoUAssigner

    Returns
    -------
    Tensor[K] of int64
        Matched GT index, ``-1`` negative, ``-2`` ignored (on ``iou``'s device; CPU for a numpy array).
    """
    if isinstance(iou, np.ndarray):  # was "max() received an invalid combination of arguments"
        if iou.dtype not in (np.float16, np.float32, np.float64):
            raise TypeError(f"iou must be a float16, float32 or float64 array, got dtype {iou.dtype}")
        iou = torch.as_tensor(np.ascontiguousarray(iou))
    elif not isinstance(iou, Tensor):
        raise TypeError(f"iou must be a torch.Tensor or numpy.ndarray [G, K], got {type(iou).__name__}")
    if not isinstance(assigner, MaxIoUAssigner):
        raise TypeError(f"assigner must be a MaxIoUAssigner, got {type(assigner).__name__}")
    if iou.ndim != 2 or iou.shape[0] == 0 or iou.shape[1] == 0:
        raise ValueError(f"iou must be a non-empty [G, K] matrix, got shape {tuple(iou.shape)}")
    matched_vals, matches = iou.max(dim=0)
    all_matches = matches.clone()
    below = matched_vals < assigner.low
    between = (matched_vals >= assigner.low) & (matched_vals < assigner.high)
    matches[below] = BELOW_LOW
    matches[between] = BETWEEN
    if assigner.allow_low_quality:
        highest, _ = iou.max(dim=1)
        pred = torch.where(iou == highest[:, None])[1]
        matches[pred] = all_matches[pred]
    if assigner.ssd_rule:
        _, best = iou.max(dim=1)
        matches[best] = torch.arange(best.numel(), dtype=torch.int64)
    return matches
