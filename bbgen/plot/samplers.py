"""RoI-sampler comparison figures: what each sampler feeds the second stage (thesis Ch. 3 taxonomy).

Every function takes the plain dict of :func:`bbgen.integrations.compare.compare_samplers` (or its
JSON loaded back) and ``ax=None``, and returns the axes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from ._axes import new_axes

Comparison = Mapping[str, Any]  # compare_samplers(...) output, or its JSON loaded back

__all__ = ["plot_sampler_iou", "plot_sampler_class_mix", "plot_sampler_loss_per_bin", "plot_sampler_cost"]


def _methods(result: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(result, Mapping) or not isinstance(result.get("methods"), Mapping) or not result["methods"]:
        raise ValueError("result must be compare_samplers(...) output with a non-empty 'methods' mapping")
    return result["methods"]


def _grouped(ax: Axes, result: Mapping[str, Any], key: str, normalise: bool) -> Axes:
    methods = _methods(result)
    edges = np.asarray(result["iou_edges"], dtype=float)
    centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)[0] * 0.8 / len(methods)
    for j, (name, stats) in enumerate(methods.items()):
        y = np.array([np.nan if v is None else v for v in stats[key]], dtype=float)
        if normalise:
            y = y / max(np.nansum(y), 1)
        ax.bar(centers - np.diff(edges)[0] * 0.4 + (j + 0.5) * width, y, width, label=name)
    ax.set_xticks(edges)
    ax.set_xlabel("IoU (positives: with their GT; negatives: max over GTs)")
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_sampler_iou(result: Comparison, ax: Axes | None = None, *, kind: str = "positive") -> Axes:
    """IoU histogram of the sampled positives (or negatives) per method, as shares.

    Parameters
    ----------
    result : mapping
        :func:`~bbgen.integrations.compare.compare_samplers` output (``positive_iou_hist`` /
        ``negative_iou_hist`` per method).
    ax : Axes, optional
        axes to draw into (default: a new figure).
    kind : {"positive", "negative"}
        which RoIs.
    """
    if kind not in ("positive", "negative"):
        raise ValueError(f"kind must be 'positive' or 'negative', got {kind!r}")
    ax = _grouped(new_axes(ax), result, f"{kind}_iou_hist", normalise=True)
    ax.set_ylabel(f"share of the {kind}s")
    ax.set_title(f"IoU of the sampled {kind}s (thesis §3.4.1)")
    return ax


def plot_sampler_loss_per_bin(result: Comparison, ax: Axes | None = None) -> Axes:
    """Mean per-RoI loss (current head) per IoU bin of the sampled RoIs, per method.

    Parameters
    ----------
    result : mapping
        :func:`~bbgen.integrations.compare.compare_samplers` output (``mean_loss_per_iou_bin``).
    ax : Axes, optional
        where to draw; None makes a figure.
    """
    ax = _grouped(new_axes(ax), result, "mean_loss_per_iou_bin", normalise=False)
    ax.set_ylabel("mean Fast R-CNN loss per RoI")
    ax.set_title("loss per IoU bin of the sampled RoIs")
    return ax


def _bar_axes(result: Mapping[str, Any], ax: Axes | None) -> tuple[Mapping[str, Mapping[str, Any]], list[str], Axes]:
    methods = _methods(result)
    return methods, list(methods), new_axes(ax)


def _annotate(ax: Axes, xs_ys_texts: list[tuple[float, float, str]], ylabel: str, title: str) -> Axes:
    for x, y, text in xs_ys_texts:
        ax.text(x, y, text, ha="center", va="bottom", fontsize="small")
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def plot_sampler_class_mix(result: Comparison, ax: Axes | None = None) -> Axes:
    """Class shares among the sampled positives per method (stacked), Gini above each bar.

    Parameters
    ----------
    result : mapping
        compare_samplers output: ``class_share`` and ``class_gini`` of every method.
    ax : Axes, optional
        target axes, or None for a new figure.
    """
    methods, names, ax = _bar_axes(result, ax)
    shares = np.array([methods[n]["class_share"] for n in names], dtype=float)  # [M, C]
    bottom = np.zeros(len(names))
    for c in range(shares.shape[1]):
        ax.bar(names, shares[:, c], bottom=bottom, label=f"class {c + 1}")
        bottom += shares[:, c]
    ax.set_ylim(0, 1.12)
    ax.legend(fontsize="small")
    return _annotate(ax, [(x, 1.01, f"G={methods[n]['class_gini']:.2f}") for x, n in enumerate(names)],
                     "share of the positives", "class mix of the positives (thesis §3.2.2)")


def plot_sampler_cost(result: Comparison, ax: Axes | None = None) -> Axes:
    """Selection time per method as a multiple of stock's (log scale), fg:bg ratio above each bar.

    Parameters
    ----------
    result : mapping
        compare_samplers output: ``select_ratio`` and ``fg_bg_ratio`` of every method.
    ax : Axes or None
        axes for the bars (None: new figure).
    """
    methods, names, ax = _bar_axes(result, ax)
    ratios = [methods[n]["select_ratio"] for n in names]
    ax.bar(names, ratios, color="C7")
    ax.set_yscale("log")
    return _annotate(ax, [(x, r, f"fg:bg {methods[n]['fg_bg_ratio']:.2f}") for x, (n, r) in enumerate(zip(names, ratios))],
                     "select time / stock (paired median)", "selection cost and fg:bg ratio")
