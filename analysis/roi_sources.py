"""RoI sources of the pRoI generator: IoU histograms (thesis Fig. 4.5) and TL corners (Fig. 4.6).

The computation lives in :mod:`bbgen.studies.roi_sources`, the plots in :mod:`bbgen.plot.roi`; this script
parses arguments, runs both and writes the figures and a JSON summary.

Usage::

    .venv/bin/python analysis/roi_sources.py [--n 100000] [--n-tl 20000] [--out-dir results/roi_sources]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bbgen.plot.roi import plot_iou_histograms, plot_roi_tl_corners  # noqa: E402
from bbgen.studies.roi_sources import iou_histograms, tl_corners  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="RoIs per IoU preset (thesis: 100K)")
    parser.add_argument("--n-tl", type=int, default=20_000, help="RoIs per proposal for the TL figure")
    parser.add_argument("--proposals", nargs=2, default=["uniform", "inside"], help="two proposal names")
    parser.add_argument("--out-dir", type=Path, default=Path("results/roi_sources"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1 or args.n_tl < 1:
        print(f"error: --n and --n-tl must be positive, got {args.n} and {args.n_tl}", file=sys.stderr)
        return 2
    try:
        hists = [iou_histograms(args.n, exact=e, generator=args.seed) for e in (False, True)]
        tl = tl_corners(args.n_tl, proposals=args.proposals, generator=args.seed)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for h, ax in zip(hists, axes):
            plot_iou_histograms(h, ax)
        fig.tight_layout()
        fig.savefig(args.out_dir / "iou_histograms.png", dpi=120)
        plt.close(fig)
        fig, axes = plt.subplots(1, 2, figsize=(10, 5))
        for name, ax in zip(args.proposals, axes):
            plot_roi_tl_corners(tl, name, ax)
        fig.tight_layout()
        fig.savefig(args.out_dir / "tl_corners.png", dpi=120)
        plt.close(fig)
        summary = {"iou_threshold_mode": hists[0].to_dict(), "iou_exact_mode": hists[1].to_dict(),
                   "tl_corners": tl.to_dict()}
        (args.out_dir / "roi_sources.json").write_text(json.dumps(summary, indent=1))
    except OSError as exc:
        print(f"error: cannot write to {args.out_dir}: {exc}", file=sys.stderr)
        return 1

    print(f"IoU bin fractions of {args.n:,} pRoIs per preset, bins [.5,.6) [.6,.7) [.7,.8) [.8,.9) [.9,1)")
    for h in hists:
        for name, f in h.bin_fractions.items():
            mode = "exact    " if h.exact else "threshold"
            print(f"  {mode} {name:<11}" + "".join(f"{x:8.3f}" for x in f))
    for name, s in tl.to_dict()["proposals"].items():
        print(f"TL corners '{name}': mean (u, v) = ({s['mean'][0]:+.3f}, {s['mean'][1]:+.3f}), "
              f"inside the GT: {s['fraction_inside_ref']:.1%}")
    print(f"wrote {args.out_dir}/iou_histograms.png, tl_corners.png, roi_sources.json")
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
