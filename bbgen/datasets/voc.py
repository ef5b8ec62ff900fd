"""PASCAL VOC xml reader (one xml per image, parsed with defusedxml).

Layouts accepted: ``root/Annotations/*.xml`` (or ``annotations/``; optionally with ``root/ImageSets/Main/<split>.txt``)
or a plain directory of xml files. ``<bndbox>`` values are taken as continuous pixel coordinates
``[xmin, ymin, xmax, ymax]``, so a box with ``xmin == xmax`` has zero width and is dropped and counted.
``<difficult>1</difficult>`` sets the ``crowd`` (ignore) flag.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import defusedxml
import defusedxml.ElementTree as DET
import numpy as np

from .annotations import Annotations
from ._table import assemble
from .errors import AnnotationFormatError

__all__ = ["read_voc", "voc_xml_files"]


def voc_xml_files(root: str | Path, split: str | Path | None = None) -> list[Path]:
    """The xml files of a VOC directory, in list order (``split``) or sorted by name.

    Parameters
    ----------
    root : str or Path
        VOC directory (``Annotations/`` or ``annotations/`` inside it, or the xml files themselves).
    split : str or Path, optional
        A name looked up in ``root/ImageSets/Main/<split>.txt`` or a path to such a list (one image
        id per line; CRLF and trailing ``-1/1`` flag columns are tolerated).

    Returns
    -------
    list of Path
    """
    root = Path(root)
    if not root.is_dir():
        raise AnnotationFormatError(root, "VOC input must be a directory of xml files" if root.exists()
                                    else "directory not found")
    ann_dir = next((root / d for d in ("Annotations", "annotations") if (root / d).is_dir()), root)
    if split is None:
        files = sorted(ann_dir.glob("*.xml"))
        if not files:
            raise AnnotationFormatError(root, "no .xml annotation files found")
        return files
    list_path = Path(split)
    if not list_path.is_file():
        list_path = root / "ImageSets" / "Main" / f"{split}.txt"
    try:
        lines = list_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AnnotationFormatError(list_path, f"split list {str(split)!r} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationFormatError(list_path, f"cannot read split list ({e})") from None
    ids = [ln.split()[0] for ln in lines if ln.strip()]
    if not ids:
        raise AnnotationFormatError(list_path, "split list is empty")
    files = [ann_dir / f"{i}.xml" for i in ids]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise AnnotationFormatError(missing[0], f"listed in {list_path.name} but missing "
                                                f"({len(missing)} missing in total)")
    return files


def read_voc(root: str | Path, split: str | Path | None = None,
             classes: Sequence[str] | None = None) -> Annotations:
    """Read a VOC annotation directory into an :class:`Annotations` table.

    Parameters
    ----------
    root : str or Path
        VOC directory.
    split : str or Path, optional
        Image-id list (see :func:`voc_xml_files`).
    classes : sequence of str, optional
        Fixes the category order (an object of another class is an error); by default the sorted
        set of names found is used (alphabetical, like the VOC devkit's 20 classes).

    Returns
    -------
    Annotations
    """
    files = voc_xml_files(root, split)
    ids, sizes, objs = [], np.empty((len(files), 2)), []
    for i, f in enumerate(files):
        size, objects = _parse(f)
        ids.append(f.stem)
        sizes[i] = size
        objs.extend((i, *o) for o in objects)
    if not objs and classes is None:
        raise AnnotationFormatError(root, f"none of the {len(files)} .xml files has an <object>: no boxes and no "
                                          "class names to profile (pass classes= to profile an empty dataset)")
    names = sorted({o[1] for o in objs}) if classes is None else list(classes)
    index = {n: k for k, n in enumerate(names)}
    unknown = [(files[o[0]], o[1]) for o in objs if o[1] not in index]
    if unknown:
        raise AnnotationFormatError(unknown[0][0], f"object class {unknown[0][1]!r} is not in the classes= list "
                                                        f"{names!r}")
    return assemble(
        root,
        image_ids=ids,
        image_sizes=sizes,
        boxes=np.array([o[3] for o in objs], dtype=np.float64).reshape(-1, 4),
        labels=np.array([index[o[1]] for o in objs], dtype=np.int64),
        box_image=np.array([o[0] for o in objs], dtype=np.int64),
        crowd=np.array([o[2] for o in objs], dtype=bool),
        category_names=names,
    )


def _parse(path: Path) -> tuple[tuple[float, float], list[tuple[str, bool, tuple[float, ...]]]]:
    """(width, height) and [(name, difficult, (xmin, ymin, xmax, ymax))] of one VOC xml."""
    try:
        root = DET.parse(path).getroot()
    except defusedxml.DefusedXmlException as e:
        raise AnnotationFormatError(path, f"unsafe XML rejected ({type(e).__name__}: DTDs/entities are not allowed)") \
            from None
    except ET.ParseError as e:
        raise AnnotationFormatError(path, f"malformed XML ({e})") from None
    except FileNotFoundError:
        raise AnnotationFormatError(path, "file not found") from None
    except OSError as e:
        raise AnnotationFormatError(path, f"cannot read file ({e.strerror or e})") from None
    if root.tag != "annotation":
        raise AnnotationFormatError(path, f"root element must be <annotation>, got <{root.tag}>")
    size = (_number(path, root, "size/width"), _number(path, root, "size/height"))
    if not (size[0] > 0 and size[1] > 0):
        raise AnnotationFormatError(path, f"<size> must have positive width and height, got {size}")
    objects = []
    for k, obj in enumerate(root.findall("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise AnnotationFormatError(path, f"object #{k} has no <name>")
        diff = (obj.findtext("difficult") or "0").strip()
        if diff not in ("0", "1"):
            raise AnnotationFormatError(path, f"object #{k} has <difficult>{diff}</difficult>, expected 0 or 1")
        box = tuple(_number(path, obj, f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax"))
        objects.append((name, diff == "1", box))
    return size, objects


def _number(path: Path, node: ET.Element, tag: str) -> float:
    text = node.findtext(tag)
    if text is None:
        raise AnnotationFormatError(path, f"missing <{tag}>")
    try:
        return float(text.strip())
    except ValueError:
        raise AnnotationFormatError(path, f"<{tag}> must be a number, got {text.strip()!r}") from None
