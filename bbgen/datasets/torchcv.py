"""Convert a torchcv box list (``file x1 y1 x2 y2 label ...``) plus image sizes into COCO json.

This is how the COCO val2017 boxes in ``shared/data/coco2017_val_torchcv`` (whose corners follow
``x2 = x + w - 1``) become an ``instances_val2017``-style file that :func:`bbgen.datasets.load` reads.
"""
from __future__ import annotations

import json
from pathlib import Path

from .coco import read_json
from .errors import AnnotationFormatError

__all__ = ["coco_from_torchcv", "write_coco_from_torchcv"]


def coco_from_torchcv(list_path: str | Path, sizes_path: str | Path, labels_path: str | Path,
                      *, inclusive: bool = True) -> dict:
    """A COCO dict from a torchcv list, a COCO ``images`` array file and a class-name file.

    ``inclusive=True`` undoes the ``-1`` convention: ``w = x2 - x1 + 1``. Category ids are the
    0-based line numbers of ``labels_path``. Images without boxes keep their size record.
    """
    names = [ln.strip() for ln in Path(labels_path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    sizes = read_json(sizes_path)
    if not isinstance(sizes, dict) or not isinstance(sizes.get("images"), list):
        raise AnnotationFormatError(sizes_path, "expected an object with an 'images' list")
    images = sizes["images"]
    by_name = {im["file_name"]: im["id"] for im in images}
    pad = 1.0 if inclusive else 0.0
    anns = []
    for n, line in enumerate(Path(list_path).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] not in by_name:
            raise AnnotationFormatError(list_path, f"line {n}: image {parts[0]!r} has no size record")
        if (len(parts) - 1) % 5:
            raise AnnotationFormatError(list_path, f"line {n}: expected groups of 'x1 y1 x2 y2 label'")
        for k in range(1, len(parts), 5):
            x1, y1, x2, y2 = (float(v) for v in parts[k:k + 4])
            anns.append({"id": len(anns) + 1, "image_id": by_name[parts[0]], "category_id": int(parts[k + 4]),
                         "bbox": [x1, y1, x2 - x1 + pad, y2 - y1 + pad], "iscrowd": 0})
    cats = [{"id": i, "name": name} for i, name in enumerate(names)]
    return {"images": images, "annotations": anns, "categories": cats}


def write_coco_from_torchcv(list_path: str | Path, sizes_path: str | Path, labels_path: str | Path,
                            out: str | Path) -> Path:
    """Write :func:`coco_from_torchcv` to ``out`` and return the path."""
    out = Path(out)
    out.write_text(json.dumps(coco_from_torchcv(list_path, sizes_path, labels_path)), encoding="utf-8")
    return out
