"""Dataset readers (COCO, LVIS, VOC, YOLO) producing the columnar :class:`Annotations` table."""
from .annotations import Annotations

__all__ = ["Annotations"]
