"""Object/box-level scale imbalance (thesis §3.3.1, Fig. 3.7) and the FPN level of each box (§3.3.2).

Relative sizes are with respect to the normalised image (box width / image width, ...), as in
Fig. 3.7. COCO's small / medium / large split uses the absolute box area (< 32², < 96², >= 96²
pixels; COCO uses mask area, boxes are used here). The pyramid level follows FPN (Lin et al.,
2017, Eq. 1): ``k = floor(k0 + log2(sqrt(w h) / 224))`` with ``k0 = 4``, clipped to P2-P5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.annotations import Annotations, check_annotations
from .data_measures import quantiles

__all__ = ["ScaleProfile", "scale_profile", "fpn_level", "COCO_AREA_LIMITS", "size_category", "beyond_image"]

COCO_AREA_LIMITS = (32.0 ** 2, 96.0 ** 2)
SIZE_NAMES = ("small", "medium", "large")


def fpn_level(boxes: np.ndarray, *, k0: int = 4, canonical: float = 224.0, k_min: int = 2,
              k_max: int = 5) -> np.ndarray:
    """Pyramid level [...] of boxes [..., 4] (xyxy pixels): FPN Eq. 1, clipped to [k_min, k_max].

    Degenerate boxes (zero area) map to ``k_min``.

    Parameters
    ----------
    boxes : ndarray [..., 4]
        xyxy pixels.
    k0 : int
        Level of a box of side ``canonical``.
    canonical : float
        Canonical box side (224, the ImageNet size).
    k_min, k_max : int
        Lowest and highest level.

    Returns
    -------
    ndarray [...] int64
    """
    b = _finite_boxes(boxes)
    for name, v in (("k0", k0), ("k_min", k_min), ("k_max", k_max)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if not canonical > 0:
        raise ValueError(f"canonical must be > 0, got {canonical!r}")
    if k_min > k_max:
        raise ValueError(f"k_min must be <= k_max, got {k_min} > {k_max}")
    side = np.sqrt(np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None))
    with np.errstate(divide="ignore"):
        k = np.floor(k0 + np.log2(side / canonical))
    return np.clip(np.nan_to_num(k, nan=k_min, neginf=k_min), k_min, k_max).astype(np.int64)


def _finite_boxes(boxes: np.ndarray) -> np.ndarray:
    """``boxes`` as float64 ``[..., 4]`` with finite coordinates (a NaN box has no size band or level)."""
    try:
        b = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"boxes must be an array of numbers [..., 4], got {type(boxes).__name__}") from None
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes must have shape [..., 4], got {b.shape}")
    bad = ~np.isfinite(b).all(-1)
    if bad.any():
        raise ValueError(f"boxes must be finite, got {b[bad][0].tolist()}")
    return b


def size_category(boxes: np.ndarray) -> np.ndarray:
    """COCO size band [...] of boxes [..., 4] by absolute area: 0 small, 1 medium, 2 large.

    Parameters
    ----------
    boxes : ndarray [..., 4]
        xyxy pixels.

    Returns
    -------
    ndarray [...] int64
    """
    b = _finite_boxes(boxes)
    area = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return np.searchsorted(np.asarray(COCO_AREA_LIMITS), area, side="right")


def beyond_image(boxes: np.ndarray, image_wh: np.ndarray) -> np.ndarray:
    """Which boxes reach past the border of their image: the one definition every report section uses.

    A box ``[x1, y1, x2, y2]`` is *beyond the image* when any corner lies outside
    ``[0, width] x [0, height]`` (so a box wider than its image is beyond it too).

    Parameters
    ----------
    boxes : ndarray [M, 4]
        xyxy pixels.
    image_wh : ndarray [M, 2]
        (width, height) of the image of each box.

    Returns
    -------
    ndarray [M] bool
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = np.asarray(image_wh, dtype=np.float64).reshape(-1, 2)
    return (b[:, :2] < 0).any(axis=1) | (b[:, 2:] > wh).any(axis=1)


@dataclass(frozen=True)
class ScaleProfile:
    """Distributions of relative box size (Fig. 3.7), COCO size bands and FPN levels.

    Parameters
    ----------
    bin_edges : ndarray [B+1]
        Histogram edges on [0, 1] (values > 1 fall in the last bin).
    width_hist, height_hist, area_hist : ndarray [B] int
        Counts of relative width, height and area.
    width, height, area : dict of str to float or None
        Mean and 5/25/50/75/95 % quantiles of each relative quantity (``None`` without boxes).
    size_counts : ndarray [3] int
        Boxes in COCO's small, medium, large bands.
    fpn_levels : ndarray [L] int
        Level numbers (P2..P5).
    fpn_counts : ndarray [L] int
        Boxes per level.
    beyond_image : int
        Profiled boxes reaching past the image border (:func:`beyond_image`).
    """

    bin_edges: np.ndarray
    width_hist: np.ndarray
    height_hist: np.ndarray
    area_hist: np.ndarray
    width: dict[str, float | None]
    height: dict[str, float | None]
    area: dict[str, float | None]
    size_counts: np.ndarray
    fpn_levels: np.ndarray
    fpn_counts: np.ndarray
    beyond_image: int

    def to_dict(self) -> dict[str, object]:
        """JSON-plain numbers (``None`` where the data define no value)."""
        total = int(self.size_counts.sum())
        return {
            "num_boxes": int(self.size_counts.sum()),
            "relative_width": self.width,
            "relative_height": self.height,
            "relative_area": self.area,
            "coco_size_counts": {n: int(c) for n, c in zip(SIZE_NAMES, self.size_counts)},
            "coco_size_fractions": {n: float(c / total) if total else None
                                    for n, c in zip(SIZE_NAMES, self.size_counts)},
            "fpn_level_counts": {f"P{k}": int(c) for k, c in zip(self.fpn_levels, self.fpn_counts)},
            "beyond_image": self.beyond_image,
            "bin_edges": self.bin_edges.tolist(),
            "relative_width_hist": self.width_hist.astype(int).tolist(),
            "relative_height_hist": self.height_hist.astype(int).tolist(),
            "relative_area_hist": self.area_hist.astype(int).tolist(),
        }


def scale_profile(ann: Annotations, *, bins: int = 50, include_crowd: bool = False, k0: int = 4,
                  k_min: int = 2, k_max: int = 5) -> ScaleProfile:
    """Relative width / height / area histograms, COCO size bands and FPN levels of ``ann``'s boxes.

    Parameters
    ----------
    ann : Annotations
        The dataset.
    bins : int
        Histogram bins on [0, 1].
    include_crowd : bool
        Count crowd / difficult boxes too.
    k0, k_min, k_max : int
        FPN level rule (see :func:`fpn_level`).

    Returns
    -------
    ScaleProfile
    """
    ann = check_annotations(ann)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    keep = np.ones(ann.num_boxes, dtype=bool) if include_crowd else ~ann.crowd
    boxes = ann.boxes[keep]
    wh_img = ann.image_sizes[ann.box_image[keep]]
    rel_w = (boxes[:, 2] - boxes[:, 0]) / wh_img[:, 0]
    rel_h = (boxes[:, 3] - boxes[:, 1]) / wh_img[:, 1]
    rel_a = rel_w * rel_h
    edges = np.linspace(0.0, 1.0, bins + 1)
    levels = np.arange(k_min, k_max + 1)
    lv = fpn_level(boxes, k0=k0, k_min=k_min, k_max=k_max)
    return ScaleProfile(
        bin_edges=edges,
        width_hist=_hist(rel_w, bins),
        height_hist=_hist(rel_h, bins),
        area_hist=_hist(rel_a, bins),
        width=quantiles(rel_w),
        height=quantiles(rel_h),
        area=quantiles(rel_a),
        size_counts=np.bincount(size_category(boxes), minlength=3),
        fpn_levels=levels,
        fpn_counts=np.bincount(lv - k_min, minlength=len(levels)),
        beyond_image=int(beyond_image(boxes, wh_img).sum()),
    )


def _hist(values: np.ndarray, bins: int) -> np.ndarray:
    """Counts of values in ``bins`` equal bins on [0, 1]; values > 1 go to the last bin."""
    idx = np.clip((values * bins).astype(np.int64), 0, bins - 1)
    return np.bincount(idx, minlength=bins)
