"""Zhang et al. (2022) Algorithm 1: synthetic box-regression simulations (their Fig. 6–8).

Every anchor is regressed to every target by gradient descent on the loss — IoU, GIoU, CIoU, EIoU
(Eq. 7) and Focal-EIoU (Eq. 10, γ = 0.5) — with Alg. 1's schedule (μ = 0.1 for t ≤ 0.8T, 0.01 for
t ≤ 0.9T, 0.001 after; T = 200). All anchor–target pairs are one batched tensor.

* Setup 1 (Fig. 6a/7): 1000 centres uniform in the 20×20 square around (10, 10), 7×7 anchors per
  centre (areas 50, 67, 75, 100, 133, 150, 200 × aspect ratios 1:4 … 4:1), 7 targets of area 100
  at (10, 10).
* Setup 2 (Fig. 6b/8): 100 centres in the 2.5-sided square around (10, 10), 3×3 anchors (areas
  50, 100, 150 × 1:3, 1:1, 3:1), 3 targets (area 100; 1:3, 1:1, 3:1).

**Readings of the scale** (:data:`READINGS`). IoU-family losses are scale-invariant, so their
gradient shrinks as 1/size and a step ``μ∇`` moves a box by ``μ/size²`` of its size. Alg. 1's
schedule comes from the DIoU paper's simulation (Zheng et al., AAAI 2020), whose boxes have unit
size; with Zhang's printed areas (~100) the same μ is 100× too small:

* ``literal`` — Alg. 1 as printed. Labelled non-converging: E(T)/E(0) ≈ 0.9 for every loss.
* ``diou`` — every length × 0.1 (centres, sampling side, anchor and target sizes), i.e. the
  DIoU paper's unit-size boxes; the geometry (IoU of every pair, the share of disjoint starts)
  is exactly the literal one.
* ``literal-lr`` — the printed geometry with μ × 100 (μ times the inverse squared length scale):
  the same trajectories as ``diou`` up to the factor 10 on every length.

**Parameterisation** (:data:`PARAMETERISATIONS`): the 4 numbers that gradient descent updates and
that the error E(t) = Σ|B − B^gt| (Alg. 1 line 12) is measured in: ``xyxy`` corners or ``xywh``
= (centre x, centre y, w, h), the DIoU simulation code's storage. The result depends on it.

**Step** (:data:`STEPS`): ``alg1`` is line 11's ``μ∇`` (read as a descent step); ``diou`` is the
DIoU code's ``μ(2 − IoU)∇``. Other choices the paper leaves open: each anchor–target pair is
regressed independently (line 11 would otherwise pull one anchor towards all targets in turn).

Set-ups, readings and pairs: :mod:`bbgen.studies.zhang_setups` (re-exported here). Claims against Fig. 7/8:
:mod:`bbgen.studies.zhang_claims`. Plots: :mod:`bbgen.plot.simulations`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor
from ..progress import tqdm

from .._typing import SeedLike
from ..losses import ciou_loss, efficient_iou_loss, focal_eiou_loss, giou_loss, iou_loss
from .zhang_setups import (PARAMETERISATIONS, READINGS, SETUPS, Reading, Setup, check_choice, decode,
                           disjoint_share, encode, make_pairs)

__all__ = [
    "FOCAL_VARIANTS", "LOSSES", "PAPER_LOSSES", "PARAMETERISATIONS", "QUANTILES", "READINGS", "SETUPS", "STEPS",
    "Reading", "Setup", "SetupResult", "decode", "disjoint_share", "encode", "iou_summary", "learning_rate",
    "make_pairs", "run_setup", "simulate",
]

LossFn = Callable[..., Tensor]

#: The paper's five losses plus Focal-EIoU with ``IoU^γ`` treated as a constant weight.
LOSSES: dict[str, LossFn] = {
    "IoU": iou_loss,
    "GIoU": giou_loss,
    "CIoU": ciou_loss,
    "EIoU": efficient_iou_loss,
    "Focal-EIoU": partial(focal_eiou_loss, gamma=0.5),  # Eq. 10 as written: ∂ flows through IoU^γ
    "Focal-EIoU (const. weight)": partial(focal_eiou_loss, gamma=0.5, detach_weight=True),
}
PAPER_LOSSES = ("IoU", "GIoU", "CIoU", "EIoU", "Focal-EIoU")
#: The two readings of Eq. 10's gradient: as written, and with the focal weight held constant.
FOCAL_VARIANTS = ("Focal-EIoU", "Focal-EIoU (const. weight)")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
STEPS = {"alg1": "mu * grad (Alg. 1 line 11)", "diou": "mu * (2 - IoU) * grad (the DIoU simulation code)"}


def _check_iterations(iterations: object) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")


def learning_rate(t: int, iterations: int) -> float:
    """Alg. 1 lines 6–8: μ = 0.1 for ``t ≤ 0.8T``, 0.01 for ``t ≤ 0.9T``, 0.001 after.

    Parameters
    ----------
    t : int
        Iteration, ``1 ≤ t ≤ T``.
    iterations : int
        ``T``.
    """
    if t <= 0.8 * iterations:
        return 0.1
    return 0.01 if t <= 0.9 * iterations else 0.001


def iou_summary(iou: Tensor) -> dict[str, float]:
    """Box-plot statistics of IoUs: :data:`QUANTILES` as ``q05`` …, ``mean``, share ≥ 0.5 / 0.75 / 0.9.

    Parameters
    ----------
    iou : Tensor[P]
        One IoU per anchor–target pair.
    """
    iou = iou.detach().double()
    q = torch.quantile(iou, torch.tensor(QUANTILES, dtype=torch.float64))
    out = {f"q{round(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q)}
    out["mean"] = float(iou.mean())
    for thr in (0.5, 0.75, 0.9):
        out[f"frac_ge_{thr}"] = float((iou >= thr).double().mean())
    return out


def simulate(loss_fn: LossFn, anchors: Tensor, targets: Tensor, *, iterations: int = 200,
             snapshots: Sequence[int] = (), param: str = "xyxy", lr_scale: float = 1.0,
             step: str = "alg1") -> tuple[list[float], list[dict[str, float]]]:
    """Run Alg. 1 for one loss over all pairs at once.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(pred, target, reduction="sum")`` on xyxy boxes (e.g. a value of :data:`LOSSES`).
    anchors, targets : Tensor[P, 4]
        xyxy start boxes and targets (from :func:`make_pairs`).
    iterations : int
        ``T``; μ follows :func:`learning_rate`.
    snapshots : sequence of int
        Iterations at which to record :func:`iou_summary` (0 = the start).
    param : str
        The parameterisation regressed and measured (:data:`PARAMETERISATIONS`).
    lr_scale : float
        Factor on every μ (a reading's ``lr_scale``).
    step : str
        ``"alg1"`` (μ∇) or ``"diou"`` (μ(2 − IoU)∇), see :data:`STEPS`.

    Returns
    -------
    (errors, stats) : tuple[list[float], list[dict]]
        ``E(t)`` for ``t = 0..T`` (ℓ1 in ``param``) and the IoU summaries at ``snapshots``.
    """
    check_choice("param", param, PARAMETERISATIONS)
    check_choice("step", step, STEPS)
    _check_iterations(iterations)
    if not lr_scale > 0:
        raise ValueError(f"lr_scale must be > 0, got {lr_scale!r}")
    goal, box = encode(targets, param), encode(anchors, param).clone()
    errors, stats = [float((box - goal).abs().sum())], []
    if 0 in snapshots:
        stats.append(iou_summary(1 - iou_loss(anchors, targets)))
    for t in range(1, iterations + 1):
        box.requires_grad_(True)
        xyxy = decode(box, param)
        (grad,) = torch.autograd.grad(loss_fn(xyxy, targets, reduction="sum"), box)
        mu = learning_rate(t, iterations) * lr_scale
        if step == "diou":
            mu = mu * (1 + iou_loss(xyxy.detach(), targets)).unsqueeze(-1)  # 2 - IoU
        box = (box - mu * grad).detach()
        errors.append(float((box - goal).abs().sum()))
        if t in snapshots:
            stats.append(iou_summary(1 - iou_loss(decode(box, param), targets)))
    return errors, stats


@dataclass
class SetupResult:
    """One run of Alg. 1 (:func:`run_setup`): every loss on one set-up, reading, parameterisation and step.

    Attributes
    ----------
    setup, reading, param, step : int, str, str, str
        What was run (see :data:`SETUPS`, :data:`READINGS`, :data:`PARAMETERISATIONS`, :data:`STEPS`).
    points, pairs, iterations : int
        Centres ``N``, anchor–target pairs ``P`` and ``T``.
    snapshots : list of int
        Iterations of the IoU summaries.
    disjoint_share : float
        Share of pairs with IoU = 0 at t = 0.
    error : dict of str to list of float
        ``E(t)`` for ``t = 0..T`` per loss (ℓ1 in ``param``).
    iou_stats : dict of str to list of dict
        :func:`iou_summary` at each snapshot per loss.
    seconds : dict of str to float
        Wall time per loss.
    """

    setup: int
    reading: str
    param: str
    step: str
    points: int
    pairs: int
    iterations: int
    snapshots: list[int]
    disjoint_share: float
    error: dict[str, list[float]] = field(default_factory=dict)
    iou_stats: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``"setup 1, diou reading, xywh"`` (plus the step when it is not Alg. 1's, and a mark on a
        non-converging reading)."""
        step = "" if self.step == "alg1" else f", step {self.step}"
        mark = "" if READINGS[self.reading].converges else " (non-converging)"
        return f"setup {self.setup}, {self.reading} reading{mark}, {self.param}{step}"

    def final_ratio(self, loss: str) -> float:
        """``E(T)/E(0)`` of ``loss``."""
        return self.error[loss][-1] / self.error[loss][0]

    def mean_ratio(self, loss: str) -> float:
        """Mean of ``E(t)/E(0)`` over ``t = 0..T`` (smaller = faster convergence)."""
        curve = self.error[loss]
        return sum(curve) / (len(curve) * curve[0])

    def to_dict(self) -> dict:
        """Plain data for JSON, with ``label``, ``final_ratio`` and ``mean_ratio`` per loss."""
        out = asdict(self)
        out["label"] = self.label
        out["final_ratio"] = {n: self.final_ratio(n) for n in self.error}
        out["mean_ratio"] = {n: self.mean_ratio(n) for n in self.error}
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "SetupResult":
        """Rebuild a result from :meth:`to_dict` output (e.g. the script's JSON); derived keys are ignored.

        Parameters
        ----------
        data : mapping
            One entry of the ``setups`` list of ``analysis/sim_focal_eiou.py``'s JSON.
        """
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def run_setup(setup: int, *, reading: str = "literal", param: str = "xyxy", step: str = "alg1",
              points: int | None = None, iterations: int = 200, generator: SeedLike = 0,
              losses: Mapping[str, LossFn] | None = None, dtype: torch.dtype = torch.float32,
              progress: bool = True) -> SetupResult:
    """Simulate every loss on one set-up (Alg. 1) under one reading, parameterisation and step.

    Parameters
    ----------
    setup : int
        1 or 2.
    reading : str
        A key of :data:`READINGS`.
    param : str
        A key of :data:`PARAMETERISATIONS`.
    step : str
        A key of :data:`STEPS`.
    points : int, optional
        Number of centres (default: the paper's 1000 / 100).
    iterations : int
        ``T`` (the paper: 200).
    generator : SeedLike
        Randomness of the centres (:func:`make_pairs`); equal int seeds give every reading the same centres.
    losses : mapping, optional
        Name -> loss function (default :data:`LOSSES`).
    dtype : torch.dtype
        Working precision (float32 by default).
    progress : bool
        Show a tqdm bar over the losses.
    """
    for name, value, options in (("reading", reading, READINGS), ("param", param, PARAMETERISATIONS),
                                 ("step", step, STEPS), ("setup", setup, SETUPS)):
        check_choice(name, value, options)
    _check_iterations(iterations)
    points = SETUPS[setup].points if points is None else points
    anchors, targets = make_pairs(setup, points, reading=reading, generator=generator, dtype=dtype)
    snapshots = sorted({*range(0, iterations + 1, max(1, iterations // 10)), iterations})
    res = SetupResult(setup, reading, param, step, points, len(anchors), iterations, snapshots,
                      disjoint_share(anchors, targets))
    lr_scale = READINGS[reading].lr_scale
    items = (LOSSES if losses is None else losses).items()
    for name, fn in tqdm(items, desc=res.label, disable=not progress, leave=False):
        start = time.perf_counter()
        res.error[name], res.iou_stats[name] = simulate(fn, anchors, targets, iterations=iterations,
                                                        snapshots=snapshots, param=param, lr_scale=lr_scale,
                                                        step=step)
        res.seconds[name] = time.perf_counter() - start
    return res
