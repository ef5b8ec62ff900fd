"""Regression-loss figures: loss imbalance over IoU bins (thesis Fig. 3.11, quantified) and the
seed papers' simulations (Zhang et al. Fig. 7–8, Peng & Yu Fig. 4c/5).

Every function is ``(data, ..., ax=None) -> Axes`` and takes plain mappings, so results loaded
back from the scripts' JSON files plot the same way as fresh ones.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from ._axes import new_axes

__all__ = ["plot_convergence", "plot_iou_boxplots", "plot_loss_shares", "plot_per_bin", "plot_regression_errors"]


_axes = new_axes


def _color(j: int, n: int):
    """Distinct colours for up to 20 series (tab10 for <= 10, tab20 beyond)."""
    import matplotlib

    return f"C{j}" if n <= 10 else matplotlib.colormaps["tab20"](j % 20)


def _check_curves(name: str, curves: object) -> Mapping:
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"{name} must be a non-empty mapping of label -> values")
    return curves


def plot_regression_errors(errors: Mapping[str, Sequence[float]], ax: Axes | None = None, *,
                           log: bool = True) -> Axes:
    """Zhang Fig. 7a/8a: summed regression error ``E(t)`` per loss over iterations ``t = 0..T``.

    Parameters
    ----------
    errors : mapping of str to sequence of float
        ``{loss: E(t) for t = 0..T}``.
    ax : Axes, optional
    log : bool, default True
        Logarithmic y axis.
    """
    ax = _axes(ax)
    for label, curve in _check_curves("errors", errors).items():
        ax.plot(np.arange(len(curve)), np.asarray(curve, dtype=float), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("regression error E(t) (sum of ℓ1)")
    ax.legend()
    return ax


def plot_iou_boxplots(stats: Mapping[str, Sequence[Mapping[str, float]]], snapshots: Sequence[int],
                      ax: Axes | None = None) -> Axes:
    """Zhang Fig. 7b/8b: IoU box plots per loss at the snapshot iterations.

    ``stats[loss][k]`` holds the quantiles ``q05, q25, q50, q75, q95`` and ``mean`` at
    ``snapshots[k]`` (whiskers at the 5th/95th percentiles).

    Parameters
    ----------
    stats : mapping of str to sequence of mapping
        ``{loss: [quantiles at each snapshot]}`` as described above.
    snapshots : sequence of int
        The snapshot iterations.
    ax : Axes, optional
    """
    ax = _axes(ax)
    stats = _check_curves("stats", stats)
    n_loss, n_snap = len(stats), len(snapshots)
    width = 0.8 / n_loss
    for j, (label, per_snap) in enumerate(stats.items()):
        if len(per_snap) != n_snap:
            raise ValueError(f"stats[{label!r}] has {len(per_snap)} entries for {n_snap} snapshots")
        boxes = [dict(whislo=s["q05"], q1=s["q25"], med=s["q50"], q3=s["q75"], whishi=s["q95"],
                      mean=s["mean"], fliers=[]) for s in per_snap]
        pos = np.arange(n_snap) + (j - (n_loss - 1) / 2) * width
        art = ax.bxp(boxes, positions=pos, widths=width * 0.9, showmeans=True, patch_artist=True,
                     manage_ticks=False, meanprops=dict(marker=".", markersize=3))
        for patch in art["boxes"]:
            patch.set_facecolor(f"C{j}")
        ax.plot([], [], color=f"C{j}", lw=6, label=label)
    ax.set_xticks(np.arange(n_snap), [str(s) for s in snapshots])
    ax.set_xlabel("iteration")
    ax.set_ylabel("IoU")
    ax.legend(fontsize="small")
    return ax


def plot_convergence(curves: Mapping[str, Sequence[float]], ax: Axes | None = None, *,
                     ylabel: str = "IoU with the target") -> Axes:
    """Peng & Yu Fig. 4c/5: one convergence curve per label over iterations.

    Parameters
    ----------
    curves : mapping of str to sequence of float
        ``{label: value per iteration}``.
    ax : Axes, optional
    ylabel : str, default "IoU with the target"
        Label of the y axis.
    """
    ax = _axes(ax)
    for label, curve in _check_curves("curves", curves).items():
        ax.plot(np.arange(len(curve)), np.asarray(curve, dtype=float), label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_loss_shares(shares: Mapping[str, Sequence[float]], bins: Sequence[Sequence[float]],
                     ax: Axes | None = None, *, ylabel: str = "share of total loss") -> Axes:
    """Thesis Fig. 3.11, quantified: each IoU bin's share of a loss (or gradient), grouped bars per loss.

    Parameters
    ----------
    shares : mapping of str to sequence of float
        ``{loss: share per bin}``, e.g. ``RegressionLossProfile.loss_share[distribution]``.
    bins : sequence of (float, float)
        The IoU bins ``[lo, hi)``.
    ax : Axes, optional
    ylabel : str, default "share of total loss"
        Label of the y axis.
    """
    ax = _axes(ax)
    shares = _check_curves("shares", shares)
    n_loss = len(shares)
    width = 0.8 / n_loss
    for j, (label, values) in enumerate(shares.items()):
        if len(values) != len(bins):
            raise ValueError(f"shares[{label!r}] has {len(values)} values for {len(bins)} bins")
        ax.bar(np.arange(len(bins)) + (j - (n_loss - 1) / 2) * width, values, width=width, label=label,
               color=_color(j, n_loss))
    ax.set_xticks(np.arange(len(bins)), [f"[{lo:.1f}, {hi:.1f})" for lo, hi in bins])
    ax.set_xlabel("IoU bin")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="x-small", ncol=2)
    return ax


def plot_per_bin(values: Mapping[str, Sequence[float]], bins: Sequence[Sequence[float]],
                 ax: Axes | None = None, *, ylabel: str = "mean loss", normalize: bool = True) -> Axes:
    """A per-IoU-bin statistic (mean loss or gradient norm) as one line per loss.

    With ``normalize`` every line is divided by its value in the first (lowest-IoU) bin, so losses
    of different scales share one axis and the slope shows how fast the weight decays with IoU.

    Parameters
    ----------
    values : mapping of str to sequence of float
        ``{loss: value per bin}``, e.g. ``RegressionLossProfile.mean_loss``.
    bins : sequence of (float, float)
        The IoU bins ``[lo, hi)``.
    ax : Axes, optional
    ylabel : str, default "mean loss"
        Label of the y axis.
    normalize : bool, default True
        Divide every line by its value in the first bin.
    """
    ax = _axes(ax)
    values = _check_curves("values", values)
    centres = [(lo + hi) / 2 for lo, hi in bins]
    for j, (label, v) in enumerate(values.items()):
        if len(v) != len(bins):
            raise ValueError(f"values[{label!r}] has {len(v)} values for {len(bins)} bins")
        v = np.asarray(v, dtype=float)
        if normalize and v[0] != 0:
            v = v / v[0]
        ax.plot(centres, v, marker="o", ms=3, label=label, color=_color(j, len(values)))
    ax.set_xlabel("IoU (bin centre)")
    ax.set_ylabel(ylabel + (" / first bin" if normalize else ""))
    ax.legend(fontsize="x-small", ncol=2)
    return ax
