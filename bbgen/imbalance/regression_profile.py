"""Imbalance in regression loss (thesis §3.4.1, Fig. 3.11), measured with the box generator.

For each IoU bin ``[lo, hi)`` the batched generator's interval mode
(:func:`bbgen.generator.batched.generate_boxes` with ``iou=lo, max_iou=hi``) draws boxes around the ground
truths; every loss of :mod:`bbgen.losses` is evaluated on them, and its mean value and mean
gradient norm (w.r.t. the predicted box) per bin tell how the loss distributes its weight over
IoU. Weighting the bins by an IoU distribution gives each bin's *share* of the total loss and
gradient: thesis Fig. 3.11 made quantitative.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .. import _validate
from .._typing import SeedLike

__all__ = ["IOU_BINS", "IOU_BIN_BASES", "IOU_BIN_EDGES", "RPN_LIKE_WEIGHTS", "RegressionLossProfile", "regression_loss_profile", "synthetic_gts"]

#: The positive IoU bins of the thesis, the one definition in bbgen: ψ = [0.5, 0.6, 0.7, 0.8, 0.9] (the bin bases
#: of GENERATEPROI, Alg. 2 and Fig. 4.5) and the bins of the regression-loss imbalance (Fig. 3.11).
IOU_BIN_EDGES: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
IOU_BIN_BASES: tuple[float, ...] = IOU_BIN_EDGES[:-1]
IOU_BINS: tuple[tuple[float, float], ...] = tuple(zip(IOU_BIN_EDGES[:-1], IOU_BIN_EDGES[1:]))


def _rpn_like_weights() -> tuple[float, ...]:
    """Bin weights of an RPN-like IoU distribution, skewed to 0.5 (documented estimate).

    Thesis §4.6.2 (Table 4.4) reports the mean number of positive RPN RoIs per image at IoU >= 0.6,
    0.7, 0.8 as 17.26, 7.60, 1.72, i.e. 9.66 in [0.6, 0.7), 5.88 in [0.7, 0.8) and 1.72 above 0.8. The
    [0.5, 0.6) bin is extrapolated with the same ratio r = 9.66/5.88 and the 1.72 above 0.8 is
    split r : 1 between [0.8, 0.9) and [0.9, 1.0). Normalised:
    ≈ (0.477, 0.290, 0.177, 0.032, 0.020).
    """
    b6, b7, above8 = 17.26 - 7.60, 7.60 - 1.72, 1.72
    r = b6 / b7
    raw = (b6 * r, b6, b7, above8 * r / (1 + r), above8 / (1 + r))
    return tuple(v / sum(raw) for v in raw)


RPN_LIKE_WEIGHTS: tuple[float, ...] = _rpn_like_weights()


@dataclass
class RegressionLossProfile:
    """Per-loss, per-IoU-bin statistics of regression losses (thesis Fig. 3.11, quantified).

    Attributes
    ----------
    bins : list of (float, float)
        The IoU bins ``[(lo, hi), ...]``.
    boxes_per_bin : list of int
        Generated boxes in each bin.
    mean_iou : list of float
        Measured mean IoU of the generated boxes per bin.
    mean_loss, mean_grad_norm : dict of str to list of float
        ``{loss: [value per bin]}``; the gradient is w.r.t. the predicted box's four coordinates (L2 norm).
    weights : dict of str to list of float
        ``{distribution: [weight per bin]}`` (each sums to 1).
    loss_share, grad_share : dict of str to dict of str to list of float
        ``{distribution: {loss: [share per bin]}}``, each bin's fraction of the total loss / gradient norm
        when boxes follow that IoU distribution.
    frame : {"unit", "image"}
        ``"unit"``: losses on boxes in each ground truth's unit frame.
    """

    bins: list[tuple[float, float]]
    boxes_per_bin: list[int]
    mean_iou: list[float]
    mean_loss: dict[str, list[float]]
    mean_grad_norm: dict[str, list[float]]
    weights: dict[str, list[float]]
    loss_share: dict[str, dict[str, list[float]]]
    grad_share: dict[str, dict[str, list[float]]]
    frame: str

    def to_dict(self) -> dict:
        """Plain-Python (JSON-serialisable) view of every number."""
        return asdict(self)


def synthetic_gts(num: int, *, generator: SeedLike = None, image_size: float = 1000.0,
                  dtype: torch.dtype = torch.float64) -> Tensor:
    """Synthetic ground truths: log-uniform sides in [16, 512] px, uniform position in the image.

    Parameters
    ----------
    num : int
        Number of boxes (positive).
    generator : torch.Generator or int or numpy.random.Generator, optional
        Randomness (:func:`bbgen._validate.as_generator`).
    image_size : float, default 1000.0
        Side of the square image.
    dtype : torch.dtype, default torch.float64

    Returns
    -------
    Tensor[num, 4]
    """
    num = _validate.positive_int(num, "num")
    u = torch.rand(num, 4, generator=_validate.as_generator(generator), dtype=dtype)
    wh = torch.exp(torch.log(torch.tensor(16.0, dtype=dtype)) + u[:, :2] * torch.log(torch.tensor(32.0, dtype=dtype)))
    xy = u[:, 2:] * (image_size - wh)
    return torch.cat([xy, xy + wh], dim=-1)


def _resolve_losses(losses) -> dict[str, Callable]:
    from ..losses import BOX_LOSSES

    if losses is None:
        return dict(BOX_LOSSES)
    if isinstance(losses, Mapping):
        bad = [k for k, v in losses.items() if not callable(v)]
        if bad:
            raise TypeError(f"losses must map names to callables; not callable: {bad}")
        return dict(losses)
    if isinstance(losses, str) or not isinstance(losses, Sequence):
        raise TypeError(f"losses must be None, a sequence of names or a mapping, got {type(losses).__name__}")
    unknown = [n for n in losses if n not in BOX_LOSSES]
    if unknown:
        raise ValueError(f"unknown loss names {unknown}; known: {sorted(BOX_LOSSES)}")
    return {n: BOX_LOSSES[n] for n in losses}


def _check_bins(bins) -> list[tuple[float, float]]:
    out = []
    for b in bins:
        lo, hi = (float(v) for v in b)
        if not (0 < lo < hi <= 1):
            raise ValueError(f"each IoU bin must satisfy 0 < lo < hi <= 1, got {b}")
        out.append((lo, hi))
    if not out:
        raise ValueError("bins must not be empty")
    return out


def _check_weights(weights, n_bins: int) -> dict[str, list[float]]:
    out = {}
    for name, w in weights.items():
        w = [float(v) for v in w]
        if len(w) != n_bins or any(v < 0 for v in w) or sum(w) <= 0:
            raise ValueError(f"weights[{name!r}] must be {n_bins} non-negative numbers with a positive sum, got {w}")
        out[name] = [v / sum(w) for v in w]
    return out


def _shares(weights: list[float], means: list[float]) -> list[float]:
    mass = [w * m for w, m in zip(weights, means)]
    total = sum(mass)
    return [m / total if total > 0 else 0.0 for m in mass]


def regression_loss_profile(
    gt_boxes: Tensor | None = None,
    *,
    losses: Sequence[str] | Mapping[str, Callable] | None = None,
    bins: Sequence[tuple[float, float]] = IOU_BINS,
    boxes_per_gt: int = 16,
    num_synthetic: int = 128,
    weights: Mapping[str, Sequence[float]] | None = None,
    frame: str = "unit",
    generator: SeedLike = None,
) -> RegressionLossProfile:
    """Mean loss and gradient norm per IoU bin for each regression loss, and per-bin shares (thesis Fig. 3.11).

    Parameters
    ----------
    gt_boxes : Tensor[N, 4], optional
        Real ground truths (xyxy, positive area); ``None`` draws ``num_synthetic`` boxes with
        :func:`synthetic_gts`.
    losses : sequence of str or mapping of str to callable, optional
        Names from :data:`bbgen.losses.BOX_LOSSES` or ``{name: f(pred, target)}`` (default: all of them, with
        their default parameters).
    bins : sequence of (float, float), default ``IOU_BINS``
        IoU intervals ``[lo, hi)``; default [0.5, 0.6) … [0.9, 1.0).
    boxes_per_gt : int, default 16
        Boxes generated per ground truth and bin.
    num_synthetic : int, default 128
        Synthetic ground truths when ``gt_boxes`` is ``None``.
    weights : mapping of str to sequence of float, optional
        ``{name: per-bin weights}``; default ``{"uniform": equal, "rpn_like": RPN_LIKE_WEIGHTS}``
        (:data:`RPN_LIKE_WEIGHTS` documents their source).
    frame : {"unit", "image"}, default "unit"
        ``"unit"`` evaluates every loss on boxes mapped into their ground truth's unit frame (GT = [0, 0, 1, 1],
        the scale of normalised regression targets, so ℓp and IoU losses are comparable across object
        sizes); ``"image"`` uses pixel coordinates.
    generator : torch.Generator or int or numpy.random.Generator, optional
        Randomness (:func:`bbgen._validate.as_generator`).

    Returns
    -------
    RegressionLossProfile
    """
    from ..boxes import elementwise_box_iou, to_unit_frame
    from ..generator.batched import generate_boxes

    fns = _resolve_losses(losses)
    bins = _check_bins(bins)
    if frame not in ("unit", "image"):
        raise ValueError(f"frame must be 'unit' or 'image', got {frame!r}")
    boxes_per_gt = _validate.positive_int(boxes_per_gt, "boxes_per_gt")
    generator = _validate.as_generator(generator)
    if weights is None:
        weights = {"uniform": [1.0] * len(bins)}
        if len(bins) == len(RPN_LIKE_WEIGHTS):
            weights["rpn_like"] = list(RPN_LIKE_WEIGHTS)
    weights = _check_weights(weights, len(bins))
    if gt_boxes is None:
        gt_boxes = synthetic_gts(num_synthetic, generator=generator)
    if not isinstance(gt_boxes, Tensor) or gt_boxes.ndim != 2 or gt_boxes.shape[-1] != 4:
        raise ValueError(f"gt_boxes must be an [N, 4] tensor, got {getattr(gt_boxes, 'shape', type(gt_boxes))}")
    gt = gt_boxes.to(torch.float64)
    if gt.shape[0] == 0 or not bool(((gt[:, 2] > gt[:, 0]) & (gt[:, 3] > gt[:, 1])).all()):
        raise ValueError("gt_boxes must be non-empty with positive width and height")

    mean_loss = {n: [] for n in fns}
    mean_grad = {n: [] for n in fns}
    counts, mean_iou = [], []
    for lo, hi in bins:
        boxes = generate_boxes(gt, lo, num=boxes_per_gt, max_iou=hi, generator=generator)  # [N, k, 4]
        target = gt[:, None, :].expand_as(boxes)
        if frame == "unit":
            boxes, target = to_unit_frame(boxes, target), torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=gt.dtype)
        counts.append(int(boxes.shape[0] * boxes.shape[1]))
        mean_iou.append(float(elementwise_box_iou(boxes, target).mean()))
        for name, fn in fns.items():
            pred = boxes.detach().clone().requires_grad_(True)
            value = fn(pred, target)
            (grad,) = torch.autograd.grad(value.sum(), pred)
            mean_loss[name].append(float(value.detach().mean()))
            mean_grad[name].append(float(grad.norm(dim=-1).mean()))
    return RegressionLossProfile(
        bins=bins,
        boxes_per_bin=counts,
        mean_iou=mean_iou,
        mean_loss=mean_loss,
        mean_grad_norm=mean_grad,
        weights=weights,
        loss_share={d: {n: _shares(w, mean_loss[n]) for n in fns} for d, w in weights.items()},
        grad_share={d: {n: _shares(w, mean_grad[n]) for n in fns} for d, w in weights.items()},
        frame=frame,
    )
