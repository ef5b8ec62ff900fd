"""Ground truth and detections for evaluation: readers, validation and the two column tables.

Ground truth comes from a bbgen :class:`~bbgen.datasets.Annotations` table or a COCO instances json
(path or parsed dict); detections from a COCO results json (path), a list of COCO result dicts, or
arrays. Everything is checked here, so the evaluation itself never meets a NaN, an unknown image or
category id, or an empty result: those raise ``ValueError`` naming the detection and the value.
Matching and metrics live in :mod:`.matching`, :mod:`.lrp` and :mod:`.ap`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from ..datasets.annotations import Annotations
from ..datasets.coco import read_coco, read_json

__all__ = ["GroundTruth", "Detections", "load_ground_truth", "load_detections",
           "GroundTruthLike", "DetectionsLike"]

GroundTruthLike = Union["GroundTruth", Annotations, str, Path, Mapping[str, Any]]
DetectionsLike = Union["Detections", str, Path, Sequence[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth boxes of an evaluation (one row per box, plus the image and category tables).

    Attributes
    ----------
    image_ids : ndarray [I]
        Image identifiers (int64 or object), unique.
    boxes : ndarray [G, 4] float64
        ``[x1, y1, x2, y2]`` pixels.
    labels : ndarray [G] int64
        Index into ``category_ids``.
    box_image : ndarray [G] int64
        Row of ``image_ids``.
    crowd : ndarray [G] bool
        COCO ``iscrowd`` (or Detectron ``ignore``): never an FN, matches any number of detections,
        IoU measured as intersection over the detection's area (COCO's rule).
    area : ndarray [G] float64
        Area used for the area ranges (COCO's ``area`` field when read from json, else ``w * h``).
    category_ids : tuple
        External category id of each label (COCO ``category_id`` of the results).
    category_names : tuple[str, ...]
    """

    image_ids: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    box_image: np.ndarray
    crowd: np.ndarray
    area: np.ndarray
    category_ids: tuple
    category_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)


@dataclass(frozen=True)
class Detections:
    """Scored detections (one row each), already mapped onto a :class:`GroundTruth`'s tables.

    Attributes
    ----------
    image_index : ndarray [D] int64
        Row of ``GroundTruth.image_ids``.
    labels : ndarray [D] int64
        Index into ``GroundTruth.category_ids``.
    boxes : ndarray [D, 4] float64
        ``[x1, y1, x2, y2]`` pixels (zero size allowed).
    scores : ndarray [D] float64
    area : ndarray [D] float64
        ``w * h`` as given (COCO results: ``bbox[2] * bbox[3]``, like pycocotools' ``loadRes``).
    """

    image_index: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    area: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def load_ground_truth(source: GroundTruthLike, category_ids: Sequence | None = None) -> GroundTruth:
    """Ground truth from a :class:`GroundTruth`, an :class:`Annotations` table or a COCO json.

    Parameters
    ----------
    source : GroundTruth | Annotations | str | Path | dict
        A COCO instances json (path or parsed dict) keeps COCO's category ids and ``area`` field;
        boxes bbgen's reader drops (zero size, non-finite) are not evaluated.
    category_ids : sequence, optional
        Only for an ``Annotations`` table: the id each label has in the detections
        (default: the label index itself, ``0 .. K-1``).
    """
    if isinstance(source, GroundTruth):
        return source
    if isinstance(source, Annotations):
        ids = tuple(range(source.num_classes)) if category_ids is None else tuple(category_ids)
        if len(ids) != source.num_classes or len(set(ids)) != len(ids):
            raise ValueError(f"category_ids must hold {source.num_classes} distinct ids, got {category_ids!r}")
        b = source.boxes
        return GroundTruth(np.asarray(source.image_ids), b, source.labels, source.box_image, source.crowd,
                           (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), ids, source.category_names)
    if category_ids is not None:
        raise ValueError("category_ids is only used with an Annotations table; a COCO json has its own ids")
    if isinstance(source, (str, Path)):
        path, data = Path(source), read_json(source)
    elif isinstance(source, Mapping):
        path, data = Path("<ground truth dict>"), dict(source)
    else:
        raise TypeError(f"ground_truth must be Annotations, a COCO json path or dict, got {type(source).__name__}")
    ann = read_coco(path, data)
    ids = tuple(c["id"] for c in data["categories"])
    return GroundTruth(np.asarray(ann.image_ids), ann.boxes, ann.labels, ann.box_image, ann.crowd,
                       _json_areas(data["annotations"], ann.boxes), ids, ann.category_names)


def _json_areas(anns: list, kept_boxes: np.ndarray) -> np.ndarray:
    """COCO ``area`` of the annotations bbgen's reader kept (same keep rule: finite, positive size)."""
    xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    keep = np.isfinite(xywh).all(1) & (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    area = np.array([a["area"] if type(a.get("area")) in (int, float) else np.nan for a in anns],
                    dtype=np.float64)
    area = np.where(np.isfinite(area), area, xywh[:, 2] * xywh[:, 3])[keep]
    if len(area) != len(kept_boxes):  # the reader's keep rule changed: fall back to box areas
        return (kept_boxes[:, 2] - kept_boxes[:, 0]) * (kept_boxes[:, 3] - kept_boxes[:, 1])
    return area


def load_detections(source: DetectionsLike, gt: GroundTruth) -> Detections:
    """Detections from a COCO results json (path), a list of result dicts or a dict of arrays.

    Parameters
    ----------
    source : Detections | str | Path | list[dict] | dict
        COCO results: ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` per detection.
        A dict of arrays holds ``image_ids [D]``, ``category_ids [D]``, ``boxes [D, 4]`` (xyxy) and
        ``scores [D]``.
    gt : GroundTruth
        Image and category ids are resolved against it.

    Raises
    ------
    ValueError
        Empty results, unknown image or category ids, NaN/inf boxes or scores, negative sizes.
    """
    if isinstance(source, Detections):
        return source
    where = "detections"
    if isinstance(source, (str, Path)):
        where = str(source)
        source = read_json(source)
    if isinstance(source, Mapping):
        return _from_arrays(where, source, gt)
    if not isinstance(source, (list, tuple)):
        raise TypeError(f"detections must be a COCO results json path, a list of dicts or a dict of arrays, "
                        f"got {type(source).__name__}")
    if not source:
        raise ValueError(f"{where}: the detection results are empty")
    try:
        cols = [(d["image_id"], d["category_id"], d["score"], d["bbox"]) for d in source]
        xywh = np.array([c[3] for c in cols])
        scores = np.array([c[2] for c in cols])
    except (KeyError, TypeError, ValueError, IndexError):
        raise ValueError(f"{where}: {_first_bad(source)}") from None
    if xywh.dtype.kind not in "iuf" or scores.dtype.kind not in "iuf":  # "0.9" or null would be converted
        raise ValueError(f"{where}: {_first_bad(source)}")
    xywh, scores = xywh.astype(np.float64), scores.astype(np.float64)
    if xywh.shape != (len(cols), 4):
        raise ValueError(f"{where}: {_first_bad(source)}")
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    bad_size = (xywh[:, 2] < 0) | (xywh[:, 3] < 0)
    return _build(where, [c[0] for c in cols], [c[1] for c in cols],
                  boxes, scores, gt, bad_size, xywh[:, 2] * xywh[:, 3])


def _first_bad(source: Sequence) -> str:
    """Describe the first malformed COCO result of a list (only called once something failed)."""
    for i, d in enumerate(source):
        if not isinstance(d, Mapping) or not all(k in d for k in ("image_id", "category_id", "bbox", "score")):
            return f"detection {i} must be an object with image_id, category_id, bbox and score, got {d!r}"[:300]
        bb, sc = d["bbox"], d["score"]
        if (not isinstance(bb, (list, tuple)) or len(bb) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bb)):
            return f"detection {i} bbox must be 4 numbers [x, y, w, h], got {bb!r}"[:300]
        if not isinstance(sc, (int, float)) or isinstance(sc, bool):
            return f"detection {i} score must be a number, got {sc!r}"[:300]
    return "every bbox must be 4 numbers and every score a number"


def _from_arrays(where: str, source: Mapping[str, Any], gt: GroundTruth) -> Detections:
    missing = [k for k in ("image_ids", "category_ids", "boxes", "scores") if k not in source]
    if missing:
        raise ValueError(f"{where}: the detections dict is missing {missing} (needs image_ids, category_ids, "
                         "boxes, scores)")
    boxes, scores = _real(where, "boxes", source["boxes"]), _real(where, "scores", source["scores"]).reshape(-1)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(scores):
        raise ValueError(f"detections boxes must be [D, 4] with D = len(scores) = {len(scores)}, "
                         f"got {boxes.shape}")
    if len(scores) == 0:
        raise ValueError("detections: the detection results are empty")
    with np.errstate(invalid="ignore"):
        bad_size = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return _build("detections", _numpy(source["image_ids"]), _numpy(source["category_ids"]),
                  boxes, scores, gt, bad_size, area)


def _real(where: str, name: str, x: Any) -> np.ndarray:
    """``x`` (array, tensor or nested list) as float64; strings, bools, complex and None are a ``ValueError``."""
    try:
        a = np.asarray(_numpy(x))
    except (TypeError, ValueError):
        a = np.asarray(None)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{where}: {name} must be real numbers, got {a.dtype} values "
                         f"{str(x)[:100]}")
    return a.astype(np.float64)


def _numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _build(where: str, image_ids: Any, category_ids: Any, boxes: np.ndarray, scores: np.ndarray,
           gt: GroundTruth, bad_size: np.ndarray, area: np.ndarray) -> Detections:
    n = len(scores)
    bad = ~np.isfinite(boxes).all(1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: detection {i} has a NaN/inf box {boxes[i].tolist()}")
    if (~np.isfinite(scores)).any():
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ValueError(f"{where}: detection {i} has a NaN/inf score {scores[i]}")
    if bad_size.any():
        i = int(np.flatnonzero(bad_size)[0])
        raise ValueError(f"{where}: detection {i} has a negative width or height, box {boxes[i].tolist()}")
    image_index = _lookup(where, "image_id", image_ids, gt.image_ids, n)
    labels = _lookup(where, "category_id", category_ids, np.asarray(gt.category_ids, dtype=object), n)
    return Detections(image_index, labels, boxes, scores, area)


def _lookup(where: str, name: str, values: Any, table: np.ndarray, n: int) -> np.ndarray:
    """Row of each value in ``table`` (ids compared as Python values: 1 == 1.0, '1' != 1)."""
    values = list(np.asarray(values, dtype=object).reshape(-1).tolist()) if not isinstance(values, list) else values
    if len(values) != n:
        raise ValueError(f"{where}: {len(values)} {name}s for {n} detections")
    index = {v: i for i, v in enumerate(np.asarray(table, dtype=object).tolist())}
    try:
        rows = np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=n)
    except TypeError:  # an unhashable id
        rows = np.array([index.get(v, -1) if isinstance(v, (int, str, np.integer)) else -1 for v in values])
    if (rows < 0).any():
        i = int(np.flatnonzero(rows < 0)[0])
        raise ValueError(f"{where}: detection {i} has {name} {values[i]!r}, which is not in the ground truth")
    return rows
