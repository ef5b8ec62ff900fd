"""Dataset readers (COCO, LVIS, VOC, YOLO) producing the columnar :class:`Annotations` table."""
from .annotations import Annotations
from .errors import AnnotationFormatError
from .loader import FORMATS, detect_format, load
from .synthetic import synthetic
from .torchcv import coco_from_torchcv, write_coco_from_torchcv

__all__ = ["Annotations", "AnnotationFormatError", "FORMATS", "detect_format", "load", "synthetic",
           "coco_from_torchcv", "write_coco_from_torchcv"]
