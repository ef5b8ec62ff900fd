"""Peng & Yu (2021), "A systematic IoU-related method": extended IoU, Smooth-EIoU and SOT.

The *extended* IoU ``I_e/U_e`` (Eq. 10–22) equals the standard IoU whenever the boxes overlap and
becomes negative, decreasing with distance, when they are disjoint. mmdetection's ``EIoULoss``
implements this paper; Zhang et al.'s *efficient* IoU is :func:`bbgen.losses.efficient_iou_loss`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import _validate
from ._geometry import pair_geometry
from ._reduce import check_boxes, check_positive, check_reduction, check_tensor, reduce_loss

__all__ = [
    "extended_intersection_union",
    "extended_iou",
    "extended_iou_grad",
    "extended_iou_loss",
    "smooth_extended_iou_grad",
    "sot_step",
]


def extended_intersection_union(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Extended intersection ``I_e`` (Eq. 16) and union ``U_e = S_t + S_p - I_e`` (Eq. 21), ``[...]``.

    ``I_e = (x2-x0)(y2-y0) + (x_min-x0)(y_min-y0) - (x1-x0)(y_max-y0) - (x_max-x0)(y1-y0)``
    with ``(x1, y1, x2, y2)`` the unclamped intersection corners (Eq. 1–4) and ``(x0, y0)`` the
    enclosing box's top-left corner (Eq. 10–11).

    Parameters
    ----------
    pred, target : Tensor[..., 4]

    Returns
    -------
    ie, ue : Tensor[...]
    """
    pred, target = check_boxes(pred, target)
    g = pair_geometry(pred, target, eps=1.0)  # eps unused: only corners and sides are read
    x0, y0 = g.enc_x1, g.enc_y1
    x1, y1, x2, y2 = g.inter_x1, g.inter_y1, g.inter_x2, g.inter_y2
    xmin, xmax = torch.minimum(x1, x2), torch.maximum(x1, x2)
    ymin, ymax = torch.minimum(y1, y2), torch.maximum(y1, y2)
    ie = (x2 - x0) * (y2 - y0) + (xmin - x0) * (ymin - y0) - (x1 - x0) * (ymax - y0) - (xmax - x0) * (y1 - y0)
    ue = g.pred_w * g.pred_h + g.target_w * g.target_h - ie
    return ie, ue


def extended_iou(pred: Tensor, target: Tensor, *, eps: float = 1e-7) -> Tensor:
    """Extended IoU ``I_e/(U_e + eps)`` of Peng & Yu (Eq. 22), ``[...]``, in ``(-1, 1]``.

    Equals the standard IoU on overlapping (and touching) boxes; negative and decreasing with the
    separation on disjoint ones (Eq. 17–20).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    eps : float, default 1e-7
        Added to ``U_e``, ``> 0``.

    Returns
    -------
    Tensor[...]
        In ``(-1, 1]``.
    """
    eps = check_positive("eps", eps)
    ie, ue = extended_intersection_union(pred, target)
    return ie / (ue + eps)


def extended_iou_loss(
    pred: Tensor, target: Tensor, *, power: float = 2.0, eps: float = 1e-7, reduction: str = "none"
) -> Tensor:
    """Smooth-EIoU loss ``(1 - I_e/U_e)^p`` by the convexification technique (Eq. 23).

    CT shifts ``-EIoU`` by its minimum (−1) and raises it to ``p > 1`` (the paper uses 2 and
    mentions 1.5), which makes the gradient vanish at the optimum. This is the loss that
    mmdetection names ``EIoULoss``; it is *not* Zhang et al.'s efficient IoU.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    power : float, default 2.0
        ``p > 1``; the paper uses 2 and mentions 1.5.
    eps : float, default 1e-7
        Added to ``U_e``.
    reduction : {"none", "mean", "sum"}, default "none"

    Returns
    -------
    Tensor[...] or Tensor[]
        Smooth-EIoU of each pair, else the mean or sum.
    """
    power = check_positive("power", power)
    if power <= 1:
        raise ValueError(f"power must be > 1 for the convexification technique (Eq. 23), got {power}")
    check_reduction(reduction)
    # 1 - EIoU >= 0 up to rounding; the clamp keeps the fractional power real.
    loss = (1 - extended_iou(pred, target, eps=eps)).clamp(min=0) ** power
    return reduce_loss(loss, reduction)


def _extended_parts_grad(pred: Tensor, target: Tensor, as_published: bool):
    """``(I_e, U_e, ∂I_e/∂pred, ∂U_e/∂pred)`` from the case analysis of Eq. 25–26 / 33–40."""
    pred, target = check_boxes(pred, target)
    ie, ue = extended_intersection_union(pred, target)
    g = pair_geometry(pred, target, eps=1.0)
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    x0, y0 = g.enc_x1, g.enc_y1
    x1, y1, x2, y2 = g.inter_x1, g.inter_y1, g.inter_x2, g.inter_y2
    xmin, xmax = torch.minimum(x1, x2), torch.maximum(x1, x2)
    ymin, ymax = torch.minimum(y1, y2), torch.maximum(y1, y2)
    zero = torch.zeros_like(ie)
    # When x1^p < x1^t the moving coordinate is x0; the paper's third case (0) holds only while
    # the boxes overlap in y. In general ∂I_e/∂x0 = y1 + y_max - y2 - y_min (= 2(y1 - y2) > 0
    # for boxes disjoint in y).
    back_x = zero if as_published else y1 + ymax - y2 - ymin
    back_y = zero if as_published else x1 + xmax - x2 - xmin
    d_ie = torch.stack(
        [
            torch.where(px1 >= tx1, torch.where(x1 <= x2, ymin - ymax, 2 * y0 - ymax - y1), back_x),
            torch.where(py1 >= ty1, torch.where(y1 <= y2, xmin - xmax, 2 * x0 - xmax - x1), back_y),
            torch.where(px2 <= tx2, torch.where(x1 <= x2, y2 - y1, y2 + ymin - 2 * y0), zero),
            torch.where(py2 <= ty2, torch.where(y1 <= y2, x2 - x1, x2 + xmin - 2 * x0), zero),
        ],
        dim=-1,
    )
    d_sp = torch.stack([py1 - py2, px1 - px2, py2 - py1, px2 - px1], dim=-1)
    return ie, ue, d_ie, d_sp - d_ie


def extended_iou_grad(
    pred: Tensor, target: Tensor, *, eps: float = 1e-7, as_published: bool = False
) -> Tensor:
    """Analytic ``∂EIoU/∂pred`` ``[..., 4]`` from Peng & Yu's case analysis (Eq. 25–26, 33–40).

    ``∂(I_e/U_e)/∂z = (∂I_e·U_e - I_e·∂U_e)/U_e²`` (with ``U_e + eps`` as in
    :func:`extended_iou`). At ties (``x1^p = x1^t`` …) the paper's first case is used, a valid
    one-sided derivative. ``as_published=True`` reproduces Eq. 33–34 literally, whose third case
    (``∂I_e/∂x1^p = 0`` if ``x1^p < x1^t``) is wrong when the boxes are disjoint along the other
    axis; the default adds the missing term so the result equals autograd everywhere off ties.

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    eps : float, default 1e-7
        Added to ``U_e`` as in :func:`extended_iou`.
    as_published : bool, default False
        Reproduce Eq. 33–34 literally (wrong for boxes disjoint along the other axis); a ``bool``
        (anything else is a ``TypeError``).

    Returns
    -------
    Tensor[..., 4]
    """
    eps = check_positive("eps", eps)
    as_published = _validate.flag(as_published, "as_published")  # "yes" was taken as True
    ie, ue, d_ie, d_ue = _extended_parts_grad(pred, target, as_published)
    ue = (ue + eps).unsqueeze(-1)
    return (d_ie * ue - ie.unsqueeze(-1) * d_ue) / ue**2


def smooth_extended_iou_grad(
    pred: Tensor, target: Tensor, *, power: float = 2.0, eps: float = 1e-7, as_published: bool = False
) -> Tensor:
    """Analytic gradient of :func:`extended_iou_loss`, ``[..., 4]`` (Eq. 27 / 41–44 for ``p = 2``).

    ``∂L/∂z = -p (1 - EIoU)^{p-1} ∂EIoU/∂z``; for ``p = 2`` this is Eq. 27,
    ``2(1 - I_e/U_e)(I_e ∂U_e - ∂I_e U_e)/U_e²``. (Eq. 24 of the paper drops the factor 2.)

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    power : float, default 2.0
        ``p > 1``.
    eps : float, default 1e-7
        Added to ``U_e``, ``> 0``.
    as_published : bool, default False
        Use Eq. 33–34 literally (:func:`extended_iou_grad`).

    Returns
    -------
    Tensor[..., 4]
        ``∂L/∂pred``.
    """
    power = check_positive("power", power)
    if power <= 1:
        raise ValueError(f"power must be > 1 for the convexification technique (Eq. 23), got {power}")
    d_e = extended_iou_grad(pred, target, eps=eps, as_published=as_published)
    one_minus = (1 - extended_iou(pred, target, eps=eps)).clamp(min=0).unsqueeze(-1)
    return -power * one_minus ** (power - 1) * d_e


def sot_step(pred: Tensor, target: Tensor, grad: Tensor, *, lr: float) -> Tensor:
    """One steady-optimisation-technique update ``pred - lr · U_e · ∂L/∂pred`` (Eq. 28).

    The gradient of a fractional IoU loss scales as ``1/s`` with box size ``s``; multiplying by
    ``U_e ∝ s²`` makes the step proportional to ``s`` (Theorem 1 with ``g = U_e``). Eq. 28's
    first line carries an extra factor 2 that its second line does not; we follow the second line
    (``lr`` absorbs any constant).

    Parameters
    ----------
    pred, target : Tensor[..., 4]
    grad : Tensor[..., 4]
        ``∂L/∂pred``, same shape as ``pred``.
    lr : float
        The learning rate ``α > 0``.

    Returns
    -------
    Tensor[..., 4]
        The updated boxes.
    """
    lr = check_positive("lr", lr)
    grad = check_tensor("grad", grad)
    if grad.shape != pred.shape:
        raise ValueError(f"grad must have the shape of pred {tuple(pred.shape)}, got {tuple(grad.shape)}")
    _, ue = extended_intersection_union(pred, target)
    return pred - lr * ue.unsqueeze(-1) * grad
