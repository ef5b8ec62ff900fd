"""torchcv box lists: one line per image, ``file x1 y1 x2 y2 label [x1 y1 x2 y2 label ...]``.

The format of ``github.com/kuangliu/torchcv`` (e.g. ``coco17_val.txt``, ``voc07_test.txt``).

* Class names: ``classes=``, or ``labels.txt`` (one name per line; the line index is the label)
  next to the list or in its parent folder, or, in a VOC layout, the classes of the devkit's
  ``ImageSets/Main/<class>_<split>.txt`` files in alphabetical order (torchcv's VOC labels).
* Image sizes (the list has none): ``image_sizes=``, or ``image_sizes.json`` next to the list or in
  its parent folder (see :mod:`bbgen.datasets.image_sizes`; a COCO json's ``images`` list works).
* Difficult flags: an optional ``<list>_difficult.txt`` with one 0/1 per box, in list order
  (``voc07_test_difficult.txt``); flagged boxes become ``crowd`` (ignored) boxes.
* Corners are inclusive pixel indices (width = ``x2 - x1 + 1``). torchcv's COCO lists count from 0
  (``x2 = x + w - 1``): the box becomes ``[x1, y1, x2 + 1, y2 + 1]``. Its VOC lists keep the XML's
  1-based values: the box becomes ``[x1 - 1, y1 - 1, x2, y2]``, the VOC devkit's convention.
  ``one_based=None`` (default) takes the VOC convention when the list lies in a VOC devkit layout
  (an ``ImageSets/Main`` folder beside it or one level up).

Only images that have a line are read (the lists leave out images without boxes).
:func:`coco_from_torchcv` converts a list into a COCO dict instead.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ._table import assemble
from .annotations import Annotations
from .coco import read_json
from .errors import AnnotationFormatError
from .image_sizes import SIZES_FILE, read_image_sizes

__all__ = ["read_torchcv", "torchcv_lists", "is_torchcv_list", "coco_from_torchcv", "write_coco_from_torchcv"]

LABELS_FILE = "labels.txt"
_LINE = re.compile(r"^\S*[^\d\s.\-]\S*((\s+-?[\d.]+(e-?\d+)?){4}\s+\d+)+\s*$")


def is_torchcv_list(path: str | Path) -> bool:
    """True when the first non-empty line of ``path`` reads ``file x1 y1 x2 y2 label ...``.

    Parameters
    ----------
    path : str or Path
        A ``.txt`` file.
    """
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    return bool(_LINE.match(line.strip()))
    except (OSError, UnicodeDecodeError):
        return False
    return False


def torchcv_lists(folder: str | Path) -> list[Path]:
    """The torchcv list files of ``folder`` (sorted; ``labels.txt`` and ``*_difficult.txt`` excluded).

    Parameters
    ----------
    folder : str or Path
        A directory.
    """
    folder = Path(folder)
    return [p for p in sorted(folder.glob("*.txt"))
            if p.name != LABELS_FILE and not p.stem.endswith("_difficult") and is_torchcv_list(p)]


def _pick_list(path: Path, split: str | Path | None) -> Path:
    if path.is_file():
        if split is not None:
            raise AnnotationFormatError(path, "split= names a list inside a folder; here the list file is given")
        return path
    if not path.is_dir():
        raise AnnotationFormatError(path, "not found")
    lists = torchcv_lists(path)
    if split is not None:
        chosen = [p for p in lists if p.stem == str(split) or p.name == str(split)]
        if not chosen:
            raise AnnotationFormatError(path, f"no torchcv list {str(split)!r}; lists here: "
                                              f"{', '.join(p.stem for p in lists) or 'none'}")
        return chosen[0]
    if len(lists) == 1:
        return lists[0]
    if not lists:
        raise AnnotationFormatError(path, "no torchcv list (.txt with lines 'file x1 y1 x2 y2 label ...')")
    raise AnnotationFormatError(path, f"{len(lists)} torchcv lists ({', '.join(p.stem for p in lists)}): "
                                      "pass split= with one of them")


def _beside(list_path: Path, name: str) -> Path | None:
    return next((d / name for d in (list_path.parent, list_path.parent.parent) if (d / name).is_file()), None)


def _line_values(list_path: Path, n: int, parts: list[str], num_classes: int) -> np.ndarray:
    """Line ``n``'s groups ``x1 y1 x2 y2 label`` as ``[K, 5]`` float64; ``AnnotationFormatError`` for non-numbers
    and labels that are not integers in ``[0, num_classes)``."""
    try:
        values = np.array(parts[1:], dtype=np.float64).reshape(-1, 5)
    except ValueError:
        raise AnnotationFormatError(list_path, f"line {n}: not numbers after the file name") from None
    lab = values[:, 4]
    if (lab != np.round(lab)).any() or (lab < 0).any() or (lab >= num_classes).any():
        raise AnnotationFormatError(list_path, f"line {n}: labels must be integers in [0, {num_classes})")
    return values


def _read_lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationFormatError(path, f"cannot read the list ({e})") from None
    return [ln.split() for ln in text.splitlines() if ln.strip()]


def _voc_class_names(list_path: Path) -> list[str]:
    """Class names of the VOC devkit lists ``ImageSets/Main/<class>_<split>.txt`` above the list."""
    for d in (list_path.parent, list_path.parent.parent):
        main = d / "ImageSets" / "Main"
        names = {p.stem.rsplit("_", 1)[0] for p in main.glob("*_*.txt")
                 if p.stem.rsplit("_", 1)[1] in ("train", "val", "trainval", "test")} if main.is_dir() else set()
        if names:
            return sorted(names)
    return []


def _class_names(list_path: Path, classes: Sequence[str] | None) -> list[str]:
    if classes is not None:
        return list(classes)
    f = _beside(list_path, LABELS_FILE)
    if f is None:
        names = _voc_class_names(list_path)
        if names:
            return names
        raise AnnotationFormatError(list_path, f"no class names: add {LABELS_FILE} (one name per line, line index = "
                                               "label) next to the list, or pass classes=")
    names = [n[0] if len(n) == 1 else " ".join(n) for n in _read_lines(f)]
    if not names:
        raise AnnotationFormatError(f, "no class names")
    return names


def _difficult(list_path: Path, rows: list[list[str]], num_boxes: int) -> np.ndarray:
    f = list_path.with_name(list_path.stem + "_difficult.txt")
    if not f.is_file():
        return np.zeros(num_boxes, dtype=bool)
    flags = []
    for n, (parts, row) in enumerate(zip(_read_lines(f), rows), start=1):
        if parts[0] != row[0] or len(parts) - 1 != (len(row) - 1) // 5:
            raise AnnotationFormatError(f, f"line {n} does not match line {n} of {list_path.name}")
        flags.extend(p == "1" for p in parts[1:])
    if len(flags) != num_boxes:
        raise AnnotationFormatError(f, f"{len(flags)} flags for {num_boxes} boxes of {list_path.name}")
    return np.array(flags, dtype=bool)


def read_torchcv(path: str | Path, split: str | Path | None = None, classes: Sequence[str] | None = None,
                 *, image_sizes: str | Path | None = None, one_based: bool | None = None) -> Annotations:
    """Read a torchcv box list into an :class:`Annotations` table (see the module docstring).

    Parameters
    ----------
    path : str or Path
        A list file, or a folder holding one (or several: pick one with ``split``).
    split : str, optional
        Stem or name of the list inside the folder (e.g. ``"voc07_test"``).
    classes : sequence of str, optional
        Class names in label order (default: ``labels.txt``, or the VOC devkit's class lists).
    image_sizes : str or Path, optional
        json with the image sizes (default: ``image_sizes.json`` beside the list).
    one_based : bool, optional
        Pixel indices count from 1 (VOC) instead of 0 (COCO); default: 1 in a VOC devkit layout.

    Returns
    -------
    Annotations
        One image per line; ``crowd`` holds the difficult flags when a ``*_difficult.txt`` exists.
    """
    list_path = _pick_list(Path(path), split)
    names = _class_names(list_path, classes)
    sizes_path = Path(image_sizes) if image_sizes is not None else _beside(list_path, SIZES_FILE)
    if sizes_path is None:
        raise AnnotationFormatError(list_path, f"no image sizes: the list has none; add {SIZES_FILE} "
                                               "(file name -> [width, height], or a COCO 'images' list) next to it "
                                               "or pass image_sizes=")
    sizes_map = read_image_sizes(sizes_path)
    rows = _read_lines(list_path)
    ids, sizes, boxes, labels, box_image = [], np.empty((len(rows), 2)), [], [], []
    for i, parts in enumerate(rows):
        n = i + 1
        if (len(parts) - 1) % 5:
            raise AnnotationFormatError(list_path, f"line {n}: expected 'file' and groups of 'x1 y1 x2 y2 label'")
        size = sizes_map.get(Path(parts[0]).stem)
        if size is None:
            raise AnnotationFormatError(list_path, f"line {n}: image {parts[0]!r} has no size in {sizes_path}")
        values = _line_values(list_path, n, parts, len(names))
        lab = values[:, 4]
        ids.append(parts[0])
        sizes[i] = size
        boxes.append(values[:, :4])
        labels.append(lab.astype(np.int64))
        box_image.append(np.full(len(values), i, dtype=np.int64))
    xyxy = np.concatenate(boxes) if boxes else np.empty((0, 4))
    if one_based is None:
        one_based = bool(_voc_class_names(list_path))
    xyxy = xyxy + (np.array([-1.0, -1.0, 0.0, 0.0]) if one_based else np.array([0.0, 0.0, 1.0, 1.0]))
    return assemble(list_path, image_ids=ids, image_sizes=sizes, boxes=xyxy,
                    labels=np.concatenate(labels) if labels else np.empty(0, np.int64),
                    box_image=np.concatenate(box_image) if box_image else np.empty(0, np.int64),
                    crowd=_difficult(list_path, rows, len(xyxy)), category_names=names,
                    images_word="the list", categories_word=LABELS_FILE)


def coco_from_torchcv(list_path: str | Path, sizes_path: str | Path, labels_path: str | Path,
                      *, inclusive: bool = True) -> dict[str, list[dict[str, object]]]:
    """A COCO dict from a torchcv list, a COCO ``images`` array file and a class-name file.

    Parameters
    ----------
    list_path : str or Path
        The torchcv list.
    sizes_path : str or Path
        json with a COCO ``images`` array (id, file_name, width, height).
    labels_path : str or Path
        Class names, one per line; category ids are the 0-based line numbers.
    inclusive : bool
        Undo the ``-1`` convention: ``w = x2 - x1 + 1``.

    Returns
    -------
    dict
        ``images`` (every record of ``sizes_path``, also images without boxes), ``annotations``,
        ``categories``.
    """
    list_path, labels_path = Path(list_path), Path(labels_path)
    names = [" ".join(parts) for parts in _read_lines(labels_path)]
    if not names:
        raise AnnotationFormatError(labels_path, "no class names")
    sizes = read_json(sizes_path)
    if not isinstance(sizes, dict) or not isinstance(sizes.get("images"), list):
        raise AnnotationFormatError(sizes_path, "expected an object with an 'images' list")
    images = sizes["images"]
    for i, im in enumerate(images):
        if not (isinstance(im, dict) and isinstance(im.get("file_name"), str) and type(im.get("id")) in (int, str)):
            raise AnnotationFormatError(sizes_path, f"images[{i}] must be an object with a string file_name and "
                                                    f"an integer or string id, got {im!r}"[:300])
    by_name = {im["file_name"]: im["id"] for im in images}
    pad = 1.0 if inclusive else 0.0
    anns = []
    for n, parts in enumerate(_read_lines(list_path), start=1):
        if parts[0] not in by_name:
            raise AnnotationFormatError(list_path, f"line {n}: image {parts[0]!r} has no size record")
        if (len(parts) - 1) % 5:
            raise AnnotationFormatError(list_path, f"line {n}: expected groups of 'x1 y1 x2 y2 label'")
        values = _line_values(list_path, n, parts, len(names))
        for x1, y1, x2, y2, label in values.tolist():
            anns.append({"id": len(anns) + 1, "image_id": by_name[parts[0]], "category_id": int(label),
                         "bbox": [x1, y1, x2 - x1 + pad, y2 - y1 + pad], "iscrowd": 0})
    cats = [{"id": i, "name": name} for i, name in enumerate(names)]
    return {"images": images, "annotations": anns, "categories": cats}


def write_coco_from_torchcv(list_path: str | Path, sizes_path: str | Path, labels_path: str | Path,
                            out: str | Path) -> Path:
    """Write :func:`coco_from_torchcv` to ``out`` and return the path.

    Parameters
    ----------
    list_path, sizes_path, labels_path : str or Path
        As for :func:`coco_from_torchcv`.
    out : str or Path
        The json file to write.
    """
    out = Path(out)
    out.write_text(json.dumps(coco_from_torchcv(list_path, sizes_path, labels_path)), encoding="utf-8")
    return out
