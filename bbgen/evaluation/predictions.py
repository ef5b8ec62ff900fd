"""Evaluate a torchvision detector on in-memory data: targets/predictions -> ground truth/detections.

torchvision's detection format (``{"boxes": [G, 4] xyxy, "labels": [G]}`` per image, labels 1..C,
0 = background) is turned into a :class:`GroundTruth` and a detections dict; image ids are the
positions in the list, category ids the labels.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from .evaluate import LRPResult, evaluate_lrp
from .io import GroundTruth

__all__ = ["targets_to_ground_truth", "predictions_to_detections", "evaluate_model"]


def targets_to_ground_truth(targets: Sequence[dict], class_names: Sequence[str]) -> GroundTruth:
    """Ground truth of a list of torchvision targets (labels 1..C name ``class_names[label - 1]``).

    Parameters
    ----------
    targets : list of dict
        ``boxes [G, 4]`` xyxy and ``labels [G]`` per image; an optional ``iscrowd [G]`` marks crowd boxes.
    class_names : sequence of str [C]
    """
    boxes, labels, image, crowd = [], [], [], []
    for i, t in enumerate(targets):
        b = torch.as_tensor(t["boxes"]).detach().cpu().double().reshape(-1, 4).numpy()
        lab = torch.as_tensor(t["labels"]).detach().cpu().numpy().reshape(-1)
        if len(lab) and (lab.min() < 1 or lab.max() > len(class_names)):
            raise ValueError(f"targets[{i}] labels must lie in 1..{len(class_names)}, got {lab.tolist()}")
        boxes.append(b), labels.append(lab - 1), image.append(np.full(len(lab), i))
        crowd.append(torch.as_tensor(t.get("iscrowd", torch.zeros(len(lab)))).cpu().numpy().astype(bool))
    b = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    return GroundTruth(np.arange(len(targets)), b, np.concatenate(labels).astype(np.int64),
                       np.concatenate(image).astype(np.int64), np.concatenate(crowd),
                       (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), tuple(range(1, len(class_names) + 1)),
                       tuple(class_names))


def predictions_to_detections(predictions: Sequence[dict]) -> dict[str, np.ndarray]:
    """Detections dict (image_ids, category_ids, boxes xyxy, scores) of torchvision predictions.

    Parameters
    ----------
    predictions : list of dict
        ``boxes [D, 4]`` xyxy, ``labels [D]``, ``scores [D]`` per image (image id = position).
    """
    cols: dict[str, list] = {"image_ids": [], "category_ids": [], "boxes": [], "scores": []}
    for i, p in enumerate(predictions):
        n = len(p["scores"])
        cols["image_ids"].append(np.full(n, i))
        cols["category_ids"].append(p["labels"].detach().cpu().numpy())
        cols["boxes"].append(p["boxes"].detach().cpu().double().numpy().reshape(-1, 4))
        cols["scores"].append(p["scores"].detach().cpu().double().numpy())
    return {k: np.concatenate(v) if v else np.zeros((0, 4) if k == "boxes" else 0) for k, v in cols.items()}


def evaluate_model(model: torch.nn.Module, data: Sequence[tuple[torch.Tensor, dict]], class_names: Sequence[str], *,
                   batch_size: int = 8, tau: float = 0.5, variant: str = "code",
                   area_ranges: Mapping[str, tuple[float, float]] | None = None) -> LRPResult:
    """Run ``model`` (eval mode, no grad) on ``data`` = [(image, target), ...] and :func:`evaluate_lrp` it.

    Detections with a label outside 1..C (RetinaNet's unused class 0, the background) are dropped.

    Parameters
    ----------
    model : torchvision detection model
    data : list of (Tensor[3, H, W], target dict)
    class_names : sequence of str [C]
    batch_size : int
    tau, variant, area_ranges
        As in :func:`evaluate_lrp`.
    """
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    preds = []
    with torch.no_grad():
        for a in range(0, len(data), batch_size):
            preds += model([img.to(device) for img, _ in data[a:a + batch_size]])
    model.train(was_training)
    gt = targets_to_ground_truth([t for _, t in data], class_names)
    dets = predictions_to_detections(preds)
    keep = (dets["category_ids"] >= 1) & (dets["category_ids"] <= len(class_names))
    return evaluate_lrp(gt, {k: v[keep] for k, v in dets.items()}, tau=tau, variant=variant,
                        area_ranges=area_ranges)
