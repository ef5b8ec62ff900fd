"""Train a torchvision RetinaNet with a ranking-based loss: RS Loss, aLRP Loss or AP Loss (thesis Ch. 6–8).

Switch::

    from bbgen.integrations.ranking import use_ranking_loss
    model = torchvision.models.detection.retinanet_resnet50_fpn(num_classes=4)
    with use_ranking_loss(model, "rs"):       # or "alrp", "ap"
        ...train as usual...                   # restored on exit (or handle.restore())

Only ``model.head.compute_loss`` of this instance is replaced (anchor matching, the heads and
post-processing are torchvision's). The logits of every anchor and class in the batch are ranked
together, as in the authors' heads; ignored anchors (between torchvision's IoU thresholds) are left
out. The losses returned under torchvision's keys are:

``"rs"`` (thesis §8.3–8.4)
    classification: RS Loss with the IoU of each positive's decoded box as its label (Eq. 8.10);
    box: GIoU Loss weighted by the positive's score (score-based instance weights, Table 8.1) times
    the value-based self-balancing weight L_RS / L_box (detached), so the two are equal in value.
``"alrp"`` (thesis Ch. 7)
    classification: aLRP's classification component with E_loc = GIoU Loss of each positive
    (the authors' choice, = (1 − GIoU) normalised by 2(1 − τ), τ = 0.5); box: the localisation
    component times the self-balancing weight of :class:`bbgen.losses.ranking.SelfBalance`.
``"ap"`` (thesis §6.1)
    classification: AP Loss; box: torchvision's own regression loss.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor, nn

from bbgen.boxes import elementwise_box_iou
from bbgen.losses.ranking import SelfBalance, alrp_loss, ap_loss, rank_sort_loss

__all__ = ["RankingLossIntegration", "use_ranking_loss", "LOSSES"]

LOSSES = ("rs", "alrp", "ap")
_DEFAULT_DELTA = {"rs": 0.5, "alrp": 1.0, "ap": 1.0}


@dataclass
class RankingLossIntegration:
    """Handle of :func:`use_ranking_loss`; a context manager that restores the head on exit.

    Attributes
    ----------
    model : nn.Module
    loss : str
    delta : float
    self_balance : SelfBalance | None
        aLRP's localisation weight (``loss == "alrp"``).
    last : dict[str, float]
        Components of the last training step (ranking/sorting or cls/loc values, the box weight).
    """

    model: nn.Module
    loss: str
    delta: float
    self_balance: Optional[SelfBalance] = None
    last: Optional[dict] = None

    def restore(self) -> None:
        """Put torchvision's ``compute_loss`` back (no-op when already restored)."""
        head = self.model.head
        if head.__dict__.get("_bbgen_ranking") is self:
            head.__dict__.pop("compute_loss", None)
            head.__dict__.pop("_bbgen_ranking", None)

    def __enter__(self) -> "RankingLossIntegration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()


def use_ranking_loss(model: nn.Module, loss: str = "rs", *, delta: Optional[float] = None,
                     sb_period: int = 100, sb_initial: float = 50.0) -> RankingLossIntegration:
    """Replace the classification (and box) loss of a torchvision RetinaNet by a ranking-based loss.

    Parameters
    ----------
    model : torchvision RetinaNet
        Needs ``model.head.{classification_head, regression_head, compute_loss}`` and
        ``model.head.regression_head.box_coder``.
    loss : {"rs", "alrp", "ap"}
    delta : float, optional
        Smoothing δ of H (default 0.5 for RS, 1.0 for aLRP and AP, as the authors).
    sb_period, sb_initial : int, float
        aLRP self-balancing: iterations per weight update (one epoch in the thesis) and the weight
        before the first update (50 in the authors' code).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    head = getattr(model, "head", None)
    if head is None or not all(hasattr(head, a) for a in ("classification_head", "regression_head", "compute_loss")):
        raise TypeError(f"model must be a torchvision RetinaNet (model.head with classification_head and "
                        f"regression_head), got {type(model).__name__}")
    old = head.__dict__.get("_bbgen_ranking")
    if old is not None:
        old.restore()
    d = _DEFAULT_DELTA[loss] if delta is None else float(delta)
    handle = RankingLossIntegration(model, loss, d, SelfBalance(sb_period, sb_initial) if loss == "alrp" else None)
    head.compute_loss = types.MethodType(lambda self, targets, outputs, anchors, matched:
                                         _compute_loss(handle, self, targets, outputs, anchors, matched), head)
    head.__dict__["_bbgen_ranking"] = handle
    return handle


def _flatten(head: nn.Module, targets: list[dict[str, Tensor]], outputs: dict[str, Tensor], anchors: list[Tensor],
             matched: list[Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """All images' logits ``[B·A·C]`` with binary labels (1 positive, 0 negative, −1 ignored), and for
    positives (in flattened order): decoded predicted boxes, matched gt boxes and their flat index."""
    logits = outputs["cls_logits"]  # [B, A, C]
    num_classes = logits.shape[-1]
    coder = head.regression_head.box_coder
    labels, pred, gt, flat_pos = [], [], [], []
    offset = 0
    for t, reg, anc, m, lg in zip(targets, outputs["bbox_regression"], anchors, matched, logits):
        lab = torch.zeros_like(lg)
        lab[m == -2] = -1.0  # between thresholds: ignored for every class
        fg = torch.nonzero(m >= 0).flatten()
        cls = t["labels"][m[fg]]
        lab[fg, cls] = 1.0
        labels.append(lab.reshape(-1))
        pred.append(coder.decode_single(reg[fg], anc[fg]))
        gt.append(t["boxes"][m[fg]])
        flat_pos.append(offset + fg * num_classes + cls)
        offset += lg.numel()
    flat = torch.cat(flat_pos)
    order = torch.argsort(flat)  # positives in the order they appear in the flattened logits
    return (logits.reshape(-1), torch.cat(labels), torch.cat(pred)[order], torch.cat(gt)[order], flat[order])


def _giou_loss(pred: Tensor, gt: Tensor) -> Tensor:
    from torchvision.ops import generalized_box_iou_loss

    return generalized_box_iou_loss(pred, gt, reduction="none")


def _compute_loss(h: RankingLossIntegration, head: nn.Module, targets: list[dict[str, Tensor]],
                  outputs: dict[str, Tensor], anchors: list[Tensor], matched: list[Tensor]) -> dict[str, Tensor]:
    logits, labels, pred, gt, flat_pos = _flatten(head, targets, outputs, anchors, matched)
    if h.loss == "ap":
        cls = ap_loss(logits, labels, h.delta)
        box = head.regression_head.compute_loss(targets, outputs, anchors, matched)
        h.last = {"ap_loss": float(cls.detach())}
        return {"classification": cls, "bbox_regression": box}
    if len(flat_pos) == 0:
        zero = logits.sum() * 0
        return {"classification": zero, "bbox_regression": zero}
    giou = _giou_loss(pred, gt)
    if h.loss == "rs":
        with torch.no_grad():
            iou = elementwise_box_iou(pred, gt).clamp(min=1e-6, max=1.0)
        soft = labels.clone()
        soft[flat_pos] = iou.to(soft.dtype)
        out = rank_sort_loss(logits, soft, h.delta)
        w = torch.sigmoid(logits.detach()[flat_pos])
        box = (w * giou).sum() / w.sum().clamp(min=1e-12)
        weight = float(out.loss.detach()) / max(float(box.detach()), 1e-12)
        h.last = {"ranking": float(out.ranking), "sorting": float(out.sorting), "box": float(box.detach()),
                  "box_weight": weight}
        return {"classification": out.loss, "bbox_regression": weight * box}
    out = alrp_loss(logits, labels, giou, h.delta)
    weight = h.self_balance.update(out)
    h.last = {"cls": float(out.cls.detach()), "loc": float(out.loc.detach()), "box_weight": weight}
    return {"classification": out.cls, "bbox_regression": weight * out.loc}
