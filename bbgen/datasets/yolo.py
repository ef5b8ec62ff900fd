"""YOLO txt reader: one ``<class> <cx> <cy> <w> <h>`` line per box, coordinates relative to the image.

Layouts: ``root/labels/**.txt`` with ``root/images/**`` mirrored (Ultralytics), or label files
next to their images in one directory. Class names come from ``classes=`` or ``classes.txt`` /
``*.names`` / ``data.yaml`` (``names:`` only). Image sizes come from ``root/image_sizes.json``
(``{"<stem>": [w, h]}`` or a COCO-style ``{"images": [{"file_name", "width", "height"}]}``) or from
the image headers (Pillow opens lazily: only the header is read, nothing is decoded).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .annotations import Annotations
from ._table import assemble
from .image_sizes import SIZES_FILE, read_image_sizes
from .errors import AnnotationFormatError

__all__ = ["read_yolo", "image_size", "yolo_class_names"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_NAME_FILES = ("classes.txt", "obj.names", "data.yaml", "dataset.yaml")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file from its header, without decoding pixels.

    Parameters
    ----------
    path : str or Path
        An image file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise AnnotationFormatError(path, "image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise AnnotationFormatError(path, f"cannot read the image header ({e})") from None


def yolo_class_names(root: str | Path) -> list[str]:
    """Class names of a YOLO dataset from ``classes.txt``, ``*.names`` or ``data.yaml``.

    Parameters
    ----------
    root : str or Path
        The YOLO dataset directory.
    """
    root = Path(root)
    candidates = [root / n for n in _NAME_FILES] + sorted(root.glob("*.names"))
    for f in candidates:
        if f.is_file():
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise AnnotationFormatError(f, f"cannot read class names ({e})") from None
            names = _yaml_names(f, text) if f.suffix == ".yaml" else [ln.strip() for ln in text.splitlines()]
            names = [n for n in names if n]
            if not names:
                raise AnnotationFormatError(f, "no class names found")
            return names
    raise AnnotationFormatError(root, "no class names: pass classes= or add classes.txt, *.names or data.yaml")


def _clip(text: str, limit: int = 200) -> str:
    """``repr`` of a line from the file, cut to ``limit`` characters with an ellipsis (a huge line stays readable)."""
    r = repr(text)
    return r if len(r) <= limit else r[:limit] + f"... ({len(text)} characters)"


def _yaml_names(path: Path, text: str) -> list[str]:
    """The ``names:`` entry of a YOLO data.yaml (flow list, block list or index mapping)."""
    m = re.search(r"^names:[ \t]*(.*)$", text, flags=re.M)
    if m is None:
        raise AnnotationFormatError(path, "no 'names:' entry")
    inline = m.group(1).split(" #")[0].strip()
    if inline:
        try:
            value = ast.literal_eval(inline)
        except (ValueError, SyntaxError):
            raise AnnotationFormatError(path, f"cannot parse names: {_clip(inline)}") from None
        items = value.values() if isinstance(value, dict) else value
        if not isinstance(items, (list, tuple, type({}.values()))):
            raise AnnotationFormatError(path, f"names must be a list or mapping, got {_clip(inline)}")
        return [str(v) for v in items]
    block = []
    for ln in text[m.end():].splitlines()[1:]:
        if ln.strip() and not ln.startswith((" ", "\t")):
            break
        item = re.match(r"\s+(?:-\s*|\d+\s*:\s*)(.+)", ln)
        if item:
            block.append(item.group(1).split(" #")[0].strip().strip("'\""))
    return block


def _sizes_file(root: Path) -> dict[str, tuple[float, float]] | None:
    f = root / SIZES_FILE
    return read_image_sizes(f) if f.is_file() else None


def _layout(root: Path) -> tuple[Path, Path]:
    if (root / "labels").is_dir():
        return root / "labels", root / "images"
    return root, root


def read_yolo(root: str | Path, classes: Sequence[str] | None = None) -> Annotations:
    """Read a YOLO label directory into an :class:`Annotations` table (see module docstring).

    Parameters
    ----------
    root : str or Path
        The YOLO dataset directory.
    classes : sequence of str, optional
        Class names in label order (default: from the dataset's name file).

    Returns
    -------
    Annotations
    """
    root = Path(root)
    if not root.is_dir():
        raise AnnotationFormatError(root, "YOLO input must be a directory" if root.exists() else "directory not found")
    names = list(classes) if classes is not None else yolo_class_names(root)
    label_dir, image_dir = _layout(root)
    skip = {"classes.txt", "obj.names"}
    labels = {p.relative_to(label_dir).with_suffix(""): p
              for p in sorted(label_dir.rglob("*.txt")) if p.name not in skip}
    images = {}
    if image_dir.is_dir():
        images = {p.relative_to(image_dir).with_suffix(""): p for p in sorted(image_dir.rglob("*"))
                  if p.suffix.lower() in IMAGE_SUFFIXES}
    keys = sorted(set(labels) | set(images))
    if not keys:
        raise AnnotationFormatError(root, "no label .txt files or images found")
    sizes_map = _sizes_file(root)
    sizes = np.empty((len(keys), 2))
    rows, cls, rel = [], [], []
    for i, key in enumerate(keys):
        if sizes_map is not None and key.name in sizes_map:
            sizes[i] = sizes_map[key.name]
        elif key in images:
            sizes[i] = image_size(images[key])
        else:
            raise AnnotationFormatError(labels[key], "no image and no entry in image_sizes.json for this label file")
        if key in labels:
            c, b = _parse_labels(labels[key], len(names))
            rows.append(np.full(len(c), i))
            cls.append(c)
            rel.append(b)
    rel_boxes = np.concatenate(rel) if rel else np.empty((0, 4))
    box_image = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    wh = sizes[box_image]
    cx, cy, w, h = rel_boxes.T
    boxes = np.stack([(cx - w / 2) * wh[:, 0], (cy - h / 2) * wh[:, 1],
                      (cx + w / 2) * wh[:, 0], (cy + h / 2) * wh[:, 1]], axis=1)
    return assemble(root, image_ids=[str(k) for k in keys], image_sizes=sizes, boxes=boxes,
                    labels=np.concatenate(cls) if cls else np.empty(0, dtype=np.int64),
                    box_image=box_image, crowd=np.zeros(len(boxes), dtype=bool), category_names=names)


def _parse_labels(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ids [K] and relative (cx, cy, w, h) [K, 4] of one label file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationFormatError(path, f"cannot read label file ({e})") from None
    cls, boxes = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise AnnotationFormatError(path, f"line {n}: expected 5 values 'class cx cy w h', got {len(parts)}")
        try:
            c = int(parts[0])
            vals = [float(v) for v in parts[1:]]
        except ValueError:
            raise AnnotationFormatError(path, f"line {n}: not numbers: {line.strip()!r}") from None
        if not 0 <= c < num_classes:
            raise AnnotationFormatError(path, f"line {n}: class id {c} outside [0, {num_classes})")
        cls.append(c)
        boxes.append(vals)
    return np.array(cls, dtype=np.int64), np.array(boxes, dtype=np.float64).reshape(-1, 4)
