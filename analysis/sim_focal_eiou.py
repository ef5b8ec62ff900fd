"""Zhang et al. (2022) Algorithm 1: synthetic box-regression simulations (their Fig. 6–8).

Every anchor is regressed to every target by plain gradient descent on the loss, for IoU, GIoU,
CIoU, EIoU and Focal-EIoU (γ = 0.5), with Alg. 1's schedule (μ = 0.1 for t ≤ 0.8T, 0.01 for
t ≤ 0.9T, 0.001 after). All anchor–target pairs are one batched tensor.

Setup 1 (Fig. 6a/7): 1000 centres uniform in the 20×20 square, 7×7 anchors per centre (areas 50,
67, 75, 100, 133, 150, 200 × aspect ratios 1:4 … 4:1), 7 targets of area 100 at (10, 10).
Setup 2 (Fig. 6b/8): 100 centres in the 2.5-sided square around (10, 10), 3×3 anchors (areas 50,
100, 150 × 1:3, 1:1, 3:1), 3 targets (area 100; 1:3, 1:1, 3:1).

Interpretation choices (the paper does not fix them): "scale" is the box area (Alg. 1 says the
targets have "an area of 100"); each anchor–target pair is regressed independently (Alg. 1 line
11 would otherwise push one anchor towards all targets in turn); line 11's "+μ∇" is read as a
descent step; the regression error E(t) is the ℓ1 distance of the xyxy corners summed over pairs.

Scale: read literally (``--reading literal``) the boxes have areas 50–200 (sides ≈ 4–28), for
which the IoU-loss gradients are ~1/side and μ = 0.1 moves boxes very little in 200 iterations.
The setup mirrors the DIoU paper's simulation, whose boxes have areas 0.5–2 around a target of
area 1; ``--reading diou`` divides every area by 100 (the paper's "scales" read as percent).
Both are run by default and reported separately.

    python analysis/sim_focal_eiou.py            # both setups, 200 iterations, writes PNG + JSON
    python analysis/sim_focal_eiou.py --quick    # smoke run
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch

from bbgen.losses import ciou_loss, efficient_iou_loss, focal_eiou_loss, giou_loss, iou_loss

LOSSES = {
    "IoU": iou_loss,
    "GIoU": giou_loss,
    "CIoU": ciou_loss,
    "EIoU": efficient_iou_loss,
    "Focal-EIoU": partial(focal_eiou_loss, gamma=0.5),
    # Eq. 10 differentiates through IoU^γ, which rewards *lowering* the IoU of poor boxes; the
    # detached variant treats IoU^γ as a per-pair weight (not part of the paper's five).
    "Focal-EIoU (detached)": partial(focal_eiou_loss, gamma=0.5, detach_weight=True),
}
PAPER_BASE = ("IoU", "GIoU", "CIoU", "EIoU")
FOCAL_VARIANTS = ("Focal-EIoU", "Focal-EIoU (detached)")
SETUPS = {
    1: dict(points=1000, side=20.0, areas=(50, 67, 75, 100, 133, 150, 200),
            ratios=(1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4)),
    2: dict(points=100, side=2.5, areas=(50, 100, 150), ratios=(1 / 3, 1, 3)),
}
TARGET_AREA, CENTRE = 100.0, 10.0
READINGS = {"literal": 1.0, "diou": 0.01}  # factor on every box area
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class SetupResult:
    """Per-loss regression error curves E(t) and IoU summaries at snapshot iterations."""

    setup: int
    reading: str
    points: int
    pairs: int
    iterations: int
    snapshots: list[int]
    error: dict[str, list[float]] = field(default_factory=dict)
    iou_stats: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def boxes_from(cx, cy, area, ratio):
    """xyxy boxes of the given centre, area and aspect ratio w:h (broadcast)."""
    w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def make_pairs(setup: int, points: int, generator: torch.Generator, dtype=torch.float32,
               area_scale: float = 1.0):
    """All anchor–target pairs ``([P, 4], [P, 4])``, ``P = points · S · A``; areas times ``area_scale``."""
    cfg = SETUPS[setup]
    centres = CENTRE + (torch.rand(points, 2, generator=generator, dtype=torch.float64) - 0.5) * cfg["side"]
    area = torch.tensor(cfg["areas"], dtype=torch.float64) * area_scale
    ratio = torch.tensor(cfg["ratios"], dtype=torch.float64)
    a_grid, r_grid = torch.meshgrid(area, ratio, indexing="ij")
    anchors = boxes_from(centres[:, 0, None], centres[:, 1, None], a_grid.reshape(1, -1), r_grid.reshape(1, -1))
    c = torch.tensor(CENTRE, dtype=torch.float64)
    targets = boxes_from(c, c, torch.tensor(TARGET_AREA * area_scale, dtype=torch.float64), ratio)  # [A, 4]
    pred = anchors[:, :, None, :].expand(-1, -1, len(targets), -1).reshape(-1, 4)
    tgt = targets.expand(anchors.shape[0], anchors.shape[1], -1, -1).reshape(-1, 4)
    return pred.to(dtype).contiguous(), tgt.to(dtype).contiguous()


def learning_rate(t: int, iterations: int) -> float:
    """Alg. 1 lines 6–8."""
    if t <= 0.8 * iterations:
        return 0.1
    return 0.01 if t <= 0.9 * iterations else 0.001


def iou_summary(iou: torch.Tensor) -> dict[str, float]:
    """Box-plot statistics of a 1-D IoU tensor (quantiles, mean, share above 0.5/0.75/0.9)."""
    q = torch.quantile(iou.double(), torch.tensor(QUANTILES, dtype=torch.float64))
    out = {f"q{int(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q)}
    out["mean"] = float(iou.double().mean())
    for thr in (0.5, 0.75, 0.9):
        out[f"frac_ge_{thr}"] = float((iou >= thr).double().mean())
    return out


def simulate(loss_fn, pred: torch.Tensor, target: torch.Tensor, iterations: int, snapshots: list[int]):
    """Run Alg. 1 for one loss; returns (E(t) for t = 0..T, IoU summaries at ``snapshots``)."""
    box = pred.clone()
    errors = [float((box - target).abs().sum())]
    stats = []
    if 0 in snapshots:
        stats.append(iou_summary(1 - iou_loss(box, target)))
    for t in range(1, iterations + 1):
        box.requires_grad_(True)
        loss = loss_fn(box, target, reduction="sum")
        (grad,) = torch.autograd.grad(loss, box)
        box = (box - learning_rate(t, iterations) * grad).detach()
        errors.append(float((box - target).abs().sum()))
        if t in snapshots:
            stats.append(iou_summary(1 - iou_loss(box, target)))
    return errors, stats


def run_setup(setup: int, *, reading: str = "literal", points: int | None = None, iterations: int = 200,
              seed: int = 0, losses: dict | None = None, progress: bool = True) -> SetupResult:
    """Simulate every loss in ``losses`` (default: the paper's five) on one setup and scale reading."""
    from tqdm import tqdm

    if reading not in READINGS:
        raise ValueError(f"reading must be one of {tuple(READINGS)}, got {reading!r}")
    points = SETUPS[setup]["points"] if points is None else points
    pred, target = make_pairs(setup, points, torch.Generator().manual_seed(seed), area_scale=READINGS[reading])
    step = max(1, iterations // 10)
    snapshots = list(range(0, iterations + 1, step))
    if snapshots[-1] != iterations:
        snapshots.append(iterations)
    res = SetupResult(setup, reading, points, pred.shape[0], iterations, snapshots)
    for name, fn in tqdm((losses or LOSSES).items(), desc=f"setup {setup} ({reading})", disable=not progress):
        start = time.perf_counter()
        res.error[name], res.iou_stats[name] = simulate(fn, pred, target, iterations, snapshots)
        res.seconds[name] = time.perf_counter() - start
    return res


def _auc(curve: list[float]) -> float:
    """Mean of E(t)/E(0): smaller means faster convergence."""
    return sum(curve) / (len(curve) * curve[0])


def check_claims(res: SetupResult, focal: str = "Focal-EIoU") -> list[tuple[str, bool, str]]:
    """The paper's statements about Fig. 7 (setup 1) or Fig. 8 (setup 2) vs this run.

    ``focal`` picks which Focal-EIoU variant stands for the paper's (Eq. 10 literal or detached).
    """
    names = [*PAPER_BASE, focal]
    if any(n not in res.error for n in names):
        raise ValueError(f"result lacks one of {names}")
    final = {n: res.error[n][-1] for n in names}
    auc = {n: _auc(res.error[n]) for n in names}
    last = {n: res.iou_stats[n][-1] for n in names}
    early_idx = 1  # first snapshot after t = 0
    early = {n: res.iou_stats[n][early_idx] for n in names}
    fmt = lambda d, k=None: ", ".join(f"{n}={(d[n] if k is None else d[n][k]):.4g}" for n in names)  # noqa: E731
    others3 = ("IoU", "GIoU", "CIoU")
    claims = []
    if res.setup == 1:
        claims.append(("Fig. 7a: EIoU converges faster than IoU, GIoU and CIoU",
                       all(auc["EIoU"] < auc[o] for o in others3), f"mean E(t)/E(0): {fmt(auc)}"))
        claims.append(("Fig. 7a: EIoU reaches a lower regression error than IoU, GIoU and CIoU",
                       all(final["EIoU"] < final[o] for o in others3), f"E(T): {fmt(final)}"))
        claims.append(("Fig. 7a: Focal-EIoU's regression error is larger than EIoU's",
                       final[focal] > final["EIoU"], f"E(T): {focal}={final[focal]:.4g}, "
                       f"EIoU={final['EIoU']:.4g}"))
        best_n = max(names, key=lambda n: last[n]["frac_ge_0.9"])
        best_q = max(names, key=lambda n: last[n]["q95"])
        claims.append(("Fig. 7b: Focal-EIoU has the most high-quality boxes (IoU >= 0.9) of the five",
                       best_n == focal, f"share IoU>=0.9 at T: {fmt(last, 'frac_ge_0.9')}"))
        claims.append(("Fig. 7b: ... and the highest quality among them (95th-percentile IoU)",
                       best_q == focal, f"q95 IoU at T: {fmt(last, 'q95')}"))
    else:
        claims.append(("Fig. 8a: Focal-EIoU converges fastest of the five",
                       min(names, key=auc.get) == focal, f"mean E(t)/E(0): {fmt(auc)}"))
        claims.append(("Fig. 8a: Focal-EIoU reaches the lowest regression error",
                       min(names, key=final.get) == focal, f"E(T): {fmt(final)}"))
        claims.append((f"Fig. 8b: Focal-EIoU improves its high-quality boxes fastest (75th-percentile IoU "
                       f"at t={res.snapshots[early_idx]})",
                       max(names, key=lambda n: early[n]["q75"]) == focal, f"q75: {fmt(early, 'q75')}"))
        claims.append(("Fig. 8b: Focal-EIoU has a longer low-IoU tail than EIoU (5th percentile at T)",
                       last[focal]["q05"] < last["EIoU"]["q05"],
                       f"q05: {focal}={last[focal]['q05']:.4g}, EIoU={last['EIoU']['q05']:.4g}"))
        claims.append(("Fig. 8b: Focal-EIoU's mean IoU is (much) higher than EIoU's",
                       last[focal]["mean"] > last["EIoU"]["mean"],
                       f"mean IoU: {focal}={last[focal]['mean']:.4g}, EIoU={last['EIoU']['mean']:.4g}"))
    return claims


def make_figure(results: list[SetupResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bbgen.plot.losses import plot_iou_boxplots, plot_regression_errors

    fig, axes = plt.subplots(len(results), 2, figsize=(13, 4.2 * len(results)), squeeze=False)
    for row, res in zip(axes, results):
        plot_regression_errors(res.error, ax=row[0])
        row[0].set_title(f"Setup {res.setup}, {res.reading}: regression error (Zhang Fig. {6 + res.setup}a)")
        plot_iou_boxplots(res.iou_stats, res.snapshots, ax=row[1])
        row[1].set_title(f"Setup {res.setup}, {res.reading}: IoU over iterations (Fig. {6 + res.setup}b)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", choices=("1", "2", "both"), default="both")
    parser.add_argument("--iterations", type=int, default=200, help="T of Alg. 1 (default 200)")
    parser.add_argument("--points", type=int, default=None, help="override the number of centre points")
    parser.add_argument("--reading", choices=("literal", "diou", "both"), default="both",
                        help="box scale: areas as printed (literal) or /100 as in the DIoU paper (diou)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few points, 40 iterations")
    parser.add_argument("--out", type=Path, default=Path("results/sim_focal_eiou.json"),
                        help="JSON output; the figure goes next to it as .png")
    args = parser.parse_args(argv)
    if args.iterations < 10:
        parser.error(f"--iterations must be >= 10, got {args.iterations}")
    if args.points is not None and args.points < 1:
        parser.error(f"--points must be >= 1, got {args.points}")
    torch.set_num_threads(max(1, args.threads))
    iterations = 40 if args.quick else args.iterations
    setups = (1, 2) if args.setup == "both" else (int(args.setup),)
    readings = tuple(READINGS) if args.reading == "both" else (args.reading,)
    results = []
    for reading, s in itertools.product(readings, setups):
        points = args.points or ((30 if s == 1 else 10) if args.quick else None)
        res = run_setup(s, reading=reading, points=points, iterations=iterations, seed=args.seed)
        results.append(res)
        print(f"\nSetup {s}, {reading} reading: {res.points} points, {res.pairs} anchor-target pairs, "
              f"T = {res.iterations}; "
              f"seconds per loss: " + ", ".join(f"{k}={v:.1f}" for k, v in res.seconds.items()))
        for focal in FOCAL_VARIANTS:
            print(f"  claims, with {focal} as the paper's Focal-EIoU:")
            for claim, ok, evidence in check_claims(res, focal):
                print(f"  [{'AGREES' if ok else 'DISAGREES'}] {claim}\n      ours: {evidence}")
    payload = {"args": {k: str(v) for k, v in vars(args).items()},
               "setups": [dict(r.to_dict(), claims={f: [dict(claim=c, agrees=ok, evidence=e)
                                                        for c, ok, e in check_claims(r, f)]
                                                    for f in FOCAL_VARIANTS}) for r in results]}
    from _cli import write_results  # analysis/ is on sys.path when a script runs

    write_results(args.out, payload, lambda png: make_figure(results, png))
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
