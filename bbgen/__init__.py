"""bbgen: bounding-box synthesis and imbalance analysis for object detection.

The public entry points are imported lazily so that ``import bbgen`` stays cheap
and optional pieces (torchvision integration) are only loaded when used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "generate_bb": "bbgen.generator.reference",
    "generate_boxes": "bbgen.generator.batched",
    "generate_prois": "bbgen.roi.proi",
    "ohpm_select": "bbgen.roi.samplers",
    "box_iou": "bbgen.boxes",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bbgen' has no attribute {name!r}")
