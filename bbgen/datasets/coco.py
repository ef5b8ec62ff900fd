"""COCO / LVIS instance json reader (bbox only; segmentation is ignored).

COCO boxes are ``[x, y, w, h]`` in pixels; they become ``[x, y, x + w, y + h]``. ``iscrowd``
(COCO) and ``ignore`` (Detectron-style json) set the ``crowd`` flag. LVIS files are COCO files whose
categories carry a ``frequency`` band ('r', 'c', 'f'); those bands are kept.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import numpy as np

from .annotations import Annotations
from ._table import assemble
from .errors import AnnotationFormatError

__all__ = ["read_coco", "read_json", "is_lvis", "JSONValue"]

#: Parsed JSON: what :func:`read_json` returns.
JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]

_NUM = (int, float)


def read_json(path: str | Path) -> JSONValue:
    """Parse an untrusted json file; every failure becomes :class:`AnnotationFormatError`.

    Parameters
    ----------
    path : str or Path
        The json file.

    Returns
    -------
    JSONValue
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise AnnotationFormatError(path, "file not found") from None
    except IsADirectoryError:
        raise AnnotationFormatError(path, "is a directory, expected a json file") from None
    except OSError as e:
        raise AnnotationFormatError(path, f"cannot read file ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise AnnotationFormatError(
            path, f"not valid JSON (truncated or malformed) at line {e.lineno} column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError:
        raise AnnotationFormatError(path, "not valid JSON: the file is not UTF-8 text") from None
    except RecursionError:
        raise AnnotationFormatError(path, "not valid JSON: nesting is too deep") from None


def is_lvis(data: JSONValue) -> bool:
    """True when a parsed json has LVIS-style categories (a ``frequency`` field).

    Parameters
    ----------
    data : JSONValue
        A parsed json file.
    """
    cats = data.get("categories") if isinstance(data, dict) else None
    return bool(cats) and isinstance(cats, list) and all(isinstance(c, dict) and "frequency" in c for c in cats)


def read_coco(path: str | Path, data: JSONValue = None) -> Annotations:
    """Read a COCO (or LVIS) instances json into an :class:`Annotations` table.

    Unknown image / category ids, wrong types and missing keys raise
    :class:`AnnotationFormatError`; zero/negative-size boxes are dropped and counted.

    Parameters
    ----------
    path : str or Path
        The json file (named in errors).
    data : JSONValue, optional
        The already-parsed json (format detection parses it once); read from ``path`` when ``None``.

    Returns
    -------
    Annotations
    """
    path = Path(path)
    if data is None:
        data = read_json(path)
    if not isinstance(data, dict):
        raise AnnotationFormatError(path, f"top level must be a JSON object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            got = "missing" if key not in data else type(data[key]).__name__
            raise AnnotationFormatError(path, f"key {key!r} must be a list ({got})")

    cat_index, names, freq = _categories(path, data["categories"])
    image_ids, sizes, image_index = _images(path, data["images"])
    boxes, labels, box_image, crowd = _annotations(path, data["annotations"], image_index, cat_index)
    return assemble(path, image_ids=image_ids, image_sizes=sizes, boxes=boxes, labels=labels,
                    box_image=box_image, crowd=crowd, category_names=names, frequency=freq,
                    images_word="'images'", categories_word="'categories'")


def _categories(path: Path, cats: list) -> tuple[dict, list[str], list[str] | None]:
    index: dict[int, int] = {}
    names: list[str] = []
    freq: list[str] = []
    for i, c in enumerate(cats):
        if not isinstance(c, dict):
            raise AnnotationFormatError(path, f"categories[{i}] must be an object, got {type(c).__name__}")
        cid, name = c.get("id"), c.get("name")
        if type(cid) is not int:
            raise AnnotationFormatError(path, f"categories[{i}].id must be an integer, got {cid!r}")
        if not isinstance(name, str):
            raise AnnotationFormatError(path, f"categories[{i}].name must be a string, got {name!r}")
        if cid in index:
            raise AnnotationFormatError(path, f"duplicate category id {cid}")
        index[cid] = i
        names.append(name)
        if "frequency" in c:
            if c["frequency"] not in ("r", "c", "f"):
                raise AnnotationFormatError(
                    path, f"categories[{i}].frequency must be 'r', 'c' or 'f', got {c['frequency']!r}")
            freq.append(c["frequency"])
    has_freq = len(freq) == len(cats) and len(cats) > 0
    return index, names, (freq if has_freq else None)


def _images(path: Path, images: list) -> tuple[list, np.ndarray, dict]:
    ids: list = []
    sizes = np.empty((len(images), 2), dtype=np.float64)
    index: dict = {}
    for i, im in enumerate(images):
        if not isinstance(im, dict):
            raise AnnotationFormatError(path, f"images[{i}] must be an object, got {type(im).__name__}")
        iid, w, h = im.get("id"), im.get("width"), im.get("height")
        if type(iid) not in (int, str):
            raise AnnotationFormatError(path, f"images[{i}].id must be an integer or string, got {iid!r}")
        if type(w) not in _NUM or type(h) not in _NUM or not (w > 0 and h > 0):
            raise AnnotationFormatError(
                path, f"images[{i}] (id {iid!r}) needs positive numeric width/height, got {w!r} x {h!r}")
        if iid in index:
            raise AnnotationFormatError(path, f"duplicate image id {iid!r}")
        index[iid] = i
        ids.append(iid)
        sizes[i] = (w, h)
    return ids, sizes, index


def _annotations(path: Path, anns: list, image_index: dict, cat_index: dict):
    m = len(anns)
    boxes = np.empty((m, 4), dtype=np.float64)
    labels = np.empty(m, dtype=np.int64)
    box_image = np.empty(m, dtype=np.int64)
    crowd = np.zeros(m, dtype=bool)
    for i, a in enumerate(anns):
        if not isinstance(a, dict):
            raise AnnotationFormatError(path, f"annotations[{i}] must be an object, got {type(a).__name__}")
        iid, cid = a.get("image_id"), a.get("category_id")
        if type(iid) not in (int, str):  # as images[].id; a list would be unhashable, True would match 1
            raise AnnotationFormatError(path, f"annotations[{i}].image_id must be an integer or string, got {iid!r}")
        if type(cid) is not int:
            raise AnnotationFormatError(path, f"annotations[{i}].category_id must be an integer, got {cid!r}")
        row = image_index.get(iid)
        if row is None:
            raise AnnotationFormatError(
                path, f"annotations[{i}] refers to unknown image_id {a.get('image_id')!r}")
        lab = cat_index.get(cid)
        if lab is None:
            raise AnnotationFormatError(
                path, f"annotations[{i}] refers to unknown category_id {a.get('category_id')!r}")
        bb = a.get("bbox")
        if (type(bb) is not list or len(bb) != 4 or type(bb[0]) not in _NUM or type(bb[1]) not in _NUM
                or type(bb[2]) not in _NUM or type(bb[3]) not in _NUM):
            raise AnnotationFormatError(path, f"annotations[{i}].bbox must be 4 numbers [x, y, w, h], got {bb!r}")
        x, y, w, h = bb
        boxes[i] = (x, y, x + w, y + h)
        labels[i] = lab
        box_image[i] = row
        flag = a.get("iscrowd", 0) or a.get("ignore", 0)
        if flag not in (0, 1):  # True/False compare equal to 1/0 and are accepted
            raise AnnotationFormatError(path, f"annotations[{i}] has iscrowd/ignore {flag!r}, expected 0 or 1")
        crowd[i] = bool(flag)
    return boxes, labels, box_image, crowd
