"""A deterministic synthetic COCO-like dataset: the embedded default of ``bbgen report``.

Priors (chosen to resemble MS-COCO, thesis Fig. 3.5, 3.7, 3.13):

* classes: Zipf-like long tail ``p_c ∝ (c + 1)^(-zipf_exponent)``; each image draws a small set of
  classes from it and its boxes pick among them, so classes per image stay few (Fig. 3.5c);
* boxes per image: ``1 + NegativeBinomial`` with mean ``boxes_per_image`` (over-dispersed, Fig. 3.5b);
* size: ``sqrt(box area / image area)`` log-normal with median 0.077 and sigma 1.2, which puts about
  41 % / 34 % / 25 % of boxes in COCO's small / medium / large bands at 640x480 (Fig. 3.7);
  aspect ratio log-normal around 1;
* location: half of the centres from a Gaussian around the image centre, half uniform (Fig. 3.13);
  boxes are then shifted to lie inside the image.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .annotations import Annotations

if TYPE_CHECKING:  # torch is imported only when synthetic() is called (the CLI's --help and input errors skip it)
    from .._typing import SeedLike

__all__ = ["synthetic"]

_IMAGE_SIZES = np.array([[640, 480], [480, 640], [640, 427], [427, 640], [640, 360], [500, 375], [375, 500]],
                        dtype=np.float64)
_IMAGE_SIZE_P = np.array([0.35, 0.15, 0.2, 0.1, 0.1, 0.05, 0.05])
_MAX_CLASSES_PER_IMAGE = 8


def synthetic(num_images: int = 2000, *, num_classes: int = 80, boxes_per_image: float = 7.3,
              zipf_exponent: float = 1.5, generator: SeedLike = 0) -> Annotations:
    """Draw a synthetic detection dataset (see the module docstring for its priors).

    Parameters
    ----------
    num_images : int
        Number of images N (>= 1; a Python or numpy integer, not a bool).
    num_classes : int
        Number of categories C (>= 1; a Python or numpy integer, not a bool).
    boxes_per_image : float
        Mean number of boxes per image (>= 1; any finite Python or numpy real number, not a bool).
    zipf_exponent : float
        Long-tail exponent s >= 0 of the class prior (0 = balanced; not a bool).
    generator : int, numpy.random.Generator, torch.Generator or None
        Randomness (:func:`bbgen._validate.as_numpy_generator`): same int seed, same dataset. The
        ``source`` records ``generator=<int>``, or ``generator=rng`` for a Generator or None.

    Returns
    -------
    Annotations
        ``source`` starts with ``"synthetic("``; M ~= N * boxes_per_image boxes.
    """
    from .. import _validate  # imports torch: deferred, see above

    n = _validate.positive_int(num_images, "num_images")
    c = _validate.positive_int(num_classes, "num_classes")
    boxes_per_image = _validate.finite_float(boxes_per_image, "boxes_per_image")  # bool: TypeError
    if boxes_per_image < 1:
        raise ValueError(f"boxes_per_image must be a finite number >= 1, got {boxes_per_image!r}")
    zipf_exponent = _validate.finite_float(zipf_exponent, "zipf_exponent")
    if zipf_exponent < 0:
        raise ValueError(f"zipf_exponent must be a finite number >= 0, got {zipf_exponent!r}")
    rng = _validate.as_numpy_generator(generator)
    seed = int(generator) if isinstance(generator, (int, np.integer)) else "rng"  # bool refused above

    sizes = _IMAGE_SIZES[rng.choice(len(_IMAGE_SIZES), size=n, p=_IMAGE_SIZE_P)]
    # 1 + NB(r, p) with mean boxes_per_image - 1; r = 1.5 gives COCO-like over-dispersion
    extra = boxes_per_image - 1.0
    counts = 1 + (rng.negative_binomial(1.5, 1.5 / (1.5 + extra), size=n) if extra > 0 else np.zeros(n, int))
    box_image = np.repeat(np.arange(n), counts)
    m = len(box_image)

    prior = (np.arange(c) + 1.0) ** -float(zipf_exponent)
    prior /= prior.sum()
    class_sets = rng.choice(c, size=(n, _MAX_CLASSES_PER_IMAGE), p=prior)
    set_size = np.minimum(1 + rng.poisson(2.5, size=n), _MAX_CLASSES_PER_IMAGE)
    pick = (rng.random(m) * set_size[box_image]).astype(np.int64)
    labels = class_sets[box_image, pick]

    wh_img = sizes[box_image]
    class_scale = rng.normal(0.0, 0.4, size=c)  # some classes are typically larger than others
    rel_side = np.exp(np.log(0.077) + class_scale[labels] + 1.2 * rng.standard_normal(m))
    area = np.clip(rel_side, 0.004, 1.0) ** 2 * wh_img[:, 0] * wh_img[:, 1]
    aspect = np.exp(0.6 * rng.standard_normal(m))  # h / w
    w = np.clip(np.sqrt(area / aspect), 1.0, wh_img[:, 0])
    h = np.clip(np.sqrt(area * aspect), 1.0, wh_img[:, 1])

    central = rng.random(m) < 0.5
    centre = np.where(central[:, None], rng.normal([0.5, 0.55], 0.18, size=(m, 2)), rng.random((m, 2)))
    half = np.stack([w, h], axis=1) / 2
    centre = np.clip(centre * wh_img, half, wh_img - half)
    boxes = np.concatenate([centre - half, centre + half], axis=1)

    return Annotations(
        image_ids=np.arange(1, n + 1, dtype=np.int64),
        image_sizes=sizes,
        boxes=boxes,
        labels=labels.astype(np.int64),
        box_image=box_image.astype(np.int64),
        crowd=np.zeros(m, dtype=bool),
        category_names=tuple(f"class_{k:0{len(str(c - 1))}d}" for k in range(c)),
        source=f"synthetic(num_images={n}, num_classes={c}, boxes_per_image={boxes_per_image:.15g}, "
               f"zipf_exponent={zipf_exponent:.15g}, generator={seed})",
    )

