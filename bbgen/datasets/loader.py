"""``load(path, format=None)``: one entry point for every supported annotation format."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .annotations import Annotations
from .coco import is_lvis, read_coco, read_json
from .errors import AnnotationFormatError
from .voc import read_voc
from .yolo import read_yolo

__all__ = ["FORMATS", "detect_format", "load"]

FORMATS = ("coco", "lvis", "voc", "yolo")


def detect_format(path: str | Path) -> str:
    """Guess the format of ``path``: a ``.json`` file is COCO (LVIS when its categories carry a
    ``frequency``); a directory with xml files is VOC, one with label ``.txt`` files is YOLO."""
    path = Path(path)
    if not path.exists():
        raise AnnotationFormatError(path, "not found")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "lvis" if is_lvis(read_json(path)) else "coco"
        raise AnnotationFormatError(path, "cannot detect the format: expected a .json file or a directory "
                                          "(pass format= one of " + ", ".join(FORMATS) + ")")
    for sub in ("Annotations", "annotations", "."):
        if any((path / sub).glob("*.xml")):
            return "voc"
    if (path / "labels").is_dir() or any(p.name != "classes.txt" for p in path.glob("*.txt")):
        return "yolo"
    raise AnnotationFormatError(path, "cannot detect the format: no .xml (VOC) or label .txt (YOLO) files")


def load(path: str | Path, format: str | None = None, *, split: str | Path | None = None,
         classes: Sequence[str] | None = None) -> Annotations:
    """Read annotations from ``path`` into an :class:`Annotations` table.

    Args:
        path: COCO/LVIS json file, VOC directory, or YOLO directory.
        format: one of ``"coco"``, ``"lvis"``, ``"voc"``, ``"yolo"``; detected when ``None``.
        split: VOC only: ``ImageSets/Main/<split>.txt`` name or a path to an id list.
        classes: VOC/YOLO only: category names in label order (default: from the dataset).

    Raises:
        AnnotationFormatError (a ``ValueError``): missing or malformed input, naming the file.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    data = None
    if format is None and path.is_file() and path.suffix.lower() == ".json":
        data = read_json(path)  # parsed once, for detection and reading
        fmt = "lvis" if is_lvis(data) else "coco"
    else:
        fmt = format or detect_format(path)
    if split is not None and fmt != "voc":
        raise ValueError(f"split= is only used by the voc and torchcv formats, got format {fmt!r}")
    if fmt in ("coco", "lvis"):
        if classes is not None:
            raise ValueError("classes= is only used by the voc and yolo formats; json files name their categories")
        return read_coco(path, data)
    if fmt == "voc":
        return read_voc(path, split=split, classes=classes)
    return read_yolo(path, classes=classes)
