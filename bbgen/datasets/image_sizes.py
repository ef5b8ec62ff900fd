"""``image_sizes.json``: image sizes for annotation formats that do not store them (YOLO, torchcv lists).

Two layouts are read: ``{"<file name or stem>": [width, height], ...}`` or a COCO-style object
``{"images": [{"file_name": ..., "width": ..., "height": ...}, ...]}`` (e.g. the ``images`` array
of an ``instances_*.json``). Keys are reduced to the file stem, so ``000001.jpg`` and
``000001`` name the same image.
"""
from __future__ import annotations

from pathlib import Path

from .coco import read_json
from .errors import AnnotationFormatError

__all__ = ["SIZES_FILE", "read_image_sizes"]

SIZES_FILE = "image_sizes.json"


def read_image_sizes(path: str | Path) -> dict[str, tuple[float, float]]:
    """Image stem -> (width, height) from an ``image_sizes.json`` file.

    Parameters
    ----------
    path : str or Path
        The json file (see the module docstring for the two accepted layouts).

    Returns
    -------
    dict of str to (float, float)

    Raises
    ------
    AnnotationFormatError
        The file is missing, not json, or a size is not two numbers.
    """
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        data = {str(im.get("file_name", "")): [im.get("width"), im.get("height")]
                for im in data["images"] if isinstance(im, dict)}
    if not isinstance(data, dict):
        raise AnnotationFormatError(path, "must map image file name -> [width, height] or hold a COCO 'images' list")
    out = {}
    for k, v in data.items():
        if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(type(x) in (int, float) for x in v)):
            raise AnnotationFormatError(path, f"size of {k!r} must be [width, height], got {v!r}")
        out[Path(k).stem] = (float(v[0]), float(v[1]))
    return out
