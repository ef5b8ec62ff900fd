"""Per-class runs of score-sorted detections: the order both AP and LRP accumulate in.

pycocotools concatenates, for one category, the detections of every image (images in sorted id
order, each image's detections by descending score) and then sorts stably by descending score.
:func:`class_order` reproduces that order for all categories at once; :func:`segment_cumsum` is a
cumulative sum that restarts at every class.
"""
from __future__ import annotations

import numpy as np

__all__ = ["class_order", "segment_bounds", "segment_cumsum"]


def class_order(labels: np.ndarray, scores: np.ndarray, image_order: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Indices sorting detections by (label, score descending, image order, rank in the image).

    Parameters
    ----------
    labels : ndarray [D] int
    scores : ndarray [D] float
    image_order : ndarray [D] int
        Position of each detection's image among the sorted image ids.
    rank : ndarray [D] int
        Rank by score within the image and category.
    """
    return np.lexsort((rank, image_order, -scores, labels))


def segment_bounds(sorted_labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``starts [K], ends [K]``: the run ``[start, end)`` of each class in label-sorted rows.

    Parameters
    ----------
    sorted_labels : ndarray [D] int
        Non-decreasing class indices.
    num_classes : int
    """
    k = np.arange(num_classes)
    return np.searchsorted(sorted_labels, k, "left"), np.searchsorted(sorted_labels, k, "right")


def segment_cumsum(x: np.ndarray, run_start: np.ndarray) -> np.ndarray:
    """Cumulative sum along the last axis that restarts at every run.

    Parameters
    ----------
    x : ndarray [..., D]
    run_start : ndarray [D] int
        Index of the first element of the run each element belongs to.
    """
    c = np.cumsum(x, axis=-1, dtype=np.float64)
    before = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c[..., :-1]], axis=-1)
    return c - before[..., run_start]
