"""Peng & Yu (2021) Fig. 4c and Fig. 5: Smooth-EIoU, the convexification technique and SOT.

Regresses the paper's boxes with the analytic gradients (Eq. 25–27) with and without the steady
optimisation technique (Eq. 28), prints each of the paper's claims with AGREES/DISAGREES, and the
iteration at which every Fig. 5 start first reaches EIoU >= 0.99 for several learning rates within a
longer budget (the paper gives neither a learning rate nor an iteration count). The computation is
bbgen.studies.peng_regression.

    python analysis/sim_extended_iou.py            # writes results/sim_extended_iou.{json,png} (~1 min)
    python analysis/sim_extended_iou.py --lr 0.03 --budget 10000
    python analysis/sim_extended_iou.py --quick
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from bbgen.studies.claims import format_claims
from bbgen.studies.peng_regression import check_claims, convergence_table, simulate_figures


def make_figure(sim, path: Path) -> None:
    """Fig. 4c, 5a and 5b side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bbgen.plot.simulations import plot_peng_figure

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for ax, name in zip(axes, ("fig4c", "fig5a", "fig5b")):
        plot_peng_figure(sim, name, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--lr", type=_positive, default=0.1, help="learning rate α of the curves (default 0.1)")
    parser.add_argument("--iterations", type=int, default=200, help="iterations of the curves (default 200)")
    parser.add_argument("--lrs", type=_positive, nargs="+", default=[0.01, 0.1, 0.3],
                        help="learning rates of the convergence table (default 0.01 0.1 0.3; --lr is added)")
    parser.add_argument("--budget", type=int, default=5000, help="iteration budget of the convergence table")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 iterations, budget 500, --lr only")
    parser.add_argument("--out", type=Path, default=Path("results/sim_extended_iou.json"),
                        help="JSON output; the figure goes next to it as .png")
    args = parser.parse_args(argv)
    if args.iterations < 10:
        parser.error(f"--iterations must be >= 10, got {args.iterations}")
    if args.budget < args.iterations:
        parser.error(f"--budget must be >= --iterations ({args.iterations}), got {args.budget}")
    sim = simulate_figures(lr=args.lr, iterations=100 if args.quick else args.iterations)
    lrs = [args.lr] if args.quick else sorted({*args.lrs, args.lr})
    table = convergence_table(lrs, budget=500 if args.quick else args.budget)
    claims = check_claims(sim, table)
    print(f"Peng & Yu simulations: curves at lr {sim.lr} over {sim.iterations} iterations; convergence "
          f"(EIoU >= 0.99) within {table.budget} iterations at lr {table.lrs}")
    print(format_claims(claims))
    print("\nIteration reaching EIoU >= 0.99 (None: not within the budget; final EIoU in brackets):")
    for lr in table.lrs:
        its, fin = table.iterations[repr(lr)], table.final_eiou[repr(lr)]
        print(f"  lr {lr}: " + ", ".join(f"{k}: {its[k]}" + ("" if its[k] else f" ({fin[k]:.3f})") for k in its))
    payload = {**sim.to_dict(), "convergence": table.to_dict(), "claims": [c.to_dict() for c in claims]}
    from _cli import write_results  # analysis/ is on sys.path when a script runs

    write_results(args.out, payload, lambda png: make_figure(sim, png))
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
