"""Integrations of bbgen's RoI generation and sampling into detection frameworks.

``bbgen.integrations.torchvision`` switches a torchvision Faster R-CNN to OFB sampling, generated
positive RoIs (pRoI) and online hard positive mining (thesis §4.5–4.6). It is imported on demand so
that bbgen itself does not require torchvision.
"""
from __future__ import annotations

__all__: list[str] = []
