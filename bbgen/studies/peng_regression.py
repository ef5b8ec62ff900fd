"""Peng & Yu (2021) Fig. 4c and Fig. 5: Smooth-EIoU, the convexification technique and SOT.

* Fig. 4c: the box (0, 0, 0.5, 0.5) is regressed to (0, 0, 1, 1) by minimising −EIoU and
  Smooth-EIoU = (1 − EIoU)² (Eq. 23), both with the steady optimisation technique (SOT, Eq. 28).
* Fig. 5a: Smooth-EIoU with and without SOT, target and start scaled together (targets
  (0, 0, s, s), starts (0, 0, s/2, s/2), s = 1, 2, 4: small, medium, large).
* Fig. 5b: target (0, 0, 1, 1), starts (0, 0, s, s), s = 0.5, 2, 4.

Gradients are the analytic ones of Eq. 25–27 (the paper's Alg. 2); all boxes of one figure are one
batched tensor. The paper gives neither a learning rate nor an iteration count; both are arguments,
and :func:`convergence_table` reports the iteration at which each start first reaches EIoU ≥
:data:`CONVERGED` within a longer budget, for several learning rates — the "trapped" verdict of
Fig. 5b depends on both (at lr 0.1 the (0, 0, 4, 4) start without SOT converges, only after 200).

Plots: :func:`bbgen.plot.simulations.plot_peng_convergence`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..losses import extended_iou, extended_iou_grad, extended_iou_loss, smooth_extended_iou_grad, sot_step
from .claims import Claim

__all__ = ["CONVERGED", "LOSS_NAMES", "ConvergenceTable", "PengSimulation", "check_claims", "convergence_table",
           "first_converged", "regress", "simulate_figures"]

CONVERGED = 0.99  # EIoU regarded as having reached the target
LOSS_NAMES = ("minus_eiou", "smooth_eiou")
_SIZES = ("small", "medium", "large")
_FIG5 = {  # figure -> [(size, start, target)]
    "fig5a": [(z, (0, 0, s / 2, s / 2), (0, 0, s, s)) for z, s in zip(_SIZES, (1, 2, 4))],
    "fig5b": [(z, (0, 0, s, s), (0, 0, 1, 1)) for z, s in zip(_SIZES, (0.5, 2, 4))],
}


def regress(starts: Tensor | Sequence, targets: Tensor | Sequence, *, loss: str, sot: bool, lr: float,
            iterations: int) -> dict[str, list]:
    """Gradient-descent trajectories of a batch of boxes, each towards its own target.

    Parameters
    ----------
    starts, targets : Tensor[K, 4] or Tensor[4]
        xyxy start boxes and targets (converted to float64).
    loss : str
        ``"minus_eiou"`` (−EIoU) or ``"smooth_eiou"`` ((1 − EIoU)², Eq. 23).
    sot : bool
        Update with SOT (Eq. 28, :func:`bbgen.losses.sot_step`) instead of ``box − lr·∇``.
    lr : float
        Learning rate α > 0.
    iterations : int
        Number of updates.

    Returns
    -------
    dict
        ``eiou`` and ``loss``: ``[K][iterations + 1]`` lists (index 0 = start; ``[iterations + 1]``
        for a single box), ``final_box``: the boxes after the last update.
    """
    if loss not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {LOSS_NAMES}, got {loss!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    box = torch.as_tensor(starts, dtype=torch.float64)
    tgt = torch.as_tensor(targets, dtype=torch.float64).expand_as(box)
    eious, losses = [], []
    for k in range(iterations + 1):
        e = extended_iou(box, tgt)
        eious.append(e)
        losses.append(-e if loss == "minus_eiou" else extended_iou_loss(box, tgt))
        if k == iterations:
            break
        grad = -extended_iou_grad(box, tgt) if loss == "minus_eiou" else smooth_extended_iou_grad(box, tgt)
        box = sot_step(box, tgt, grad, lr=lr) if sot else box - lr * grad
    return {"eiou": torch.stack(eious, -1).tolist(), "loss": torch.stack(losses, -1).tolist(),
            "final_box": box.tolist()}


def first_converged(curve: Sequence[float], level: float = CONVERGED) -> int | None:
    """First iteration whose EIoU is ``>= level`` (``None`` if never).

    Parameters
    ----------
    curve : sequence of float
        EIoU after each iteration (index 0 = start).
    level : float
        Convergence level (default :data:`CONVERGED`).
    """
    return next((i for i, v in enumerate(curve) if v >= level), None)


def _fig5_runs(lr: float, iterations: int) -> dict[str, dict[str, dict]]:
    cases = [(fig, *case) for fig, figure_cases in _FIG5.items() for case in figure_cases]
    out: dict[str, dict[str, dict]] = {fig: {} for fig in _FIG5}
    for sot in (True, False):  # both figures' boxes in one batch
        traj = regress([c[2] for c in cases], [c[3] for c in cases], loss="smooth_eiou", sot=sot, lr=lr,
                       iterations=iterations)
        for j, (fig, size, _, _) in enumerate(cases):
            out[fig][f"{size} {'with' if sot else 'without'} SOT"] = {k: traj[k][j] for k in traj}
    return out


@dataclass
class PengSimulation:
    """Trajectories of Fig. 4c and Fig. 5, made by :func:`simulate_figures`.

    Attributes
    ----------
    lr : float
        Learning rate α.
    iterations : int
        Number of updates.
    fig4c : dict of str to dict
        Per loss (:data:`LOSS_NAMES`): ``eiou`` and ``loss`` lists (index 0 = start) and ``final_box``.
    fig5a, fig5b : dict of str to dict
        The same per start, keyed ``"small with SOT"`` … ``"large without SOT"``.
    """

    lr: float
    iterations: int
    fig4c: dict[str, dict]
    fig5a: dict[str, dict]
    fig5b: dict[str, dict]

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def simulate_figures(lr: float = 0.1, iterations: int = 200) -> PengSimulation:
    """All trajectories of Fig. 4c, 5a and 5b at one learning rate and iteration count.

    Parameters
    ----------
    lr : float
        Learning rate α (the paper gives none).
    iterations : int
        Number of updates (the paper gives none).
    """
    fig4c = {}
    for name in LOSS_NAMES:
        traj = regress([[0, 0, 0.5, 0.5]], [[0, 0, 1, 1]], loss=name, sot=True, lr=lr, iterations=iterations)
        fig4c[name] = {k: v[0] for k, v in traj.items()}
    fig5 = _fig5_runs(lr, iterations)
    return PengSimulation(float(lr), iterations, fig4c, fig5["fig5a"], fig5["fig5b"])


@dataclass
class ConvergenceTable:
    """Convergence iterations of every Fig. 5 start, made by :func:`convergence_table`.

    Attributes
    ----------
    lrs : list of float
        Learning rates tried.
    budget : int
        Updates per run.
    iterations : dict of str to dict of str to int or None
        ``iterations[repr(lr)][f"{fig} {size} with/without SOT"]``: first iteration with EIoU ≥
        :data:`CONVERGED` (None: not within the budget).
    final_eiou : dict of str to dict of str to float
        Same keys: the EIoU after the last update, telling a trapped box (low) from one that oscillates
        near the target (high).
    """

    lrs: list[float]
    budget: int
    iterations: dict[str, dict[str, int | None]]
    final_eiou: dict[str, dict[str, float]]

    def get(self, lr: float, key: str) -> int | None:
        """Convergence iteration of ``key`` (e.g. ``"fig5b large without SOT"``) at learning rate ``lr``."""
        return self.iterations[repr(float(lr))][key]

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def convergence_table(lrs: Sequence[float] = (0.01, 0.1, 0.3), budget: int = 5000) -> ConvergenceTable:
    """Iteration at which every Fig. 5 start converges, with and without SOT, per learning rate.

    Parameters
    ----------
    lrs : sequence of float
        Learning rates to try.
    budget : int
        Maximal number of updates per run.
    """
    table, final = {}, {}
    for lr in lrs:
        runs = [(f"{fig} {key}", t["eiou"]) for fig, by_key in _fig5_runs(float(lr), budget).items()
                for key, t in by_key.items()]
        table[repr(float(lr))] = {key: first_converged(curve) for key, curve in runs}
        final[repr(float(lr))] = {key: curve[-1] for key, curve in runs}
    return ConvergenceTable([float(v) for v in lrs], budget, table, final)


def _oscillation(curve: Sequence[float]) -> tuple[float, int]:
    """(std, number of direction changes) over the second half of a curve."""
    tail = torch.tensor(curve[len(curve) // 2:], dtype=torch.float64)
    d = tail.diff()
    return float(tail.std()), int(((d[1:] * d[:-1]) < 0).sum())


def check_claims(sim: PengSimulation, table: ConvergenceTable) -> list[Claim]:
    """Peng & Yu's statements about Fig. 4c and Fig. 5, tested on ``sim`` (curves) and ``table``
    (convergence iterations at ``sim.lr`` within ``table.budget``; ``sim.lr`` must be in ``table.lrs``).

    Parameters
    ----------
    sim : PengSimulation
        Trajectories from :func:`simulate_figures`.
    table : ConvergenceTable
        From :func:`convergence_table`, including the learning rate ``sim.lr``.
    """
    if sim.lr not in table.lrs:
        raise ValueError(f"table must include the simulation's lr {sim.lr}, got lrs {table.lrs}")
    m, s = sim.fig4c["minus_eiou"], sim.fig4c["smooth_eiou"]
    std, changes = _oscillation(m["eiou"])
    monotone = all(b <= a + 1e-12 for a, b in zip(s["loss"], s["loss"][1:]))
    it = first_converged(s["eiou"])
    conv = lambda fig, sot: [table.get(sim.lr, f"{fig} {z} {sot} SOT") for z in _SIZES]  # noqa: E731
    inf = lambda xs: [math.inf if i is None else i for i in xs]  # noqa: E731
    a_with = [sim.fig5a[f"{z} with SOT"]["eiou"] for z in _SIZES]
    gap = max(abs(x - y) for c in a_with[1:] for x, y in zip(c, a_with[0]))
    a_plain, b_sot, b_plain = conv("fig5a", "without"), conv("fig5b", "with"), conv("fig5b", "without")
    spread = lambda xs: max(inf(xs)) - min(inf(xs))  # noqa: E731
    budget = f"lr {sim.lr}, budget {table.budget}"
    key = "fig5b large without SOT"
    trapped = {lr: f"{table.get(lr, key)} (final EIoU {table.final_eiou[repr(lr)][key]:.3f})" for lr in table.lrs}
    return [
        Claim("Fig. 4c", "-EIoU (with SOT) oscillates severely and shows no tendency to converge",
              std > 1e-2 and changes > 5 and 1 - m["eiou"][-1] > 1e-3,
              f"second-half EIoU std={std:.3g}, {changes} direction changes, final EIoU={m['eiou'][-1]:.4f} "
              f"(lr {sim.lr}, {sim.iterations} iterations)"),
        Claim("Fig. 4c", "Smooth-EIoU (with SOT) converges quickly and smoothly to the optimum",
              monotone and it is not None and 1 - s["eiou"][-1] < 1e-4,
              f"loss monotone={monotone}, EIoU>={CONVERGED} at iteration {it}, final 1-EIoU="
              f"{1 - s['eiou'][-1]:.2e} (lr {sim.lr})"),
        Claim("Fig. 5a", "with SOT the convergence is the same regardless of the size", gap < 1e-5,
              f"max |EIoU difference| between sizes = {gap:.2e} over {sim.iterations} iterations (not 0 only "
              f"through the eps = 1e-7 guard on U_e)"),
        Claim("Fig. 5a", "without SOT, the larger the size the slower the convergence",
              inf(a_plain)[0] < inf(a_plain)[1] < inf(a_plain)[2],
              f"iterations to EIoU>={CONVERGED} (small, medium, large): {a_plain} ({budget})"),
        Claim("Fig. 5b", "with SOT all three starts converge", all(i is not None for i in b_sot),
              f"iterations to EIoU>={CONVERGED}: {b_sot} ({budget})"),
        Claim("Fig. 5b", "without SOT convergence is more sensitive to the start size",
              spread(b_plain) > spread(b_sot), f"iterations without SOT: {b_plain}; with SOT: {b_sot} ({budget})"),
        Claim("Fig. 5b", "without SOT the (0,0,4,4) start is trapped and does not reach the target",
              table.get(sim.lr, key) is None,
              f"iteration reaching EIoU>={CONVERGED} per lr (budget {table.budget}): {trapped}; within the "
              f"{sim.iterations}-iteration curve at lr {sim.lr}: "
              f"{first_converged(sim.fig5b['large without SOT']['eiou'])}"),
    ]
