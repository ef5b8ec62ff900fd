"""Command line: ``bbgen report [DATASET] [--format ...] [--out DIR]``.

Errors (bad input, unreadable files) end with exit status 1 and one line on stderr, never a
traceback. New report options (e.g. the anchor side) are registered in :func:`add_report_arguments`
and turned into section builders in :func:`report_sections`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "build_parser", "add_report_arguments", "report_sections"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bbgen report``."""
    from .datasets import FORMATS

    p.add_argument("dataset", nargs="?", metavar="DATASET",
                   help="COCO/LVIS json file, VOC directory or YOLO directory; "
                        "omitted: the embedded synthetic default dataset")
    p.add_argument("--format", choices=FORMATS, help="annotation format (default: detected)")
    p.add_argument("--split", help="VOC only: ImageSets/Main/<split>.txt name or path of an id list")
    p.add_argument("--classes", help="VOC/YOLO only: comma-separated class names in label order")
    p.add_argument("--out", default="bbgen-report", metavar="DIR",
                   help="output directory (default: %(default)s); replaced if it holds an earlier report")
    p.add_argument("--title", help="report title (default: from the dataset)")
    p.add_argument("--batch-size", type=_positive_int, default=16,
                   help="images per simulated batch for the batch-level class mix (default: %(default)s)")
    p.add_argument("--num-batches", type=_positive_int, default=1000,
                   help="simulated batches (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch simulation and synthetic data")
    p.add_argument("--synthetic-images", type=_positive_int, default=2000,
                   help="images of the synthetic default dataset (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--anchors", metavar="retinanet|rpn|ssd300|FILE.json",
                   help="add the anchor imbalance section for this anchor set (default: none; "
                        "--assigner alone implies retinanet)")
    p.add_argument("--assigner", choices=("maxiou", "atss"),
                   help="anchor assigner of the anchor section (default: maxiou, the detector's own thresholds)")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit status 2), like every other bbgen error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bbgen", description="Bounding-box generation and imbalance analysis.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    rep = sub.add_parser("report", help="profile a dataset's imbalance and write an HTML/JSON/markdown report",
                         description="Profile the class, scale and location imbalance of a dataset "
                                     "(thesis Ch. 3) and write index.html, report.json and summary.md.")
    add_report_arguments(rep)
    return parser


def report_sections(args: argparse.Namespace) -> list:
    """Section builders for the parsed ``report`` options (extension point for new sections)."""
    from .report import data_sections

    sections = data_sections(batch_size=args.batch_size, num_batches=args.num_batches, seed=args.seed)
    if getattr(args, "anchors", None) or getattr(args, "assigner", None):
        from functools import partial

        from .anchors import anchor_config
        from .report.anchor_section import anchor_section

        anchors = anchor_config(args.anchors or "retinanet")  # fails early on a bad name or file
        sections.append(partial(anchor_section, anchors=anchors, assigner=args.assigner or "maxiou",
                                progress=not args.no_progress))
    return sections


def _load(args: argparse.Namespace):
    from .datasets import load, synthetic

    if args.dataset is None:
        for name in ("format", "split", "classes"):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name} needs a DATASET")
        return synthetic(args.synthetic_images, seed=args.seed)
    classes = None if args.classes is None else [c.strip() for c in args.classes.split(",") if c.strip()]
    return load(Path(args.dataset), args.format, split=args.split, classes=classes)


def _report(args: argparse.Namespace) -> int:
    from .report import build_report

    ann = _load(args)
    out = build_report(ann, args.out, report_sections(args), title=args.title, progress=not args.no_progress)
    print(f"report written to {out / 'index.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bbgen`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _report(args)
    except KeyboardInterrupt:
        print("bbgen: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"bbgen: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
