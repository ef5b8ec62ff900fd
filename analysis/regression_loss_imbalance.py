"""Imbalance in regression loss (thesis §3.4.1, Fig. 3.11), quantified with the box generator.

Boxes are generated in the IoU bins [0.5, 0.6) … [0.9, 1.0) around real (``--annotations``) or
synthetic ground truths; for every loss of :mod:`bbgen.losses` the script reports the mean loss
and gradient norm per bin and each bin's share of the total under a uniform and an RPN-like IoU
distribution, and writes a figure and a JSON file.

    python analysis/regression_loss_imbalance.py
    python analysis/regression_loss_imbalance.py --annotations ../shared/data/voc2007/detectron_style_json/<file>.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from bbgen.imbalance.regression_profile import RegressionLossProfile, regression_loss_profile


def load_gts(path: Path, max_gts: int, generator: torch.Generator) -> torch.Tensor:
    """Up to ``max_gts`` non-crowd ground truths (random subset) from an annotation file/folder."""
    from bbgen.datasets import load

    ann = load(path)
    boxes = torch.as_tensor(ann.boxes[~ann.crowd], dtype=torch.float64)
    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    if boxes.shape[0] == 0:
        raise ValueError(f"{path}: no usable (non-crowd, positive-area) boxes")
    if boxes.shape[0] > max_gts:
        boxes = boxes[torch.randperm(boxes.shape[0], generator=generator)[:max_gts]]
    return boxes


def print_table(p: RegressionLossProfile) -> None:
    bins = "  ".join(f"[{lo:.1f},{hi:.1f})" for lo, hi in p.bins)
    print(f"measured mean IoU per bin: {[round(v, 3) for v in p.mean_iou]} ({p.boxes_per_bin[0]} boxes per bin)")
    for title, table in (("mean loss", p.mean_loss), ("mean gradient norm", p.mean_grad_norm)):
        print(f"\n{title:<22}{bins}")
        for name, v in table.items():
            print(f"  {name:<20}" + "  ".join(f"{x:9.4f}" for x in v))
    for dist in p.weights:
        print(f"\nshare of the total under the {dist} IoU distribution (weights "
              f"{[round(w, 3) for w in p.weights[dist]]}): loss | gradient, lowest bin -> highest")
        for name in p.mean_loss:
            ls, gs = p.loss_share[dist][name], p.grad_share[dist][name]
            print(f"  {name:<20}" + " ".join(f"{x:5.2f}" for x in ls) + "  | " + " ".join(f"{x:5.2f}" for x in gs))


def make_figure(p: RegressionLossProfile, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bbgen.plot.losses import plot_loss_shares, plot_per_bin

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    plot_per_bin(p.mean_loss, p.bins, ax=axes[0, 0], ylabel="mean loss")
    plot_per_bin(p.mean_grad_norm, p.bins, ax=axes[0, 1], ylabel="mean gradient norm")
    dist = "rpn_like" if "rpn_like" in p.weights else next(iter(p.weights))
    plot_loss_shares(p.loss_share[dist], p.bins, ax=axes[1, 0], ylabel=f"share of total loss ({dist})")
    plot_loss_shares(p.grad_share[dist], p.bins, ax=axes[1, 1], ylabel=f"share of total gradient ({dist})")
    fig.suptitle(f"Imbalance in regression loss (thesis Fig. 3.11, quantified; {p.frame} frame)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=Path, default=None,
                        help="COCO/LVIS json, VOC or YOLO folder (default: synthetic ground truths)")
    parser.add_argument("--max-gts", type=int, default=256, help="ground truths used (random subset)")
    parser.add_argument("--boxes-per-gt", type=int, default=16, help="generated boxes per ground truth and bin")
    parser.add_argument("--frame", choices=("unit", "image"), default="unit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run (32 ground truths, 4 boxes each)")
    parser.add_argument("--out", type=Path, default=Path("results/regression_loss_imbalance.json"),
                        help="JSON output; the figure goes next to it as .png")
    args = parser.parse_args(argv)
    for name in ("max_gts", "boxes_per_gt"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    g = torch.Generator().manual_seed(args.seed)
    max_gts, per_gt = (32, 4) if args.quick else (args.max_gts, args.boxes_per_gt)
    try:
        gts = load_gts(args.annotations, max_gts, g) if args.annotations else None
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    profile = regression_loss_profile(gts, boxes_per_gt=per_gt, num_synthetic=max_gts, frame=args.frame,
                                      generator=g)
    print(f"ground truths: {args.annotations or 'synthetic'} ({max_gts if gts is None else gts.shape[0]})")
    print_table(profile)
    from _cli import write_results  # analysis/ is on sys.path when a script runs

    payload = dict(profile.to_dict(), source=str(args.annotations or "synthetic"))
    write_results(args.out, payload, lambda png: make_figure(profile, png))
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
