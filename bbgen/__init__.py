"""bbgen: bounding-box synthesis and imbalance analysis for object detection.

The public entry points are imported lazily so that ``import bbgen`` stays cheap
and optional pieces (torchvision integration) are only loaded when used.
"""
from __future__ import annotations

from ._lazy import lazy_attributes

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "generate_bb": "generator.reference",
    "generate_boxes": "generator.batched",
    "generate_prois": "roi.proi",
    "ohpm_select": "roi.samplers",
    "box_iou": "boxes",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
