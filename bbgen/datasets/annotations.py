"""The columnar annotation table every reader produces and every profiler consumes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Annotations", "check_annotations"]


@dataclass(frozen=True)
class Annotations:
    """Columnar object-detection annotations (numpy arrays, one row per image / per box).

    Parameters
    ----------
    image_ids : ndarray [N]
        Dataset image identifiers (int64, or object dtype for string ids).
    image_sizes : ndarray [N, 2] float64
        (width, height) of each image in pixels.
    boxes : ndarray [M, 4] float64
        ``[x1, y1, x2, y2]`` in pixels.
    labels : ndarray [M] int64
        Index into ``category_names``.
    box_image : ndarray [M] int64
        Row of ``image_ids`` each box belongs to.
    crowd : ndarray [M] bool
        Crowd / difficult / ignore flag.
    category_names : tuple[str, ...]
        Class names; ``labels`` index into it.
    frequency : tuple[str, ...] | None
        LVIS frequency band per category ('r', 'c', 'f') when known.
    source : str
        Where the table came from (path or "synthetic(...)"), shown in reports.
    dropped : dict[str, int]
        Counts of boxes the reader rejected, by reason (e.g. "zero_or_negative_size").
    """

    image_ids: np.ndarray
    image_sizes: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    box_image: np.ndarray
    crowd: np.ndarray
    category_names: tuple[str, ...]
    frequency: tuple[str, ...] | None = None
    source: str = ""
    dropped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m = len(self.image_ids), len(self.boxes)
        if self.image_sizes.shape != (n, 2):
            raise ValueError(f"image_sizes must have shape ({n}, 2), got {self.image_sizes.shape}")
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (M, 4), got {self.boxes.shape}")
        for name in ("labels", "box_image", "crowd"):
            arr = getattr(self, name)
            if arr.shape != (m,):
                raise ValueError(f"{name} must have shape ({m},), got {arr.shape}")
        if m and (self.box_image.min() < 0 or self.box_image.max() >= n):
            raise ValueError("box_image holds an index outside the image table")
        if m and (self.labels.min() < 0 or self.labels.max() >= len(self.category_names)):
            raise ValueError("labels hold an index outside category_names")

    @property
    def num_images(self) -> int:
        """Number of images N."""
        return len(self.image_ids)

    @property
    def num_boxes(self) -> int:
        """Number of boxes M."""
        return len(self.boxes)

    @property
    def num_classes(self) -> int:
        """Number of categories C."""
        return len(self.category_names)


def check_annotations(value: object, name: str = "ann") -> Annotations:
    """Return ``value`` if it is an :class:`Annotations` table, else raise ``TypeError`` naming ``name``.

    Parameters
    ----------
    value : object
        What the caller passed.
    name : str
        Argument name used in the error message.

    Returns
    -------
    Annotations
    """
    if not isinstance(value, Annotations):
        raise TypeError(f"{name} must be bbgen.datasets.Annotations (from bbgen.datasets.load or synthetic), "
                        f"got {type(value).__name__}")
    return value
