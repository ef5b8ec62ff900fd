"""``load(path, format=None)``: one entry point for every supported annotation format."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .annotations import Annotations
from .coco import is_lvis, read_coco, read_json
from .errors import AnnotationFormatError
from .torchcv import is_torchcv_list, read_torchcv
from .voc import read_voc
from .yolo import read_yolo

__all__ = ["FORMATS", "detect_format", "load"]

FORMATS = ("coco", "lvis", "voc", "yolo", "torchcv")
_PROBE = 20  # .txt files looked at to tell a torchcv list from YOLO label files


def detect_format(path: str | Path) -> str:
    """Guess the format of ``path``.

    A ``.json`` file is COCO (LVIS when its categories carry a ``frequency``); a ``.txt`` file with
    lines ``file x1 y1 x2 y2 label ...`` is a torchcv list. A directory with xml files is VOC, one
    with a torchcv list is torchcv, one with label ``.txt`` files is YOLO.

    Parameters
    ----------
    path : str or Path
        File or directory.

    Returns
    -------
    str
        One of :data:`FORMATS`.
    """
    path = Path(path)
    if not path.exists():
        raise AnnotationFormatError(path, "not found")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "lvis" if is_lvis(read_json(path)) else "coco"
        if path.suffix.lower() == ".txt" and is_torchcv_list(path):
            return "torchcv"
        raise AnnotationFormatError(path, "cannot detect the format: expected a .json file or a directory "
                                          "(pass format= one of " + ", ".join(FORMATS) + ")")
    for sub in ("Annotations", "annotations", "."):
        if any((path / sub).glob("*.xml")):
            return "voc"
    if any(is_torchcv_list(p) for p in sorted(path.glob("*.txt"))[:_PROBE]):
        return "torchcv"
    if (path / "labels").is_dir() or any(p.name != "classes.txt" for p in path.glob("*.txt")):
        return "yolo"
    raise AnnotationFormatError(path, "cannot detect the format: no .xml (VOC), torchcv list or label .txt "
                                      "(YOLO) files")


def load(path: str | Path, format: str | None = None, *, split: str | Path | None = None,
         classes: Sequence[str] | None = None, image_sizes: str | Path | None = None) -> Annotations:
    """Read annotations from ``path`` into an :class:`Annotations` table.

    Parameters
    ----------
    path : str or Path
        COCO/LVIS json file, VOC directory, YOLO directory, or torchcv list (file, or folder with one).
    format : str, optional
        One of :data:`FORMATS`; detected when ``None``.
    split : str or Path, optional
        VOC: ``ImageSets/Main/<split>.txt`` name or a path to an id list; torchcv: the list's name
        in the folder.
    classes : sequence of str, optional
        VOC/YOLO/torchcv: category names in label order (default: from the dataset).
    image_sizes : str or Path, optional
        torchcv only: json with the image sizes (default: ``image_sizes.json`` beside the list).

    Returns
    -------
    Annotations

    Raises
    ------
    AnnotationFormatError
        (a ``ValueError``) missing or malformed input, naming the file.
    """
    if isinstance(classes, str):  # list("cat") would silently be the three classes 'c', 'a', 't'
        raise TypeError(f"classes must be a sequence of class names, got the string {classes!r}")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    data = None
    if format is None and path.is_file() and path.suffix.lower() == ".json":
        data = read_json(path)  # parsed once, for detection and reading
        fmt = "lvis" if is_lvis(data) else "coco"
    else:
        fmt = format or detect_format(path)
    if split is not None and fmt not in ("voc", "torchcv"):
        raise ValueError(f"split= is only used by the voc and torchcv formats, got format {fmt!r}")
    if image_sizes is not None and fmt != "torchcv":
        raise ValueError(f"image_sizes= is only used by the torchcv format, got format {fmt!r}")
    if fmt in ("coco", "lvis"):
        if classes is not None:
            raise ValueError("classes= is only used by the voc, yolo and torchcv formats; json files name their categories")
        return read_coco(path, data)
    if fmt == "voc":
        return read_voc(path, split=split, classes=classes)
    if fmt == "torchcv":
        return read_torchcv(path, split=split, classes=classes, image_sizes=image_sizes)
    return read_yolo(path, classes=classes)
