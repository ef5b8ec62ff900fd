"""What each RoI-head sampler feeds the second stage: one batch, one model, one seed (numbers only).

:func:`compare_samplers` runs torchvision's stock sampler and bbgen's integrations (OHEM, IoU-balanced,
OFB, OFB + hard negatives, pRoI, pRoI + OHPM — thesis Ch. 3 taxonomy, §4.5–4.6) on the same
RPN proposals and features and reports, per method: positives and negatives per image and their
ratio (fg–bg imbalance, §3.2.1), the IoU histogram of the positives (with their matched GT) and of
the negatives (max IoU; IoU imbalance, §3.4.1), the class mix of the positives (fg–fg imbalance,
§3.2.2: shares, Gini, the rarest GT class's share), the mean per-RoI loss per IoU bin under the current
head (objective side, §3.5), and the selection time against stock (median of paired per-round ratios).
Plots: :mod:`bbgen.plot.samplers`; report section: :mod:`bbgen.report.sampler_section`.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from bbgen.boxes import box_iou
from bbgen.imbalance.data_measures import gini

from .heads import regression_targets, roi_heads_of, roi_losses
from .iou_balanced import use_iou_balanced
from .ohem import use_ohem
from .torchvision import record_samples, use_ofb, use_proi

__all__ = ["METHODS", "compare_samplers", "IOU_EDGES"]

Installer = Callable[[nn.Module, torch.Generator], Any]
METHODS: dict[str, Installer] = {
    "stock": lambda m, g: None,
    "ohem": lambda m, g: use_ohem(m, generator=g),
    "iou_balanced": lambda m, g: use_iou_balanced(m, generator=g),
    "ofb": lambda m, g: use_ofb(m, generator=g),
    "ofb_hard": lambda m, g: use_ofb(m, negative="hard", generator=g),
    "proi": lambda m, g: use_proi(m, generator=g),
    "proi_ohpm": lambda m, g: use_proi(m, ohpm=True, generator=g),
}
SamplerComparison = dict[str, Any]  # JSON-plain: config, iou_edges, methods -> statistics
IOU_EDGES = tuple(round(0.1 * i, 1) for i in range(11))  # 0, 0.1, ..., 1.0


def _capture(model: nn.Module, images: Sequence[Tensor], targets: Sequence[dict], seed: int) -> tuple:
    """(features, proposals, image_shapes, resized targets) at ``roi_heads`` for one training forward."""
    heads, seen = roi_heads_of(model), {}
    hook = heads.register_forward_pre_hook(lambda mod, args: seen.setdefault("args", args))
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():  # the RPN samples from torch's global RNG
            torch.manual_seed(seed)
            model.train()
            model(list(images), [dict(t) for t in targets])
    finally:
        hook.remove()
    return seen["args"]


def _run(model: nn.Module, method: Installer, inputs: tuple, seed: int, stock_seed: int) -> tuple[dict, float]:
    """One selection by ``method`` on the captured inputs: (record, seconds)."""
    heads = roi_heads_of(model)
    device = inputs[1][0].device
    handle = method(model, torch.Generator(device=device).manual_seed(seed))
    try:
        with record_samples(model) as log, torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(stock_seed)  # torchvision's stock sampler draws from the global RNG
            t0 = time.perf_counter()
            heads(*inputs)
            seconds = time.perf_counter() - t0
    finally:
        if handle is not None:
            handle.restore()
    return log[0], seconds


def _time_select(model: nn.Module, method: Installer, inputs: tuple, seed: int) -> float:
    """Seconds of one ``select_training_samples`` call inside the ``roi_heads`` forward."""
    heads = roi_heads_of(model)
    spent: list[float] = []
    handle = method(model, torch.Generator(device=inputs[1][0].device).manual_seed(seed))
    had_own = "select_training_samples" in heads.__dict__  # an integration's replacement
    inner = heads.select_training_samples

    def timed(proposals: list[Tensor], targets: list[dict]) -> tuple:
        t0 = time.perf_counter()
        out = inner(proposals, targets)
        spent.append(time.perf_counter() - t0)
        return out

    heads.select_training_samples = timed
    try:
        with torch.no_grad():
            heads(*inputs)
    finally:
        if had_own:
            heads.select_training_samples = inner
        else:
            heads.__dict__.pop("select_training_samples", None)
        if handle is not None:
            handle.restore()
    return spent[0]


def _stats(heads: nn.Module, inputs: tuple, rec: dict[str, list[Tensor]], num_classes: int,
           edges: np.ndarray) -> dict[str, Any]:
    features, _, image_shapes, targets = inputs
    ious, labels, losses = [], [], []
    reg = regression_targets(heads, rec["proposals"], rec["matched_idxs"], [t["boxes"] for t in targets])
    per_roi = roi_losses(heads, features, rec["proposals"], image_shapes, [lab.clamp(min=0) for lab in rec["labels"]],
                         reg)
    for props, lab, match, t, loss in zip(rec["proposals"], rec["labels"], rec["matched_idxs"], targets, per_roi):
        if t["boxes"].numel() == 0:
            iou = torch.zeros(props.shape[0], dtype=torch.float64)
        else:
            m = box_iou(t["boxes"].double(), props.double())  # [G, R]
            own = m.gather(0, match.clamp(min=0)[None])[0]
            iou = torch.where(lab > 0, own, m.amax(0))  # positives: with their GT; negatives: max over GTs
        ious.append(iou.cpu())
        labels.append(lab.cpu())
        losses.append(loss.double().cpu())
    iou, lab, loss = torch.cat(ious).numpy(), torch.cat(labels).numpy(), torch.cat(losses).numpy()
    pos, neg = lab > 0, lab == 0
    n_img = len(rec["labels"])
    counts = np.bincount(lab[pos], minlength=num_classes)[1:num_classes]
    gt_counts = np.bincount(torch.cat([t["labels"].cpu() for t in targets]).numpy(), minlength=num_classes)
    present = [c for c in range(1, num_classes) if gt_counts[c] > 0]
    rare = min(present, key=lambda c: (gt_counts[c], c)) if present else None
    which = np.clip(np.digitize(iou, edges) - 1, 0, len(edges) - 2)
    loss_sum = np.bincount(which, weights=loss, minlength=len(edges) - 1)
    n_bin = np.bincount(which, minlength=len(edges) - 1)
    return {
        "positives_per_image": float(pos.sum()) / n_img,
        "negatives_per_image": float(neg.sum()) / n_img,
        "fg_bg_ratio": float(pos.sum()) / max(float(neg.sum()), 1.0),
        "positive_iou_hist": np.histogram(iou[pos], bins=edges)[0].tolist(),
        "negative_iou_hist": np.histogram(iou[neg], bins=edges)[0].tolist(),
        "positives_per_class": counts.tolist(),
        "class_share": (counts / max(counts.sum(), 1)).tolist(),
        "class_gini": gini(counts) if counts.sum() else 0.0,
        "rare_class": rare,
        "rare_class_share": float(counts[rare - 1] / counts.sum()) if rare and counts.sum() else 0.0,
        "mean_loss_per_iou_bin": [float(s / n) if n else None for s, n in zip(loss_sum, n_bin)],
        "loss_share_per_iou_bin": (loss_sum / max(loss_sum.sum(), 1e-300)).tolist(),
        "mean_loss": float(loss.mean()) if loss.size else 0.0,
    }


def compare_samplers(model: nn.Module, images: Sequence[Tensor], targets: Sequence[Mapping[str, Tensor]], *,
                     methods: Optional[Mapping[str, Installer]] = None, seed: int = 0,
                     rounds: int = 5) -> SamplerComparison:
    """Compare what each RoI-head sampler trains the second stage on, for the same model, batch and seed.

    Parameters
    ----------
    model : nn.Module
        a torchvision ``FasterRCNN``; its weights are not changed (every selection runs under ``no_grad``).
    images : sequence of Tensor[3, H, W]
        the batch.
    targets : sequence of dict
        torchvision targets (``boxes`` Tensor[G, 4], ``labels`` Tensor[G]).
    methods : mapping of str to callable, optional
        name -> ``install(model, generator)`` returning an integration handle (None for stock);
        default :data:`METHODS`. Must contain ``"stock"`` (the timing baseline).
    seed : int
        seeds the RPN forward, torchvision's stock sampler and every method's generator.
    rounds : int
        timed selections per method (interleaved round by round).

    Returns
    -------
    dict
        ``config``; ``iou_edges``; ``methods``: name -> statistics (see the module docstring) with
        ``select_s`` (median seconds) and ``select_ratio`` (median of the per-round ratios to stock).
    """
    methods = dict(METHODS if methods is None else methods)
    if "stock" not in methods:
        raise ValueError(f"methods must include 'stock' (the baseline), got {sorted(methods)}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(images, Tensor) or not isinstance(images, Sequence) or not images:
        raise ValueError(f"images must be a non-empty sequence of [3, H, W] tensors, got {type(images).__name__}")
    if isinstance(targets, Mapping) or not isinstance(targets, Sequence) or len(targets) != len(images):
        raise ValueError(f"targets must be a sequence of one dict per image ({len(images)}), "
                         f"got {type(targets).__name__}")
    heads = roi_heads_of(model)
    was_training = model.training
    inputs = _capture(model, images, targets, seed)
    num_classes = heads.box_predictor.cls_score.out_features
    edges = np.array(IOU_EDGES)
    out: dict[str, Any] = {"config": {"seed": seed, "rounds": rounds, "num_images": len(images),
                                      "num_classes": num_classes - 1,
                                      "proposals_per_image": [int(p.shape[0]) for p in inputs[1]]},
                           "iou_edges": list(IOU_EDGES), "methods": {}}
    times: dict[str, list[float]] = {name: [] for name in methods}
    for r in range(rounds + 1):  # round 0 records the samples (and warms up)
        for name, method in methods.items():
            if r == 0:
                rec, _ = _run(model, method, inputs, seed, seed)
                out["methods"][name] = _stats(heads, inputs, rec, num_classes, edges)
            else:
                times[name].append(_time_select(model, method, inputs, seed + r))
    for name in methods:
        out["methods"][name]["select_s"] = statistics.median(times[name])
        out["methods"][name]["select_ratio"] = statistics.median(a / b for a, b in zip(times[name], times["stock"]))
    model.train(was_training)
    return out
