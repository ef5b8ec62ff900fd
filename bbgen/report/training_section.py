"""Report section for the objective imbalance of a training run (thesis §3.5), from a saved monitor log.

The log is what :meth:`bbgen.imbalance.objective.ObjectiveRecord.save` writes; the command line adds
this section with ``bbgen report --training-log LOG``. The dataset the report profiles is not used here.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Union

from ..datasets.annotations import Annotations
from ..imbalance.objective import ObjectiveRecord, load_objective_log, objective_shares
from ..plot.objective import plot_objective_shares
from .sections import FigureSpec, Section

__all__ = ["training_section"]


def training_section(ann: Annotations, *, log: Union[str, Path, ObjectiveRecord]) -> Section:
    """Loss and gradient shares per loss term over training, and the monitor's cost.

    Parameters
    ----------
    ann : Annotations
        the report's dataset (unused; section builders all take it).
    log : str, Path or ObjectiveRecord
        a saved objective-monitor log, or the record itself.
    """
    rec = log if isinstance(log, ObjectiveRecord) else load_objective_log(log)
    shares = objective_shares(rec)
    cost = rec.cost["seconds"]
    numbers = {
        "steps_seen": rec.steps_seen,
        "measured_steps": len(shares["steps"]),
        "interval": rec.interval,
        "world_size": rec.world_size,
        "shared_parameters": rec.num_shared_params,
        "terms": shares["terms"],
        "mean_loss_share": shares["mean_loss_share"],
        "mean_grad_share": shares["mean_grad_share"],
        "mean_grad_norm": shares["mean_grad_norm"],
        "dominant_grad_term": shares["dominant_grad_term"],
        "grad_norm_ratio": shares["grad_norm_ratio"],
        "monitor_seconds_per_measured_step": sum(cost) / len(cost) if cost else None,
    }
    figs = (FigureSpec("grad_share", "Gradient-norm share per loss term", partial(plot_objective_shares, shares)),
            FigureSpec("loss_share", "Loss share per loss term", partial(plot_objective_shares, shares, kind="loss")))
    text = ("Objective imbalance (thesis §3.5): every interval-th step, each loss term's value times its weight, "
            "and the L2 norm of its gradient with respect to the shared parameters (backbone + FPN by default); "
            "shares are of the per-step sums. With several processes the numbers are means over the ranks.")
    return Section("objective", "Objective imbalance during training", numbers, figs, text,
                   highlights=("dominant_grad_term", "grad_norm_ratio", "measured_steps"))
