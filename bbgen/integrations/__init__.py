"""Integrations of bbgen's RoI generation and sampling into detection frameworks.

``bbgen.integrations.torchvision`` switches a torchvision Faster R-CNN to OFB sampling, generated
positive RoIs (pRoI) and online hard positive mining (thesis §4.5–4.6); ``ohem`` and ``iou_balanced``
add OHEM (Shrivastava et al. 2016) and Libra R-CNN's IoU-balanced negatives; ``compare`` measures what
each sampler feeds the box head; ``distributed`` gives each DDP rank its own stream; ``heads`` holds
the RoIHeads patching machinery they share. They are imported on demand so that bbgen itself does
not require torchvision.
"""
from __future__ import annotations

__all__: list[str] = []
