"""LRP Error (thesis Ch. 5): the metric, its components, optimal LRP and LRP-optimal thresholds.

* :func:`lrp_components` — Eq. 5.2–5.6 from counts: LRP, and its localisation, FP and FN components.
* :func:`optimal_lrp` — oLRP (Eq. 5.7) per class, its components and the LRP-optimal score
  threshold s* (§5.5.3), from detections in class order.
* :class:`LRPCurve` — LRP and components of every class at any score threshold (hard decisions,
  the s-LRP curve of Fig. 5.3c); :func:`mean_sweep` — their class means over a threshold grid.

Two variants, because the authors' code (kemaloksuz/LRP-Error, ``cocoeval.py``) and the thesis text
differ in two corners:

``variant="code"`` (default, as the authors' cocoapi fork)
    LRP is evaluated after every detection in score order, so between detections that share a
    score too; the first minimum wins (the highest threshold). A class without (non-ignored)
    ground truth is left out (nan) of oLRP and of the means.
``variant="paper"``
    Thresholds are scores (Eq. 5.7: a threshold keeps all detections with that score), so LRP is
    evaluated only after the last of tied detections. A class with detections but no ground truth
    has oLRP = 1 (every detection is an FP; FP component 1, localisation and FN undefined) and
    counts in the means.

Both: a class with ground truth but no true positive has oLRP = 1, FN component 1, localisation and
FP components undefined (nan) and no threshold (nan), as in the authors' code. Undefined components
are left out when averaging over classes (§5.5.2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .segments import segment_bounds, segment_cumsum

__all__ = ["check_tau", "lrp_components", "optimal_lrp", "mean_sweep", "LRPCurve", "OptimalLRP", "VARIANTS"]

VARIANTS = ("code", "paper")


def lrp_components(n_tp: ArrayLike, n_fp: ArrayLike, n_fn: ArrayLike, loc_error: ArrayLike, tau: float = 0.5) -> dict[str, np.ndarray]:
    """LRP Error and its components from counts (thesis Eq. 5.2–5.6).

    Parameters
    ----------
    n_tp, n_fp, n_fn : array_like [...]
        Numbers of true positives, false positives and false negatives.
    loc_error : array_like [...]
        Sum over true positives of ``1 - IoU`` (``1 - lq``).
    tau : float
        TP validation threshold τ (a TP has IoU >= τ).

    Returns
    -------
    dict with ``lrp`` (Eq. 5.2; nan when there is nothing to evaluate), ``loc`` (Eq. 5.4, nan without
    TP), ``fp`` (Eq. 5.5, nan without detections) and ``fn`` (Eq. 5.6, nan without ground truth).

    Raises
    ------
    ValueError
        ``tau`` outside (0, 1); a count that is negative, NaN or inf; ``loc_error > n_tp``; shapes that do
        not broadcast.
    """
    tau = check_tau(tau)
    tp, fp, fn, loc = (_counts(name, x) for name, x in (("n_tp", n_tp), ("n_fp", n_fp), ("n_fn", n_fn),
                                                         ("loc_error", loc_error)))
    try:
        tp, fp, fn, loc = np.broadcast_arrays(tp, fp, fn, loc)
    except ValueError:
        raise ValueError(f"n_tp, n_fp, n_fn and loc_error must broadcast, got shapes {tp.shape}, {fp.shape}, "
                         f"{fn.shape} and {loc.shape}") from None
    if (loc > tp).any():  # each TP adds 1 - IoU <= 1 - tau < 1
        i = int(np.flatnonzero((loc > tp).reshape(-1))[0])
        raise ValueError(f"loc_error must not exceed n_tp (it sums 1 - IoU < 1 over the TPs), got loc_error = "
                         f"{loc.reshape(-1)[i]} for n_tp = {tp.reshape(-1)[i]}")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = tp + fp + fn
        return {
            "lrp": np.where(z > 0, (loc / (1.0 - tau) + fp + fn) / np.where(z > 0, z, 1), np.nan),
            "loc": np.where(tp > 0, loc / np.where(tp > 0, tp, 1), np.nan),
            "fp": np.where(tp + fp > 0, fp / np.where(tp + fp > 0, tp + fp, 1), np.nan),
            "fn": np.where(tp + fn > 0, fn / np.where(tp + fn > 0, tp + fn, 1), np.nan),
        }


def check_tau(tau: object) -> float:
    """The TP validation threshold τ as ``float``: a real number in (0, 1) (``ValueError`` naming ``tau``).

    Parameters
    ----------
    tau : float
        The value to check (``bool`` and strings are refused).
    """
    if isinstance(tau, (bool, np.bool_)) or not isinstance(tau, (int, float, np.integer, np.floating)) \
            or not 0 < tau < 1:
        raise ValueError(f"tau must lie in (0, 1), got {tau!r}")
    return float(tau)


def _counts(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as float64, refusing non-numbers, NaN/inf and negative values with ``ValueError`` naming ``name``."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold real numbers, got {value!r}"[:300]) from None
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and >= 0, got {a[bad].reshape(-1)[0]}")
    return a


@dataclass(frozen=True)
class OptimalLRP:
    """oLRP per class (Eq. 5.7) with its components and LRP-optimal thresholds; nan = undefined.

    Attributes
    ----------
    olrp, loc, fp, fn : ndarray [K]
    threshold : ndarray [K]
        s*: keep the detections of the class with score >= s*.
    """

    olrp: np.ndarray
    loc: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    threshold: np.ndarray


@dataclass(frozen=True)
class LRPCurve:
    """Cumulative counts of detections in class order, enough to evaluate LRP at any threshold.

    Attributes
    ----------
    labels, scores : ndarray [D]
        Class (non-decreasing) and score (descending within a class).
    tp, fp, loc : ndarray [D]
        Cumulative true positives, false positives and ``1 - IoU`` of true positives within the class.
    num_gt : ndarray [K]
    tau : float
    """

    labels: np.ndarray
    scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    loc: np.ndarray
    num_gt: np.ndarray
    tau: float

    def at(self, thresholds: ArrayLike) -> dict[str, np.ndarray]:
        """LRP components per class when keeping detections with score >= threshold.

        Parameters
        ----------
        thresholds : float or array_like [K]
            One threshold for all classes or one per class (nan or +inf keeps nothing).

        Returns
        -------
        dict of ndarray [K]: ``lrp, loc, fp, fn`` (see :func:`lrp_components`), ``n_tp, n_fp, n_fn``.
        """
        k = len(self.num_gt)
        s = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (k,))
        starts, ends = segment_bounds(self.labels, k)
        n = np.zeros(k, dtype=np.int64)
        for c in range(k):
            if not np.isnan(s[c]):
                n[c] = np.searchsorted(-self.scores[starts[c]:ends[c]], -s[c], "right")
        last = np.clip(starts + n - 1, 0, None)
        tp, fp, loc = np.zeros(k), np.zeros(k), np.zeros(k)
        kept = n > 0
        tp[kept], fp[kept], loc[kept] = self.tp[last[kept]], self.fp[last[kept]], self.loc[last[kept]]
        out = lrp_components(tp, fp, self.num_gt - tp, loc, self.tau)
        out.update(n_tp=tp, n_fp=fp, n_fn=self.num_gt - tp)
        return out


def mean_sweep(curve: LRPCurve, thresholds: ArrayLike | None = None) -> dict[str, list]:
    """Class means of LRP and its components at each score threshold (undefined values left out).

    Parameters
    ----------
    curve : LRPCurve
    thresholds : array_like [S], optional
        Score thresholds (default 0, 0.01, ..., 1).

    Returns
    -------
    dict of lists [S]: ``threshold, lrp, loc, fp, fn`` (None where no class has a defined value).
    """
    ts = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    out: dict[str, list] = {"threshold": ts.tolist(), "lrp": [], "loc": [], "fp": [], "fn": []}
    for t in ts:
        comp = curve.at(t)
        for name in ("lrp", "loc", "fp", "fn"):
            v = comp[name][~np.isnan(comp[name])]
            out[name].append(float(v.mean()) if v.size else None)
    return out


def optimal_lrp(tps: np.ndarray, fps: np.ndarray, ious: np.ndarray, sorted_labels: np.ndarray,
                scores: np.ndarray, num_gt: np.ndarray, tau: float = 0.5,
                variant: str = "code") -> tuple[OptimalLRP, LRPCurve]:
    """oLRP, its components and the LRP-optimal thresholds of every class (thesis §5.5.3).

    Parameters
    ----------
    tps, fps : ndarray [D] bool
        True / false positive flags at IoU threshold τ, detections in class order.
    ious : ndarray [D]
        IoU of each true positive with its ground truth (ignored elsewhere).
    sorted_labels : ndarray [D] int
    scores : ndarray [D]
        Scores in the same order (descending within a class).
    num_gt : ndarray [K]
        Non-ignored ground truth per class.
    tau : float
    variant : {"code", "paper"}
        See the module docstring.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    k = len(num_gt)
    starts, ends = segment_bounds(sorted_labels, k)
    run_start = starts[sorted_labels] if len(sorted_labels) else np.zeros(0, np.int64)
    tp = segment_cumsum(tps, run_start)
    fp = segment_cumsum(fps, run_start)
    loc = segment_cumsum(np.where(tps, 1.0 - ious, 0.0), run_start)
    curve = LRPCurve(sorted_labels, scores, tp, fp, loc, num_gt.astype(np.float64), float(tau))
    gt_of = num_gt[sorted_labels].astype(np.float64)
    comp = lrp_components(tp, fp, gt_of - tp, loc, tau)
    lrps = comp["lrp"]
    candidate = gt_of > 0
    if variant == "paper" and len(scores):
        last_of_tie = np.r_[(scores[1:] != scores[:-1]) | (sorted_labels[1:] != sorted_labels[:-1]), True]
        candidate &= last_of_tie
    nan = np.full(k, np.nan)
    res = {name: nan.copy() for name in ("olrp", "loc", "fp", "fn", "threshold")}
    has_gt = num_gt > 0
    res["olrp"][has_gt], res["fn"][has_gt] = 1.0, 1.0
    any_tp = np.zeros(k, bool)
    nonempty = ends > starts
    any_tp[nonempty] = tp[ends[nonempty] - 1] > 0
    solve = has_gt & any_tp
    if solve.any():
        masked = np.where(candidate, lrps, np.inf)
        seg_min = np.full(k, np.inf)
        seg_min[nonempty] = np.minimum.reduceat(masked, starts[nonempty])
        hit = np.flatnonzero(masked == seg_min[sorted_labels])
        cls, first = np.unique(sorted_labels[hit], return_index=True)
        best = np.full(k, -1)
        best[cls] = hit[first]
        idx = best[solve]
        res["olrp"][solve] = lrps[idx]
        res["loc"][solve] = comp["loc"][idx]
        res["fp"][solve] = comp["fp"][idx]
        res["fn"][solve] = comp["fn"][idx]
        res["threshold"][solve] = scores[idx]
    if variant == "paper":
        dets_no_gt = ~has_gt & nonempty
        dets_no_gt[dets_no_gt] = fp[ends[dets_no_gt] - 1] > 0
        res["olrp"][dets_no_gt], res["fp"][dets_no_gt] = 1.0, 1.0
    return OptimalLRP(**res), curve
