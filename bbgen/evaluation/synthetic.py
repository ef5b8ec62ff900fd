"""A synthetic COCO ground truth and a noisy detector's results for tests, benchmarks and demos.

Detections are ground-truth boxes jittered by a random amount (true positives of varied IoU),
duplicates, and random boxes (false positives), with scores that rise with IoU plus noise, so AP
and LRP are in a realistic middle range. Crowd boxes and a spread of box areas over COCO's
small / medium / large ranges are included.
"""
from __future__ import annotations

import numpy as np

from .._typing import SeedLike
from .._validate import as_numpy_generator

__all__ = ["synthetic_evaluation_data"]


def synthetic_evaluation_data(num_images: int = 100, dets_per_image: int = 100, num_classes: int = 10, *,
                              gts_per_image: float = 7.0, crowd_fraction: float = 0.01,
                              generator: SeedLike = 0) -> tuple[dict, list[dict]]:
    """A COCO instances dict and a COCO results list.

    Parameters
    ----------
    num_images : int
    dets_per_image : int
        Detections per image (COCO's evaluation keeps at most 100 per image and class).
    num_classes : int
    gts_per_image : float
        Mean number of ground-truth boxes per image (Poisson).
    crowd_fraction : float
        Probability that a ground-truth box is a crowd box.
    generator : int, numpy.random.Generator or torch.Generator

    Returns
    -------
    (ground truth dict with images / annotations / categories, list of result dicts)
    """
    for name, v in (("num_images", num_images), ("dets_per_image", dets_per_image), ("num_classes", num_classes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    rng = as_numpy_generator(generator)
    w, h = 640.0, 480.0
    n_gt = rng.poisson(gts_per_image, num_images)
    img_of = np.repeat(np.arange(num_images), n_gt)
    g = len(img_of)
    side = np.exp(rng.uniform(np.log(8), np.log(300), (g, 2)))
    xy = rng.uniform(0, 1, (g, 2)) * (np.array([w, h]) - side)
    gt_box = np.c_[xy, side]
    gt_cls = rng.integers(0, num_classes, g)
    crowd = rng.random(g) < crowd_fraction
    images = [{"id": int(i) + 1, "width": w, "height": h, "file_name": f"{i}.jpg"} for i in range(num_images)]
    anns = [{"id": int(i) + 1, "image_id": int(img_of[i]) + 1, "category_id": int(gt_cls[i]) + 1,
             "bbox": gt_box[i].tolist(), "area": float(gt_box[i, 2] * gt_box[i, 3]), "iscrowd": int(crowd[i])}
            for i in range(g)]
    cats = [{"id": c + 1, "name": f"class{c}"} for c in range(num_classes)]

    d = num_images * dets_per_image
    d_img = np.repeat(np.arange(num_images), dets_per_image)
    first = np.searchsorted(img_of, d_img, "left")
    count = np.searchsorted(img_of, d_img, "right") - first
    from_gt = (rng.random(d) < 0.5) & (count > 0)
    src = first + (rng.random(d) * np.maximum(count, 1)).astype(np.int64)
    src = np.where(from_gt, np.minimum(src, g - 1), 0)
    noise = rng.exponential(0.12, d)
    base = gt_box[src] if g else np.zeros((d, 4))
    jitter = rng.normal(0, 1, (d, 4)) * noise[:, None] * np.c_[base[:, 2:], base[:, 2:]]
    det = np.where(from_gt[:, None], base + jitter, 0.0)
    rand_side = np.exp(rng.uniform(np.log(8), np.log(300), (d, 2)))
    rand_xy = rng.uniform(0, 1, (d, 2)) * (np.array([w, h]) - rand_side)
    det = np.where(from_gt[:, None], det, np.c_[rand_xy, rand_side])
    det[:, 2:] = np.abs(det[:, 2:]) + 1.0
    cls = np.where(from_gt & (rng.random(d) < 0.9), gt_cls[src] if g else 0, rng.integers(0, num_classes, d))
    score = np.clip(np.where(from_gt, 0.8 - noise, 0.3) + rng.normal(0, 0.15, d), 0.001, 1.0)
    results = [{"image_id": int(d_img[i]) + 1, "category_id": int(cls[i]) + 1, "bbox": det[i].round(2).tolist(),
                "score": round(float(score[i]), 4)} for i in range(d)]
    return {"images": images, "annotations": anns, "categories": cats}, results
