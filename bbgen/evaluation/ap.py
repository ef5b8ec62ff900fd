"""COCO-style precision/recall accumulation (AP, AR) from the same matches that LRP uses.

For each class the detections are in :func:`~.segments.class_order`; precision is made monotone
(interpolated: the maximum precision at any larger recall, thesis §5.3.1) and read at the recall
thresholds with a left search, exactly as pycocotools' ``accumulate`` does; AP is the mean over
recall thresholds (and IoU thresholds, classes for the summary). Classes without non-ignored
ground truth get -1 (left out of means), like pycocotools.
"""
from __future__ import annotations

import numpy as np

from .segments import segment_bounds, segment_cumsum

__all__ = ["precision_recall"]


def precision_recall(tps: np.ndarray, fps: np.ndarray, sorted_labels: np.ndarray, num_gt: np.ndarray,
                     rec_thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision at recall thresholds and final recall per class.

    Parameters
    ----------
    tps, fps : ndarray [T, D] bool
        True / false positive flags per IoU threshold of detections in class order (ignored
        detections are neither).
    sorted_labels : ndarray [D] int
        Class of each detection (non-decreasing).
    num_gt : ndarray [K] int
        Non-ignored ground truth per class.
    rec_thresholds : ndarray [R]

    Returns
    -------
    precision : ndarray [T, R, K]  (-1 for classes without ground truth)
    recall : ndarray [T, K]
    """
    n_t, n_d = tps.shape
    k = len(num_gt)
    rec = np.asarray(rec_thresholds, dtype=np.float64)
    precision = -np.ones((n_t, len(rec), k))
    recall = -np.ones((n_t, k))
    starts, ends = segment_bounds(sorted_labels, k)
    has_gt = num_gt > 0
    run_start = starts[sorted_labels]
    tp = segment_cumsum(tps, run_start)
    fp = segment_cumsum(fps, run_start)
    denom = num_gt[sorted_labels].astype(np.float64)
    rc = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
    pr = tp / (tp + fp + np.spacing(1))
    for c in np.flatnonzero(has_gt & (ends > starts)):
        s, e = starts[c], ends[c]
        # interpolation: the maximum precision at any larger recall (running maximum from the right)
        p = np.maximum.accumulate(pr[:, s:e][:, ::-1], axis=1)[:, ::-1]
        for t in range(n_t):
            pos = np.searchsorted(rc[t, s:e], rec, "left")
            precision[t, :, c] = np.where(pos < e - s, p[t, np.minimum(pos, e - s - 1)], 0.0)
        recall[:, c] = rc[:, e - 1]
    empty = has_gt & (ends == starts)
    precision[:, :, empty] = 0.0
    recall[:, empty] = 0.0
    return precision, recall
