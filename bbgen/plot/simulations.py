"""Figures of the seed papers' regression simulations: Zhang et al. Fig. 7–8 (Alg. 1, data from
:mod:`bbgen.studies.zhang_regression`) and Peng & Yu Fig. 4c/5 (:mod:`bbgen.studies.peng_regression`).

Every function is ``(data, ..., ax=None) -> Axes``; a Zhang result may be a
:class:`~bbgen.studies.zhang_regression.SetupResult` or its ``to_dict()`` loaded back from JSON. The
reading and the parameterisation of a run are in every title and legend entry.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from matplotlib.axes import Axes

from ._axes import new_axes
from .losses import plot_convergence, plot_iou_boxplots, plot_regression_errors

if TYPE_CHECKING:
    from ..studies.peng_regression import PengSimulation
    from ..studies.zhang_regression import SetupResult

__all__ = ["plot_peng_figure", "plot_zhang_errors", "plot_zhang_ious"]


def _fields(result: object) -> Mapping:
    if isinstance(result, Mapping):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    raise TypeError(f"result must be a SetupResult or a mapping, got {type(result).__name__}")


def _title(r: Mapping) -> str:
    if "label" in r:
        return r["label"]
    step = "" if r.get("step", "alg1") == "alg1" else f", step {r['step']}"
    return f"setup {r['setup']}, {r['reading']} reading, {r['param']}{step}"


def plot_zhang_errors(result: SetupResult | Mapping, ax: Axes | None = None, *, normalize: bool = True) -> Axes:
    """Zhang Fig. 7a/8a: regression error per loss over the iterations of Alg. 1.

    Parameters
    ----------
    result : SetupResult or mapping
        A run of :func:`bbgen.studies.zhang_regression.run_setup` (or its ``to_dict()``).
    ax : Axes, optional
        Axes to draw on (a new figure when None).
    normalize : bool
        Plot ``E(t)/E(0)`` (comparable across readings) instead of ``E(t)``.
    """
    r = _fields(result)
    curves = {f"{name} ({r['param']})": [v / c[0] for v in c] if normalize else c for name, c in r["error"].items()}
    ax = plot_regression_errors(curves, ax=new_axes(ax))
    ax.set_ylabel(f"E(t){'/E(0)' if normalize else ''}, ℓ1 in {r['param']}")
    ax.set_title(f"{_title(r)}: regression error (Fig. {6 + r['setup']}a)", fontsize="medium")
    return ax


def plot_zhang_ious(result: SetupResult | Mapping, ax: Axes | None = None) -> Axes:
    """Zhang Fig. 7b/8b: IoU box plots per loss at the snapshot iterations (whiskers 5th/95th percentile).

    Parameters
    ----------
    result : SetupResult or mapping
        The run, as for :func:`plot_zhang_errors`; its ``iou_stats`` and ``snapshots`` are drawn.
    ax : Axes, optional
        Where to draw; None makes a new figure.
    """
    r = _fields(result)
    stats = {f"{name} ({r['param']})": s for name, s in r["iou_stats"].items()}
    ax = plot_iou_boxplots(stats, r["snapshots"], ax=new_axes(ax))
    ax.set_title(f"{_title(r)}: IoU over iterations (Fig. {6 + r['setup']}b)", fontsize="medium")
    return ax


def plot_peng_figure(sim: PengSimulation | Mapping, figure: str, ax: Axes | None = None) -> Axes:
    """Peng & Yu Fig. 4c (``figure="fig4c"``: −EIoU vs Smooth-EIoU with SOT) or Fig. 5a/5b (Smooth-EIoU
    with and without SOT, log scale) as loss curves.

    Parameters
    ----------
    sim : PengSimulation or mapping
        From :func:`bbgen.studies.peng_regression.simulate_figures` (or its ``to_dict()``).
    figure : str
        ``"fig4c"``, ``"fig5a"`` or ``"fig5b"``.
    ax : Axes, optional
        Axes to draw on (a new figure when None).
    """
    s = _fields(sim)
    titles = {"fig4c": "Fig. 4c (both with SOT)", "fig5a": "Fig. 5a: target and start scaled",
              "fig5b": "Fig. 5b: start size varies"}
    if figure not in titles:
        raise ValueError(f"figure must be one of {tuple(titles)}, got {figure!r}")
    if figure == "fig4c":
        names = {"minus_eiou": "-EIoU", "smooth_eiou": "Smooth-EIoU"}
        ax = plot_convergence({names[k]: v["loss"] for k, v in s[figure].items()}, ax=new_axes(ax), ylabel="loss")
    else:
        ax = plot_convergence({k: v["loss"] for k, v in s[figure].items()}, ax=new_axes(ax),
                              ylabel="Smooth-EIoU loss")
        ax.set_yscale("log")
    ax.set_title(f"Peng & Yu {titles[figure]}, lr {s['lr']}", fontsize="medium")
    return ax
