"""Report section comparing RoI-head samplers (fg–bg, fg–fg, IoU and objective imbalance of what they select).

Built from the plain dict of :func:`bbgen.integrations.compare.compare_samplers` (computed by the
caller, who owns the model and batch); the dataset the report profiles is not used.
"""
from __future__ import annotations

from functools import partial
from typing import Mapping

from ..datasets.annotations import Annotations
from ..plot.samplers import Comparison, plot_sampler_class_mix, plot_sampler_cost, plot_sampler_iou, plot_sampler_loss_per_bin
from .sections import FigureSpec, Section

__all__ = ["sampler_section"]

_KEYS = ("positives_per_image", "negatives_per_image", "fg_bg_ratio", "class_gini", "rare_class_share", "mean_loss",
         "select_s", "select_ratio")


def sampler_section(ann: Annotations, *, comparison: Comparison) -> Section:
    """What each sampler feeds the second stage, with the comparison's figures.

    Parameters
    ----------
    ann : Annotations
        the report's dataset (unused; section builders all take it).
    comparison : mapping
        :func:`~bbgen.integrations.compare.compare_samplers` output.
    """
    methods = comparison.get("methods") if isinstance(comparison, Mapping) else None
    if not isinstance(methods, Mapping) or not methods:
        raise ValueError("comparison must be compare_samplers(...) output with a non-empty 'methods' mapping")
    numbers = {"config": dict(comparison.get("config", {})), "iou_edges": list(comparison["iou_edges"]),
               "methods": {name: {k: s[k] for k in _KEYS} | {"positive_iou_hist": s["positive_iou_hist"],
                                                           "negative_iou_hist": s["negative_iou_hist"],
                                                           "class_share": s["class_share"]}
                           for name, s in methods.items()}}
    figs = (FigureSpec("positive_iou", "IoU of the sampled positives", partial(plot_sampler_iou, comparison)),
            FigureSpec("negative_iou", "IoU of the sampled negatives",
                       partial(plot_sampler_iou, comparison, kind="negative")),
            FigureSpec("class_mix", "Class mix of the positives", partial(plot_sampler_class_mix, comparison)),
            FigureSpec("loss_per_bin", "Loss per IoU bin", partial(plot_sampler_loss_per_bin, comparison)),
            FigureSpec("cost", "Selection cost vs stock", partial(plot_sampler_cost, comparison)))
    text = ("Same model, batch and seed for every sampler; statistics over the RoIs each one hands the box head. "
            "Select time: median over rounds of the per-round ratio to torchvision's stock sampler.")
    return Section("samplers", "RoI samplers: what the second stage trains on", numbers, figs, text)
