"""Zhang et al. (2022) Algorithm 1: synthetic box-regression simulations (their Fig. 6–8).

Runs IoU, GIoU, CIoU, EIoU and Focal-EIoU (Eq. 10 as written, and with IoU^γ held constant) on both
set-ups for every chosen reading of the scale and box parameterisation, prints E(T)/E(0) and each of
the paper's claims with AGREES/DISAGREES, and writes the curves, the claim rows and two markdown
tables to JSON with a PNG of Fig. 7/8 next to it. The computation is
bbgen.studies.zhang_regression / zhang_claims; the readings (--reading):

  literal     Alg. 1 as printed (target area 100, mu = 0.1): non-converging, E(T)/E(0) ~ 0.9
  diou        every length x 0.1 — the DIoU paper's unit-size boxes (same geometry, same disjoint share)
  literal-lr  the printed geometry with mu x 100 (same trajectories as diou, lengths x 10)

    python analysis/sim_focal_eiou.py            # both set-ups, literal + diou, xyxy + xywh (~4 min, 1 core)
    python analysis/sim_focal_eiou.py --setup 1 --reading diou --param xywh
    python analysis/sim_focal_eiou.py --quick    # smoke run (few points, 20 iterations)
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from bbgen.studies.claims import format_claims
from bbgen.studies.zhang_claims import check_claims, claim_rows, claims_markdown, ratios_markdown
from bbgen.studies.zhang_regression import FOCAL_VARIANTS, PARAMETERISATIONS, READINGS, STEPS, run_setup


def make_figure(results: list, path: Path) -> None:
    """One row per run: Fig. 7a/8a (E(t)/E(0)) and Fig. 7b/8b (IoU box plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bbgen.plot.simulations import plot_zhang_errors, plot_zhang_ious

    fig, axes = plt.subplots(len(results), 2, figsize=(14, 4.2 * len(results)), squeeze=False)
    for row, res in zip(axes, results):
        plot_zhang_errors(res, ax=row[0])
        plot_zhang_ious(res, ax=row[1])
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.6 / fig.get_figheight(), top=1 - 0.4 / fig.get_figheight(),
                        hspace=0.35, wspace=0.2)  # fixed margins: tight_layout would draw the figure twice
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--setup", choices=("1", "2", "both"), default="both")
    parser.add_argument("--reading", choices=(*READINGS, "both", "all"), default="both",
                        help="scale reading; both = literal + diou, all = every reading (default both)")
    parser.add_argument("--param", choices=(*PARAMETERISATIONS, "both"), default="both",
                        help="box parameterisation regressed and measured (default both)")
    parser.add_argument("--step", choices=tuple(STEPS), default="alg1",
                        help="alg1: mu * grad (default); diou: mu * (2 - IoU) * grad")
    parser.add_argument("--iterations", type=int, default=200, help="T of Alg. 1 (default 200)")
    parser.add_argument("--points", type=int, default=None, help="override the number of centre points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8/4 points, 20 iterations")
    parser.add_argument("--out", type=Path, default=Path("results/sim_focal_eiou.json"),
                        help="JSON output; the figure goes next to it as .png")
    args = parser.parse_args(argv)
    if args.iterations < 10:
        parser.error(f"--iterations must be >= 10, got {args.iterations}")
    if args.points is not None and args.points < 1:
        parser.error(f"--points must be >= 1, got {args.points}")
    return args


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    readings = {"both": ("literal", "diou"), "all": tuple(READINGS)}.get(args.reading, (args.reading,))
    params = tuple(PARAMETERISATIONS) if args.param == "both" else (args.param,)
    setups = (1, 2) if args.setup == "both" else (int(args.setup),)
    results = []
    for s, reading, param in itertools.product(setups, readings, params):
        points = args.points or ((8 if s == 1 else 4) if args.quick else None)
        res = run_setup(s, reading=reading, param=param, step=args.step, points=points, generator=args.seed,
                        iterations=20 if args.quick else args.iterations)
        results.append(res)
        print(f"\n{res.label}: {res.points} points, {res.pairs} pairs, T = {res.iterations}, "
              f"disjoint at t=0: {res.disjoint_share:.1%}, {sum(res.seconds.values()):.0f} s")
        print("  E(T)/E(0): " + ", ".join(f"{n}={res.final_ratio(n):.4f}" for n in res.error))
        for focal in FOCAL_VARIANTS:
            print(f"  claims with {focal} as the paper's Focal-EIoU:\n" + format_claims(check_claims(res, focal)))
    tables = {"ratios": ratios_markdown(results), "claims": claims_markdown(results)}
    print("\nE(T)/E(0) (mean E(t)/E(0)) per loss:\n" + tables["ratios"])
    print("\nClaims (Eq. 10 as written / IoU^γ constant, where they differ):\n" + tables["claims"])
    payload = {"args": {k: str(v) for k, v in vars(args).items()},
               "readings": {k: v.description for k, v in READINGS.items()},
               "setups": [r.to_dict() for r in results], "claims": claim_rows(results), "tables": tables}
    from _cli import write_results  # analysis/ is on sys.path when a script runs

    write_results(args.out, payload, lambda png: make_figure(results, png))
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
