"""``evaluate_lrp``: LRP Error (thesis Ch. 5) and COCO-style AP of a detector from one matching.

The result holds COCO's precision/recall arrays, oLRP with its components and the LRP-optimal
thresholds per class, area range and max-detections setting, the s-LRP curve of every class, and
the summary numbers (AP, AP50, ..., moLRP and its components).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .ap import precision_recall
from .io import DetectionsLike, GroundTruthLike, load_detections, load_ground_truth
from .lrp import VARIANTS, LRPCurve, check_tau, optimal_lrp
from .matching import match_detections
from .segments import class_order

__all__ = ["evaluate_lrp", "LRPResult", "COCO_AREA_RANGES", "COCO_IOU_THRESHOLDS", "COCO_REC_THRESHOLDS"]

#: pycocotools' defaults.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
COCO_REC_THRESHOLDS = np.linspace(0.0, 1.0, 101)
COCO_AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2),
                    "large": (96.0 ** 2, 1e10)}


@dataclass(frozen=True)
class LRPResult:
    """Everything :func:`evaluate_lrp` measured. Arrays index ``[K classes, A area ranges, M max-dets]``.

    Attributes
    ----------
    category_ids, category_names : tuple
    iou_thresholds : ndarray [T]
    rec_thresholds : ndarray [R]
    area_names : tuple[str, ...] [A]
    max_dets : tuple[int, ...] [M]
    precision : ndarray [T, R, K, A, M]
        Interpolated precision (-1: class without ground truth), as pycocotools.
    recall : ndarray [T, K, A, M]
    olrp, olrp_loc, olrp_fp, olrp_fn, lrp_threshold : ndarray [K, A, M]
        oLRP (Eq. 5.7), its components and the LRP-optimal thresholds s* (nan: undefined).
    curve : LRPCurve
        Class-ordered cumulative counts for area "all" and the largest max-dets (hard decisions).
    tau : float
    variant : str
    stats : dict[str, float]
        Summary: AP, AP50, AP75, APs, APm, APl, AR@m, ARs, ARm, ARl (COCO), moLRP, moLRP_loc,
        moLRP_fp, moLRP_fn (means over classes of the defined values; area "all", largest max-dets).
    """

    category_ids: tuple
    category_names: tuple
    iou_thresholds: np.ndarray
    rec_thresholds: np.ndarray
    area_names: tuple
    max_dets: tuple
    precision: np.ndarray
    recall: np.ndarray
    olrp: np.ndarray
    olrp_loc: np.ndarray
    olrp_fp: np.ndarray
    olrp_fn: np.ndarray
    lrp_threshold: np.ndarray
    curve: LRPCurve
    tau: float
    variant: str
    stats: dict = field(default_factory=dict)

    def per_class(self, area: str = "all", max_det: int | None = None) -> list[dict[str, object]]:
        """One row per class: id, name, AP, oLRP and components, LRP-optimal threshold (nan -> None).

        Parameters
        ----------
        area : str
            Name of the area range.
        max_det : int, optional
            One of ``max_dets`` (default the largest).
        """
        a, m = self.area_names.index(area), (len(self.max_dets) - 1 if max_det is None
                                               else self.max_dets.index(max_det))
        prec = self.precision[:, :, :, a, m]
        rows = []
        for k, (cid, name) in enumerate(zip(self.category_ids, self.category_names)):
            p = prec[:, :, k]
            rows.append({"category_id": cid, "name": name,
                         "AP": _num(p.mean()) if (p > -1).all() else None,
                         "oLRP": _num(self.olrp[k, a, m]), "oLRP_loc": _num(self.olrp_loc[k, a, m]),
                         "oLRP_fp": _num(self.olrp_fp[k, a, m]), "oLRP_fn": _num(self.olrp_fn[k, a, m]),
                         "lrp_threshold": _num(self.lrp_threshold[k, a, m])})
        return rows

    def thresholds(self) -> dict:
        """LRP-optimal threshold per category id (area "all", largest max-dets); None when undefined."""
        return {cid: _num(t) for cid, t in zip(self.category_ids, self.lrp_threshold[:, 0, -1])}

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary: settings, stats and the per-class table."""
        return {"tau": self.tau, "variant": self.variant, "iou_thresholds": self.iou_thresholds.tolist(),
                "area_ranges": list(self.area_names), "max_dets": list(self.max_dets),
                "stats": {k: _num(v) for k, v in self.stats.items()}, "per_class": self.per_class()}


def _num(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def evaluate_lrp(
    ground_truth: GroundTruthLike,
    detections: DetectionsLike,
    *,
    tau: float = 0.5,
    iou_thresholds: Sequence[float] | None = None,
    area_ranges: Mapping[str, tuple[float, float]] | None = None,
    max_dets: Sequence[int] = (1, 10, 100),
    rec_thresholds: Sequence[float] | None = None,
    variant: str = "code",
    category_ids: Sequence | None = None,
    progress: bool = False,
) -> LRPResult:
    """Evaluate detections with LRP Error (thesis Ch. 5) and COCO-style AP from the same matching.

    Parameters
    ----------
    ground_truth : Annotations | str | Path | dict | GroundTruth
        A bbgen annotation table or a COCO instances json (path or dict); crowd/ignore boxes are
        never false negatives and may match any number of detections (COCO's rule).
    detections : str | Path | list[dict] | dict | Detections
        COCO results (json path or list of ``{"image_id", "category_id", "bbox": xywh, "score"}``)
        or a dict of arrays ``image_ids [D], category_ids [D], boxes [D, 4] (xyxy), scores [D]``.
    tau : float
        TP validation threshold τ of LRP (Eq. 5.2), 0.5 by default.
    iou_thresholds : sequence of float [T], optional
        IoU thresholds of AP (default COCO's 0.50:0.05:0.95).
    area_ranges : mapping name -> (lo, hi), optional
        Default COCO's all / small / medium / large; the first is used for the summary and curve.
    max_dets : sequence of int [M]
        Detections kept per image *and category* (COCO's rule); the largest is used for LRP stats.
    rec_thresholds : sequence of float [R], optional
        Recall thresholds of AP (default 0:0.01:1).
    variant : {"code", "paper"}
        Where the authors' code and the thesis differ (see :mod:`bbgen.evaluation.lrp`).
    category_ids : sequence, optional
        With an ``Annotations`` table only: the id of each label in ``detections``.
    progress : bool
        Show tqdm progress bars.

    Returns
    -------
    LRPResult

    Raises
    ------
    ValueError
        Malformed or mismatched input: empty results, unknown image / category ids, NaN boxes, bad
        parameters.
    """
    tau = check_tau(tau)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    ious = _thresholds("iou_thresholds", COCO_IOU_THRESHOLDS if iou_thresholds is None else iou_thresholds, 0)
    recs = _thresholds("rec_thresholds", COCO_REC_THRESHOLDS if rec_thresholds is None else rec_thresholds, -1)
    areas = _area_ranges(COCO_AREA_RANGES if area_ranges is None else area_ranges)
    mds = _max_dets(max_dets)
    gt = load_ground_truth(ground_truth, category_ids)
    det = load_detections(detections, gt)

    tau_i = np.flatnonzero(np.isclose(ious, tau))
    thr_all = ious if len(tau_i) else np.r_[ious, tau]
    tau_i = int(tau_i[0]) if len(tau_i) else len(ious)
    m = match_detections(gt, det, thr_all, np.array(list(areas.values())), mds[-1], progress)
    labels = det.labels[m.det_rows]
    scores = det.scores[m.det_rows]
    image_rank = np.argsort(np.argsort(gt.image_ids, kind="stable"), kind="stable")
    order = class_order(labels, scores, image_rank[det.image_index[m.det_rows]], m.det_rank)
    k, n_a, n_m, n_t = gt.num_classes, len(areas), len(mds), len(ious)
    precision = np.empty((n_t, len(recs), k, n_a, n_m))
    recall = np.empty((n_t, k, n_a, n_m))
    lrp = {name: np.empty((k, n_a, n_m)) for name in ("olrp", "loc", "fp", "fn", "threshold")}
    curve = None
    for a in range(n_a):
        num_gt = np.bincount(gt.labels[~m.gt_ignored[a]], minlength=k)
        for j, md in enumerate(mds):
            sel = order[m.det_rank[order] < md]
            tps = m.matched[a][:, sel] & ~m.ignored[a][:, sel]
            fps = ~m.matched[a][:, sel] & ~m.ignored[a][:, sel]
            precision[..., a, j], recall[..., a, j] = precision_recall(tps[:n_t], fps[:n_t], labels[sel], num_gt,
                                                                       recs)
            opt, c = optimal_lrp(tps[tau_i], fps[tau_i], m.iou[a, tau_i, sel], labels[sel], scores[sel], num_gt,
                                 tau, variant)
            for name in lrp:
                lrp[name][:, a, j] = getattr(opt, name)
            if a == 0 and j == n_m - 1:
                curve = c
    res = LRPResult(gt.category_ids, gt.category_names, ious, recs, tuple(areas), tuple(mds), precision, recall,
                    lrp["olrp"], lrp["loc"], lrp["fp"], lrp["fn"], lrp["threshold"], curve, float(tau), variant)
    res.stats.update(_summary(res))
    return res


def _area_ranges(ranges: Any) -> dict[str, tuple[float, float]]:
    """``{name: (lo, hi)}`` with real ``lo <= hi`` (NaN refused), or ``ValueError`` naming ``area_ranges``."""
    def pair(v: Any) -> tuple[float, float] | None:
        if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)) or len(v) != 2 or not all(
                isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in v):
            return None
        return (float(v[0]), float(v[1])) if v[0] <= v[1] else None  # NaN fails lo <= hi

    out = {k: pair(v) for k, v in ranges.items()} if isinstance(ranges, Mapping) else {}
    if not out or any(v is None for v in out.values()):
        raise ValueError(f"area_ranges must map names to (lo, hi) with lo <= hi, got {ranges!r}")
    return out


def _max_dets(values: Any) -> list[int]:
    """Sorted positive ints (``bool`` and ``1.5`` refused: ``int()`` would silently make it 1)."""
    def positive(m: Any) -> bool:
        return isinstance(m, (int, np.integer)) and not isinstance(m, (bool, np.bool_)) and m >= 1

    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) or not len(values) \
            or not all(positive(m) for m in values):
        raise ValueError(f"max_dets must be a non-empty sequence of positive integers, got {values!r}")
    return sorted(int(m) for m in values)


def _thresholds(name: str, values: Any, lo: float) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-empty list of numbers in ({lo}, 1], got {values!r}") from None
    if not len(v) or not np.isfinite(v).all() or (v <= lo).any() or (v > 1).any():
        raise ValueError(f"{name} must be a non-empty list of numbers in ({lo}, 1], got {values!r}")
    return v


def _summary(r: LRPResult) -> dict[str, float]:
    """COCO's 12 numbers (``summarize``) and the moLRP numbers of the authors' fork."""
    def ap(t=None, area=0, m=-1):
        p = r.precision[:, :, :, area, m]
        if t is not None:
            hit = np.flatnonzero(np.isclose(r.iou_thresholds, t))
            if not len(hit):
                return float("nan")
            p = p[hit]
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    def ar(area=0, m=-1):
        x = r.recall[:, :, area, m]
        x = x[x > -1]
        return float(x.mean()) if x.size else float("nan")

    def mean(x):
        x = x[:, 0, -1]
        x = x[~np.isnan(x)]
        return float(x.mean()) if x.size else float("nan")

    s = {"AP": ap(), "AP50": ap(0.5), "AP75": ap(0.75)}
    names = {"small": "s", "medium": "m", "large": "l"}
    for i, a in enumerate(r.area_names):
        if a in names:
            s["AP" + names[a]] = ap(area=i)
    for j, md in enumerate(r.max_dets):
        s[f"AR{md}"] = ar(m=j)
    for i, a in enumerate(r.area_names):
        if a in names:
            s["AR" + names[a]] = ar(area=i)
    s.update(moLRP=mean(r.olrp), moLRP_loc=mean(r.olrp_loc), moLRP_fp=mean(r.olrp_fp), moLRP_fn=mean(r.olrp_fn))
    return s
