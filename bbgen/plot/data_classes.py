"""Class-imbalance figures: thesis Fig. 3.5 (a, b, c) and the batch-level view of Fig. 3.6.

Every function is ``(profile, ax=None) -> Axes``; with ``ax=None`` a new figure is created.
The y axes are logarithmic, as in the thesis.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from ._axes import new_axes

from ..imbalance.data_batch import BatchProfile
from ..imbalance.data_classes import ClassProfile

__all__ = ["plot_instances_per_class", "plot_images_by_instances", "plot_images_by_classes",
           "plot_batch_class_shares", "new_axes", "log_y"]

_MAX_TICK_LABELS = 40




def log_y(ax: Axes, values: np.ndarray) -> Axes:
    """Log-scale the y axis (as the thesis figures do) when there is something positive to show.

    Parameters
    ----------
    ax : Axes
        The axes to change.
    values : ndarray
        The plotted values.
    """
    if np.any(np.asarray(values) > 0):
        ax.set_yscale("log")
    return ax


def plot_instances_per_class(profile: ClassProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.5a: number of instances per class, classes sorted by frequency, log y.

    The long tail of foreground–foreground class imbalance.

    Parameters
    ----------
    profile : ClassProfile
        Instances of each class, sorted in decreasing order.
    ax : Axes, optional
    """
    ax = new_axes(ax)
    order = profile.order
    counts = profile.instances_per_class[order]
    x = np.arange(len(order))
    ax.bar(x, np.maximum(counts, 0.5), width=1.0, color="C0", linewidth=0)  # 0.5 keeps empty classes visible on log
    log_y(ax, counts)
    ax.set_xlim(-0.5, len(order) - 0.5)
    if len(order) <= _MAX_TICK_LABELS:
        ax.set_xticks(x, [profile.category_names[i] for i in order], rotation=90, fontsize=7)
    else:
        ax.set_xlabel("classes (sorted by number of instances)")
    ax.set_ylabel("number of instances")
    ax.set_title("Instances per class")
    return ax


def _count_hist(ax: Axes, counts: np.ndarray, xlabel: str, title: str) -> Axes:
    x = np.arange(len(counts))
    nz = counts > 0
    ax.bar(x[nz], counts[nz], width=0.9, color="C1", linewidth=0)
    log_y(ax, counts)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of images")
    ax.set_title(title)
    return ax


def plot_images_by_instances(profile: ClassProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.5b: number of images vs number of instances in the image, log y.

    How many images hold each number of instances.

    Parameters
    ----------
    profile : ClassProfile
        Source of the histogram of instances per image.
    ax : Axes, optional
    """
    return _count_hist(new_axes(ax), profile.images_by_instances, "number of instances in the image",
                       "Instances per image")


def plot_images_by_classes(profile: ClassProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.5c: number of images vs number of distinct classes in the image, log y.

    How many images show each number of classes.

    Parameters
    ----------
    profile : ClassProfile
        Its ``images_by_classes`` counts are drawn.
    ax : Axes, optional
    """
    return _count_hist(new_axes(ax), profile.images_by_classes, "number of classes in the image",
                       "Classes per image")


def plot_batch_class_shares(profile: BatchProfile, ax: Axes | None = None) -> Axes:
    """Fig. 3.6 as statistics: within-batch share of the most frequent classes (5-95 % whiskers,
    quartile boxes, median) against the dataset share (black diamonds).

    Parameters
    ----------
    profile : BatchProfile
        Batch-level class shares against the dataset shares (thesis Fig. 3.6).
    ax : Axes, optional
    """
    ax = new_axes(ax)
    q = profile.share_quantiles
    stats = [{"whislo": r[0], "q1": r[1], "med": r[2], "q3": r[3], "whishi": r[4], "mean": m, "label": n}
             for r, m, n in zip(q, profile.share_mean, profile.class_names)]
    ax.bxp(stats, showfliers=False, showmeans=False)
    x = np.arange(1, len(stats) + 1)
    ax.scatter(x, profile.dataset_share, marker="D", s=25, color="k", zorder=3, label="dataset share")
    ax.set_xticks(x, list(profile.class_names), rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"share of boxes in a batch of {profile.batch_size} images")
    ax.set_title(f"Batch-level class mix ({profile.num_batches} simulated batches)")
    ax.legend(loc="upper right", fontsize=8)
    return ax
