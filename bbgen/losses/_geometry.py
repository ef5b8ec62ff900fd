"""The one pairwise box geometry shared by all IoU-family losses.

Every IoU-based loss (IoU, GIoU, DIoU, CIoU, Zhang's EIoU, Peng & Yu's extended IoU) is a
function of the same handful of quantities: the (possibly empty) intersection rectangle, the
union, the smallest enclosing box, the side lengths and the centre distance. They are computed
here once, with the same ``eps`` guards, so the losses differ only in their formulas.
(:func:`bbgen.boxes.iou_xyxy` is the IoU *metric*; the losses need its pieces, the enclosing box and
an ``eps``-guarded, differentiable quotient, hence this separate computation.)
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["PairGeometry", "pair_geometry"]


class PairGeometry(NamedTuple):
    """Per-pair quantities of ``pred`` vs ``target`` (all shaped ``[...]``).

    ``inter_*`` are the *unclamped* intersection corners (Peng & Yu Eq. 1–4: ``x1 > x2`` when
    the boxes are disjoint along x); ``enc_*`` the smallest enclosing box (its top-left corner is
    Peng & Yu's ``(x0, y0)``, Eq. 10–11).
    """

    inter_x1: Tensor
    inter_y1: Tensor
    inter_x2: Tensor
    inter_y2: Tensor
    enc_x1: Tensor
    enc_y1: Tensor
    enc_x2: Tensor
    enc_y2: Tensor
    pred_w: Tensor
    pred_h: Tensor
    target_w: Tensor
    target_h: Tensor
    inter: Tensor  # |A ∩ B| (>= 0)
    union: Tensor  # |A ∪ B| (no eps)
    iou: Tensor  # inter / (union + eps)
    center_dist2: Tensor  # squared distance between box centres

    @property
    def enc_w(self) -> Tensor:
        return self.enc_x2 - self.enc_x1

    @property
    def enc_h(self) -> Tensor:
        return self.enc_y2 - self.enc_y1


def pair_geometry(pred: Tensor, target: Tensor, eps: float) -> PairGeometry:
    """Geometry of broadcast-compatible ``pred``/``target`` xyxy boxes ``[..., 4]``.

    Boxes must satisfy ``x1 <= x2`` and ``y1 <= y2`` (zero area allowed). The intersection
    side lengths are clamped at 0 with ``clamp`` (not masking) so that touching and disjoint
    boxes keep finite, well-defined gradients; ``eps`` keeps ``iou`` finite for two zero-area boxes.
    """
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    ix1, iy1 = torch.maximum(px1, tx1), torch.maximum(py1, ty1)
    ix2, iy2 = torch.minimum(px2, tx2), torch.minimum(py2, ty2)
    ex1, ey1 = torch.minimum(px1, tx1), torch.minimum(py1, ty1)
    ex2, ey2 = torch.maximum(px2, tx2), torch.maximum(py2, ty2)
    pw, ph, tw, th = px2 - px1, py2 - py1, tx2 - tx1, ty2 - ty1
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    union = pw * ph + tw * th - inter
    iou = inter / (union + eps)
    center_dist2 = ((px1 + px2 - tx1 - tx2) ** 2 + (py1 + py2 - ty1 - ty2) ** 2) / 4
    return PairGeometry(ix1, iy1, ix2, iy2, ex1, ey1, ex2, ey2, pw, ph, tw, th,
                        inter, union, iou, center_dist2)
