"""Shared last step of every reader: validate raw columns, drop degenerate boxes, build the table."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .annotations import Annotations
from .errors import AnnotationFormatError

__all__ = ["assemble"]


def assemble(
    path: str | Path,
    *,
    image_ids: Sequence[int | str] | np.ndarray,
    image_sizes: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    box_image: np.ndarray,
    crowd: np.ndarray,
    category_names: Sequence[str],
    frequency: Sequence[str] | None = None,
    dropped: dict[str, int] | None = None,
    images_word: str = "the image list",
    categories_word: str = "the class list",
) -> Annotations:
    """Check reader output and return an :class:`Annotations` without degenerate boxes.

    Boxes ``[M, 4]`` are xyxy pixels. Non-finite coordinates and boxes with ``x2 <= x1`` or
    ``y2 <= y1`` (zero or negative size) are removed and counted in ``Annotations.dropped``
    under ``"non_finite"`` and ``"zero_or_negative_size"``; every other problem raises
    :class:`AnnotationFormatError` naming ``path``.

    Parameters
    ----------
    path : str or Path
        The source, named in errors.
    image_ids : sequence [N]
        Image identifiers (ints or strings); at least one.
    image_sizes : ndarray [N, 2]
        (width, height) of each image.
    boxes : ndarray [M, 4]
        xyxy pixels.
    labels, box_image : ndarray [M] int
        Category index and image row of each box.
    crowd : ndarray [M] bool
        Crowd / difficult / ignore flags.
    category_names : sequence of str [C]
        At least one.
    frequency : sequence of str [C], optional
        LVIS bands.
    dropped : dict of str to int, optional
        Boxes the reader already dropped, by reason.
    images_word, categories_word : str
        How the file names its image and class lists (used in the errors for empty lists).

    Returns
    -------
    Annotations
    """
    dropped = dict(dropped or {})
    if len(image_ids) == 0:
        raise AnnotationFormatError(path, f"{images_word} is empty: the dataset lists no images, so there is "
                                          "nothing to profile")
    if len(category_names) == 0:
        raise AnnotationFormatError(path, f"{categories_word} is empty: the dataset names no classes, so there "
                                          "is nothing to profile")
    ids = np.asarray(image_ids)
    if ids.dtype.kind not in "iu":
        ids = np.asarray(list(image_ids), dtype=object)
    sizes = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    if len(sizes) != len(ids):
        raise AnnotationFormatError(path, f"{len(ids)} images but {len(sizes)} image sizes")
    bad = ~np.isfinite(sizes).all(axis=1) | (sizes <= 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AnnotationFormatError(
            path, f"image {ids[i]!r} has invalid size (width, height) = {tuple(sizes[i])}; both must be > 0")
    if len(set(ids.tolist())) != len(ids):
        raise AnnotationFormatError(path, "duplicate image ids")

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    box_image = np.asarray(box_image, dtype=np.int64).reshape(-1)
    crowd = np.asarray(crowd, dtype=bool).reshape(-1)

    finite = np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        positive = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    _count(dropped, "non_finite", int((~finite).sum()))
    _count(dropped, "zero_or_negative_size", int((finite & ~positive).sum()))
    keep = finite & positive

    names = tuple(str(n) for n in category_names)
    freq = None if frequency is None else tuple(str(f) for f in frequency)
    if freq is not None and len(freq) != len(names):
        raise AnnotationFormatError(path, f"{len(freq)} frequency bands for {len(names)} categories")
    return Annotations(
        image_ids=ids,
        image_sizes=sizes,
        boxes=boxes[keep],
        labels=labels[keep],
        box_image=box_image[keep],
        crowd=crowd[keep],
        category_names=names,
        frequency=freq,
        source=str(path),
        dropped=dropped,
    )


def _count(dropped: dict[str, int], reason: str, n: int) -> None:
    if n:
        dropped[reason] = dropped.get(reason, 0) + n
