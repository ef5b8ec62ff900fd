"""Reproduce the Bounding Box Generator figures of the thesis (Fig. 4.2, 4.3, 4.4b, 4.6) as PNG files.

    python analysis/paper_figures.py --out figures/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from bbgen.generator.reference import generate_bb  # noqa: E402
from bbgen.generator.batched import generate_boxes  # noqa: E402
from bbgen.imbalance.regression_profile import IOU_BIN_BASES  # noqa: E402
from bbgen.plot.geometry import (plot_feasible_spaces, plot_generated_boxes, plot_tl_boundaries,  # noqa: E402
                                 plot_tl_space)

REF = [100.0, 100.0, 300.0, 250.0]


def make_figures(out: Path, seed: int = 0, num_boxes: int = 1000) -> list[Path]:
    """Write the four figures into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    ref = torch.tensor(REF, dtype=torch.float64)
    figs = {}

    fig, ax = plt.subplots(figsize=(6, 6))  # Fig. 4.2: TL then BR, T = 0.5
    plot_feasible_spaces(ref, 0.5, generate_bb(ref, 0.5, order="tl", generator=g), ax=ax)
    figs["fig4_2_feasible_spaces.png"] = fig

    fig, ax = plt.subplots(figsize=(6, 6))  # Fig. 4.3: 1K boxes, T = 0.6
    boxes = generate_boxes(ref[None], 0.6, num=num_boxes, generator=g)[0]
    plot_generated_boxes(ref, boxes, ax=ax, iou=0.6)
    figs["fig4_3_generated_boxes.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 5))  # Fig. 4.4b: TL polygon and its enclosing box, T = 0.75
    plot_tl_space(ref, 0.75, ax=ax)
    figs["fig4_4b_tl_space.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 5))  # Fig. 4.6 boundaries: ref [0.3, 0.3, 0.6, 0.6], T = 0.5..0.9
    plot_tl_boundaries([0.3, 0.3, 0.6, 0.6], IOU_BIN_BASES, ax=ax)
    figs["fig4_6_tl_boundaries.png"] = fig

    paths = []
    for name, fig in figs.items():
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        paths.append(out / name)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: figures/)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--num-boxes", type=int, default=1000, help="boxes in Fig. 4.3 (default: 1000)")
    args = parser.parse_args(argv)
    if args.num_boxes < 1:
        parser.error(f"--num-boxes must be positive, got {args.num_boxes}")
    for p in make_figures(args.out, args.seed, args.num_boxes):
        print(p)
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
