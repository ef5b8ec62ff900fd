"""The shapes dataset: synthetic images of filled rectangles, filled ellipses and hollow rectangles.

Three classes with deliberately imbalanced frequencies (75/18/7 %), 2–5 objects per image, drawn
with numpy from a seed — a dataset a from-scratch torchvision detector learns in minutes on a CPU,
used by ``analysis/train_frcnn_proi.py`` and the sampler-comparison notebook (fg–fg class imbalance,
thesis §3.2.2).
"""
from __future__ import annotations

import numpy as np
import torch

from .._typing import SeedLike
from .._validate import as_numpy_generator

__all__ = ["CLASS_NAMES", "CLASS_FREQ", "draw_image", "make_dataset"]

CLASS_NAMES = ("rectangle", "ellipse", "frame")
CLASS_FREQ = (0.75, 0.18, 0.07)


def draw_image(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``[3, size, size]`` float image with 2–5 shapes -> (image, boxes [G, 4] xyxy, labels [G]).

    Parameters
    ----------
    size : int
        image side in pixels.
    rng : numpy.random.Generator
        source of every draw.
    """
    img = rng.uniform(0.0, 0.25, 3)[:, None, None] + rng.normal(0.0, 0.04, (3, size, size))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    boxes, labels = [], []
    for _ in range(int(rng.integers(2, 6))):
        cls = int(rng.choice(3, p=CLASS_FREQ)) + 1
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


def make_dataset(num_images: int, size: int,
                 generator: SeedLike) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """``num_images`` (image ``Tensor[3, size, size]``, torchvision target dict) pairs drawn from ``generator``.

    Parameters
    ----------
    num_images : int
        how many images (>= 0).
    size : int
        image side in pixels (>= 32).
    generator : int, numpy.random.Generator or torch.Generator
        the randomness (``bbgen._validate.as_numpy_generator``).
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 0:
        raise ValueError(f"num_images must be a non-negative int, got {num_images!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be an int >= 32, got {size!r}")
    rng = as_numpy_generator(generator)
    out = []
    for _ in range(num_images):
        img, boxes, labels = draw_image(size, rng)
        out.append((torch.from_numpy(img), {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}))
    return out
