"""The synthetic shapes detection dataset of the training examples (drawn with numpy, no files).

Filled rectangles, filled ellipses and hollow rectangles ("frames"), three classes with deliberately
imbalanced frequencies (75/18/7 %), 2–5 objects per image on a noisy background. Used by the
Faster R-CNN pRoI example and the ranking-loss RetinaNet example/notebook. Labels are 1..3
(torchvision's convention: 0 is background).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["SHAPE_CLASSES", "SHAPE_FREQUENCIES", "draw_shapes_image", "shapes_dataset"]

SHAPE_CLASSES = ("rectangle", "ellipse", "frame")
SHAPE_FREQUENCIES = (0.75, 0.18, 0.07)


def draw_shapes_image(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image with 2–5 shapes.

    Parameters
    ----------
    size : int
        Side of the square image in pixels.
    rng : numpy Generator

    Returns
    -------
    (image ``[3, size, size]`` float32 in [0, 1], boxes ``[G, 4]`` xyxy float32, labels ``[G]`` int64 in 1..3)
    """
    img = rng.uniform(0.0, 0.25, 3)[:, None, None] + rng.normal(0.0, 0.04, (3, size, size))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    boxes, labels = [], []
    for _ in range(int(rng.integers(2, 6))):
        cls = int(rng.choice(3, p=SHAPE_FREQUENCIES)) + 1
        w, h = rng.uniform(0.18, 0.45, 2) * size
        x1, y1 = rng.uniform(0, size - w), rng.uniform(0, size - h)
        inside_box = (xx >= x1) & (xx < x1 + w) & (yy >= y1) & (yy < y1 + h)
        if cls == 1:
            mask = inside_box
        elif cls == 2:
            mask = ((xx - x1 - w / 2) / (w / 2)) ** 2 + ((yy - y1 - h / 2) / (h / 2)) ** 2 <= 1.0
        else:
            t = max(2.0, 0.15 * min(w, h))
            mask = inside_box & ~((xx >= x1 + t) & (xx < x1 + w - t) & (yy >= y1 + t) & (yy < y1 + h - t))
        img[:, mask] = rng.uniform(0.45, 1.0, 3)[:, None]
        boxes.append([x1, y1, x1 + w, y1 + h])
        labels.append(cls)
    return np.clip(img, 0, 1).astype(np.float32), np.array(boxes, np.float32), np.array(labels, np.int64)


def shapes_dataset(num_images: int, size: int, seed: int) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """``num_images`` (image tensor, {"boxes", "labels"}) pairs in torchvision's detection format.

    Parameters
    ----------
    num_images : int
    size : int
        Image side in pixels.
    seed : int
        Seed of the numpy Generator that draws everything.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num_images):
        img, boxes, labels = draw_shapes_image(size, rng)
        out.append((torch.from_numpy(img), {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}))
    return out
