"""Anchor sets and the detector's view of an image (thesis §3.2.1, Fig. 3.4: RetinaNet anchors on COCO).

An :class:`AnchorConfig` describes the anchors of one detector and how it resizes and pads an
image.  Anchors are reproduced bit-for-bit from torchvision: ``AnchorGenerator`` (RetinaNet,
Faster R-CNN RPN-FPN, user configs) and ``DefaultBoxGenerator`` (SSD300), over the padded image that
``GeneralizedRCNNTransform`` produces for a batch of one.

The grids themselves (anchor coordinates, level geometry) live in :mod:`.grid`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _validate
from .._typing import ArrayLike, BoxesLike

__all__ = ["AnchorConfig", "PRESETS", "anchor_config", "detector_view", "load_anchor_config", "scale_boxes"]


@dataclass(frozen=True)
class AnchorConfig:
    """Anchors of one detector plus the resize/pad rule it applies to images (thesis §3.2.1).

    Parameters
    ----------
    name : str
    sizes : tuple of tuple of float
        ``sizes[l]``: anchor sizes of level ``l`` (torchvision's ``AnchorGenerator``).
    aspect_ratios : tuple of tuple of float
        ``aspect_ratios[l]`` (height / width); for ``kind="ssd"`` SSD's extra ratios.
    strides : tuple of int
        Nominal downsampling of each level: feature size = ceil(padded / stride), the ResNet-FPN rule (exact
        for P2–P5 on a padded image, ceil-halving for P6/P7); for SSD its ``steps``.
    level_names : tuple of str
    kind : {"grid", "ssd"}, default "grid"
        ``"ssd"`` uses torchvision's ``DefaultBoxGenerator`` with ``ssd_scales``.
    ssd_scales : tuple of float, optional
        SSD only: ``L + 1`` scales.
    fixed_feature_sizes : tuple of int, optional
        SSD only: the network's feature-map sizes.
    min_size, max_size : int, default 800, 1333
        Resize rule s = min(min_size / short, max_size / long).
    size_divisible : int, default 32
        Padding multiple.
    fixed_size : (int, int), optional
        Resize to this (width, height) instead, as SSD.
    """

    name: str
    sizes: tuple[tuple[float, ...], ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    strides: tuple[int, ...]
    level_names: tuple[str, ...]
    kind: str = "grid"
    ssd_scales: tuple[float, ...] | None = None
    fixed_feature_sizes: tuple[int, ...] | None = None
    min_size: int = 800
    max_size: int = 1333
    size_divisible: int = 32
    fixed_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        n = len(self.strides)
        if n == 0:
            raise ValueError(f"{self.name}: strides must name at least one level, got {self.strides}")
        if self.kind not in ("grid", "ssd"):
            raise ValueError(f"{self.name}: kind must be 'grid' or 'ssd', got {self.kind!r}")
        if len(self.aspect_ratios) != n or len(self.level_names) != n:
            raise ValueError(f"{self.name}: aspect_ratios and level_names need {n} entries (one per stride)")
        if self.kind == "grid" and len(self.sizes) != n:
            raise ValueError(f"{self.name}: sizes needs {n} entries (one per stride), got {len(self.sizes)}")
        if self.kind == "ssd":
            if self.ssd_scales is None or len(self.ssd_scales) != n + 1:
                raise ValueError(f"{self.name}: ssd_scales needs {n + 1} values, got {self.ssd_scales}")
            if self.fixed_feature_sizes is None or len(self.fixed_feature_sizes) != n:
                raise ValueError(f"{self.name}: fixed_feature_sizes needs {n} values")
            if self.fixed_size is None:
                raise ValueError(f"{self.name}: SSD default boxes need a fixed_size (width, height)")
        values = [v for group in (*self.sizes, *self.aspect_ratios) for v in group]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"{self.name}: sizes and aspect_ratios must be positive finite numbers")
        if any(len(g) == 0 for g in (*self.sizes, *self.aspect_ratios)) and self.kind == "grid":
            raise ValueError(f"{self.name}: every level needs at least one size and one aspect ratio")
        for s in self.strides:
            _validate.positive_int(s, f"{self.name}: strides")
        if self.fixed_size is None and not (0 < self.min_size <= self.max_size):
            raise ValueError(f"{self.name}: need 0 < min_size <= max_size, got {self.min_size}, {self.max_size}")
        _validate.positive_int(self.size_divisible, f"{self.name}: size_divisible")

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    def anchors_per_location(self) -> list[int]:
        """A_l for every level (torchvision's ``num_anchors_per_location``)."""
        if self.kind == "ssd":
            return [2 + 2 * len(r) for r in self.aspect_ratios]
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios)]


def _retinanet() -> AnchorConfig:
    # torchvision retinanet._default_anchorgen: 3 octave scales x 3 ratios on P3-P7.
    sizes = tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in (32, 64, 128, 256, 512))
    return AnchorConfig("retinanet", sizes, ((0.5, 1.0, 2.0),) * 5, (8, 16, 32, 64, 128),
                        ("P3", "P4", "P5", "P6", "P7"))


def _rpn() -> AnchorConfig:
    # torchvision faster_rcnn._default_anchorgen: one size x 3 ratios on P2-P5 + 'pool' (P6).
    return AnchorConfig("rpn", ((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5,
                        (4, 8, 16, 32, 64), ("P2", "P3", "P4", "P5", "P6"))


def _ssd300() -> AnchorConfig:
    # torchvision ssd300_vgg16: DefaultBoxGenerator, fixed 300x300 input, 8732 default boxes.
    return AnchorConfig("ssd300", (), ((2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,)),
                        (8, 16, 32, 64, 100, 300), ("conv4_3", "fc7", "c8", "c9", "c10", "c11"),
                        kind="ssd", ssd_scales=(0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05),
                        fixed_feature_sizes=(38, 19, 10, 5, 3, 1), size_divisible=1, fixed_size=(300, 300))


PRESETS = {"retinanet": _retinanet, "rpn": _rpn, "ssd300": _ssd300}


def load_anchor_config(path: str | Path) -> AnchorConfig:
    """Read a user anchor configuration from JSON.

    Parameters
    ----------
    path : str or Path
        A JSON object with keys ``sizes``, ``aspect_ratios``, ``strides`` and optionally ``level_names``,
        ``min_size``, ``max_size``, ``size_divisible``, ``fixed_size``, ``name``.

    Returns
    -------
    AnchorConfig
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"anchor config {path}: cannot read JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"anchor config {path}: top level must be an object")
    missing = {"sizes", "aspect_ratios", "strides"} - raw.keys()
    if missing:
        raise ValueError(f"anchor config {path}: missing keys {sorted(missing)}")
    unknown = set(raw) - {"sizes", "aspect_ratios", "strides", "level_names", "min_size", "max_size",
                          "size_divisible", "fixed_size", "name"}
    if unknown:
        raise ValueError(f"anchor config {path}: unknown keys {sorted(unknown)}")
    try:
        strides = tuple(int(s) for s in raw["strides"])
        sizes = tuple(tuple(float(v) for v in lvl) for lvl in raw["sizes"])
        ratios = raw["aspect_ratios"]
        if ratios and not isinstance(ratios[0], (list, tuple)):
            ratios = [ratios] * len(strides)
        ratios = tuple(tuple(float(v) for v in lvl) for lvl in ratios)
        fixed = raw.get("fixed_size")
        return AnchorConfig(
            name=str(raw.get("name", path.stem)), sizes=sizes, aspect_ratios=ratios, strides=strides,
            level_names=tuple(raw.get("level_names", [f"L{i}" for i in range(len(strides))])),
            min_size=int(raw.get("min_size", 800)), max_size=int(raw.get("max_size", 1333)),
            size_divisible=int(raw.get("size_divisible", 32)),
            fixed_size=None if fixed is None else (int(fixed[0]), int(fixed[1])))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"anchor config {path}: {exc}") from exc


def anchor_config(anchors: str | Path | AnchorConfig) -> AnchorConfig:
    """Resolve a preset name, a JSON path or a configuration.

    Parameters
    ----------
    anchors : {"retinanet", "rpn", "ssd300"} or str or Path or AnchorConfig
        A preset, a ``.json`` file (:func:`load_anchor_config`) or a configuration.

    Returns
    -------
    AnchorConfig
    """
    if isinstance(anchors, AnchorConfig):
        return anchors
    if isinstance(anchors, str) and anchors in PRESETS:
        return PRESETS[anchors]()
    if isinstance(anchors, (str, Path)) and str(anchors).endswith(".json"):
        return load_anchor_config(anchors)
    raise ValueError(f"anchors must be one of {sorted(PRESETS)}, a .json file or an AnchorConfig, got {anchors!r}")


def detector_view(image_sizes: ArrayLike, config: AnchorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Resized and padded sizes of images as torchvision's ``GeneralizedRCNNTransform`` sees them.

    s = min(min_size/short, max_size/long), resized = floor(side * s) (as
    ``F.interpolate(recompute_scale_factor=True)``), padded up to a multiple of ``size_divisible``.

    Parameters
    ----------
    image_sizes : ndarray[N, 2]
        (width, height), finite and >= 1.
    config : AnchorConfig

    Returns
    -------
    resized, padded : ndarray[N, 2] of int64
        (width, height).
    """
    sizes = np.asarray(image_sizes, dtype=np.float64)
    if sizes.ndim != 2 or sizes.shape[1] != 2 or not np.all(np.isfinite(sizes)) or np.any(sizes < 1):
        raise ValueError(f"image_sizes must be [N, 2] finite (width, height) >= 1, got shape {sizes.shape}")
    sizes = sizes.astype(np.int64)
    if config.fixed_size is not None:
        resized = np.broadcast_to(np.asarray(config.fixed_size, dtype=np.int64), sizes.shape).copy()
    else:
        short, long = sizes.min(1), sizes.max(1)
        # Python-float arithmetic per image, exactly as torchvision / F.interpolate compute it.
        scale = [min(config.min_size / s, config.max_size / lg) for s, lg in zip(short.tolist(), long.tolist())]
        resized = np.array([[math.floor(w * s), math.floor(h * s)] for (w, h), s in zip(sizes.tolist(), scale)],
                           dtype=np.int64).reshape(-1, 2)
    d = config.size_divisible
    padded = -(-resized // d) * d
    return resized, padded


def scale_boxes(boxes: BoxesLike, original: ArrayLike, resized: ArrayLike) -> np.ndarray:
    """Scale GT boxes per axis by resized / original image size, in float32.

    Same arithmetic as torchvision ``transform.resize_boxes`` (float32 ratio, float32 product).

    Parameters
    ----------
    boxes : ndarray[M, 4]
    original, resized : ndarray[M, 2]
        (width, height) of each box's image.

    Returns
    -------
    ndarray[M, 4] of float32
    """
    b = np.asarray(boxes, dtype=np.float32)
    sizes = []
    for name, value in (("original", original), ("resized", resized)):
        a = np.asarray(value, dtype=np.float32)
        if a.shape[-1:] != (2,):
            raise ValueError(f"{name} must hold (width, height) sizes [..., 2], got shape {a.shape}")
        if not (np.isfinite(a) & (a > 0)).all():  # 0 or NaN gave inf/NaN boxes
            raise ValueError(f"{name} sizes must be finite and > 0, got {a[~(np.isfinite(a) & (a > 0))][0]}")
        sizes.append(a)
    ratio = sizes[1] / sizes[0]
    try:
        return b * np.concatenate([ratio, ratio], axis=-1)
    except ValueError:
        raise ValueError(f"boxes {b.shape}, original {sizes[0].shape} and resized {sizes[1].shape} do not "
                         "broadcast (one (width, height) per box)") from None
