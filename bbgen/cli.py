"""Command line: ``bbgen report [DATASET] [--format ...] [--out DIR]``.

Errors (bad input, unreadable files) end with exit status 1 and one line on stderr, never a
traceback; messages of the library name Python arguments (``classes=``, ``out_dir``) and are
shown with the command-line flags (``--classes``, ``--out``) by :func:`cli_message`. SIGINT and
SIGTERM end a run cleanly (no temporary files left, exit status 130 / 143): see :func:`run_cleanly`.

Start-up is cheap: this module imports only the standard library at load time, so ``--help`` and
an error about a missing file answer without importing torch or matplotlib. New report options
(e.g. the anchor side) are registered in :func:`add_report_arguments` and turned into section
builders in :func:`report_sections`.
"""
from __future__ import annotations

import argparse
import math
import re
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from .datasets import Annotations
    from .report import SectionBuilder

__all__ = ["main", "build_parser", "add_report_arguments", "add_evaluate_arguments", "report_sections", "run_cleanly", "cli_message",
           "Terminated", "FLAGS"]

# kept in sync with bbgen.datasets.FORMATS (tests/test_cli.py checks); not imported, to keep --help fast
_FORMATS = ("coco", "lvis", "voc", "yolo", "torchcv")

#: Python argument names in library messages -> the command-line flag that sets them.
FLAGS = {"out_dir": "--out", "force=True": "--force", "classes=": "--classes", "split=": "--split",
         "format=": "--format", "image_sizes=": "--image-sizes", "batch_size": "--batch-size", "num_batches": "--num-batches",
         "anchors=": "--anchors", "assigner=": "--assigner", "num_images": "--synthetic-images",
         "tau=": "--tau", "generator seed": "--seed"}
_FLAG_RE = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(k) for k in FLAGS) + r")(?![\w])")
# "<argument> must be ..." at the start of a message names an argument too
_LEADING_RE = re.compile(r"^(" + "|".join(k.rstrip("=") for k in FLAGS if k.endswith("=")) + r")(?= must )")


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so that ``finally`` blocks clean up, as on Ctrl-C.

    Parameters
    ----------
    signum : int
        The signal number (``signal.SIGTERM``).
    """


def cli_message(message: str) -> str:
    """One line for stderr: whitespace collapsed and Python argument names shown as CLI flags.

    Parameters
    ----------
    message : str
        ``str()`` of an exception raised by the library.

    Returns
    -------
    str
        E.g. ``"pass classes= or ..."`` becomes ``"pass --classes or ..."``.
    """
    text = _LEADING_RE.sub(lambda m: FLAGS[m.group(1) + "="], " ".join(message.split()))
    return _FLAG_RE.sub(lambda m: FLAGS[m.group(1)], text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}") from None
    if value < 0:  # numpy seeds are non-negative; -1 failed late as "generator seed must be ..."
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}")
    return value


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """Register the options of ``bbgen report``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``report`` sub-parser.
    """
    p.add_argument("dataset", nargs="?", metavar="DATASET",
                   help="COCO/LVIS json file, VOC directory, YOLO directory or torchcv list (folder with "
                        "labels.txt, or a list .txt file); omitted: the embedded synthetic default dataset")
    p.add_argument("--format", choices=_FORMATS, help="annotation format (default: detected)")
    p.add_argument("--split", help="VOC: ImageSets/Main/<split>.txt name or path of an id list; "
                                   "torchcv: name of the list file in the folder (e.g. voc07_test)")
    p.add_argument("--classes", help="VOC/YOLO/torchcv: comma-separated class names in label order")
    p.add_argument("--image-sizes", metavar="FILE.json",
                   help="torchcv only: image sizes ({name: [w, h]} or a COCO json's 'images'); "
                        "default: image_sizes.json beside the list")
    p.add_argument("--out", default="bbgen-report", metavar="DIR",
                   help="output directory (default: %(default)s); a re-run replaces only the files bbgen wrote")
    p.add_argument("--force", action="store_true",
                   help="also write into a non-empty directory that is not a bbgen report "
                        "(its files are kept; bbgen never overwrites or deletes files it did not write)")
    p.add_argument("--title", help="report title (default: from the dataset)")
    p.add_argument("--batch-size", type=_positive_int, default=16,
                   help="images per simulated batch for the batch-level class mix (default: %(default)s)")
    p.add_argument("--num-batches", type=_positive_int, default=1000,
                   help="simulated batches (default: %(default)s)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the batch simulation and synthetic data")
    p.add_argument("--synthetic-images", type=_positive_int, default=2000,
                   help="images of the synthetic default dataset (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--anchors", metavar="retinanet|rpn|ssd300|FILE.json",
                   help="add the anchor imbalance section for this anchor set (default: none; "
                        "--assigner alone implies retinanet)")
    p.add_argument("--assigner", choices=("maxiou", "atss"),
                   help="anchor assigner of the anchor section (default: maxiou, the detector's own thresholds)")
    p.add_argument("--training-log", metavar="LOG",
                   help="add the objective-imbalance section from a monitor_objectives log (JSON)")


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``bbgen evaluate`` (LRP Error and COCO AP of a detector's results).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``evaluate`` sub-parser.
    """
    p.add_argument("ground_truth", metavar="GT", help="COCO instances json (ground truth)")
    p.add_argument("detections", metavar="DETS", help="COCO results json: [{image_id, category_id, bbox, score}]")
    p.add_argument("--out", default="bbgen-eval", metavar="DIR",
                   help="output directory (default: %(default)s); replaced if it holds an earlier report")
    p.add_argument("--tau", type=float, default=0.5, help="TP validation IoU threshold of LRP (default: %(default)s)")
    p.add_argument("--variant", choices=("code", "paper"), default="code",
                   help="oLRP corner cases as the authors' code (default) or as the thesis text")
    p.add_argument("--title", help="report title")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_lrp
    from .report.lrp_section import write_evaluation

    result = evaluate_lrp(args.ground_truth, args.detections, tau=args.tau, variant=args.variant,
                          progress=not args.no_progress)
    out = write_evaluation(result, args.out, title=args.title or f"bbgen evaluation — {Path(args.detections).name}",
                           meta={"source": f"{args.ground_truth} / {args.detections}"})
    s = {k: "n/a" if math.isnan(v) else f"{v:.4f}" for k, v in result.stats.items()}  # nothing to evaluate: n/a
    print(f"moLRP {s['moLRP']} (loc {s['moLRP_loc']}, FP {s['moLRP_fp']}, FN {s['moLRP_fn']}), "
          f"AP {s['AP']}; report written to {out / 'index.html'}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit status 2), like every other bbgen error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``bbgen`` argument parser (sub-command ``report``).

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = _Parser(prog="bbgen", description="Bounding-box generation and imbalance analysis.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    rep = sub.add_parser("report", help="profile a dataset's imbalance and write an HTML/JSON/markdown report",
                         description="Profile the class, scale and location imbalance of a dataset "
                                     "(thesis Ch. 3) and write index.html, report.json and summary.md.")
    add_report_arguments(rep)
    add_evaluate_arguments(sub.add_parser(
        "evaluate", help="LRP Error (oLRP components, LRP-optimal thresholds) and COCO AP of detections",
        description="Evaluate COCO results against COCO ground truth with LRP Error (thesis Ch. 5) and "
                    "COCO-style AP; writes index.html, report.json and summary.md."))
    return parser


def report_sections(args: argparse.Namespace) -> list[SectionBuilder]:
    """Section builders for the parsed ``report`` options (extension point for new sections).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of ``bbgen report``.

    Returns
    -------
    list of callables ``(Annotations) -> Section``
    """
    from .report import data_sections

    sections = data_sections(batch_size=args.batch_size, num_batches=args.num_batches, generator=args.seed)
    if getattr(args, "anchors", None) or getattr(args, "assigner", None):
        from functools import partial

        from .anchors import anchor_config
        from .report.anchor_section import anchor_section

        anchors = anchor_config(args.anchors or "retinanet")  # fails early on a bad name or file
        sections.append(partial(anchor_section, anchors=anchors, assigner=args.assigner or "maxiou",
                                progress=not args.no_progress))
    if getattr(args, "training_log", None):
        from functools import partial

        from .imbalance.objective import load_objective_log
        from .report.training_section import training_section

        sections.append(partial(training_section, log=load_objective_log(args.training_log)))  # fails early
    return sections


def _load(args: argparse.Namespace) -> Annotations:
    from .datasets import load, synthetic

    if args.dataset is None:
        for name in ("format", "split", "classes", "image_sizes"):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name.replace('_', '-')} needs a DATASET")
        return synthetic(args.synthetic_images, generator=args.seed)
    classes = None if args.classes is None else [c.strip() for c in args.classes.split(",") if c.strip()]
    return load(Path(args.dataset), args.format, split=args.split, classes=classes, image_sizes=args.image_sizes)


def _report(args: argparse.Namespace) -> None:
    from .report.output import previous_files

    previous_files(args.out, force=args.force)  # before any slow work; stdlib only
    ann = _load(args)
    from .report import build_report  # matplotlib and the profilers: only once the input is known good

    out = build_report(ann, args.out, report_sections(args), title=args.title, progress=not args.no_progress,
                       force=args.force)
    print(f"report written to {out / 'index.html'}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def run_cleanly(job: Callable[[], object]) -> int:
    """Run ``job`` with command-line error handling; return the exit status.

    Parameters
    ----------
    job : callable ``() -> object``
        The work; its return value is ignored.

    Returns
    -------
    int
        0 on success; 1 for ``ValueError`` / ``TypeError`` / ``OSError`` (one line on stderr, flags
        named as on the command line); 130 on SIGINT and 143 on SIGTERM (both raise inside ``job``,
        so its ``finally`` blocks remove temporary files).
    """
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        job()
        return 0
    except KeyboardInterrupt:
        print("bbgen: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("bbgen: terminated", file=sys.stderr)
        return 143
    except (ValueError, TypeError, OSError) as e:
        text = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.strerror and e.filename else str(e)
        print(f"bbgen: error: {cli_message(text) or type(e).__name__}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bbgen`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    args = build_parser().parse_args(argv)
    return run_cleanly(lambda: _evaluate(args) if args.command == "evaluate" else _report(args))


if __name__ == "__main__":
    sys.exit(main())
