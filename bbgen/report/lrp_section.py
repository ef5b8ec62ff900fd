"""Report section of an LRP evaluation: summary, per-class oLRP components and thresholds, the sweep plot."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from ..evaluation.evaluate import LRPResult
from ..evaluation.lrp import mean_sweep
from ..plot.lrp import plot_lrp_sweep
from .build import write_report
from .sections import FigureSpec, Section

__all__ = ["lrp_section", "write_evaluation", "per_class_markdown"]


def lrp_section(result: LRPResult) -> Section:
    """The ``lrp`` section: moLRP and COCO AP numbers, a per-class table, the components-vs-threshold figure.

    Parameters
    ----------
    result : LRPResult
    """
    if not isinstance(result, LRPResult):
        raise TypeError(f"result must be an LRPResult, got {type(result).__name__}")
    data = result.to_dict()
    sweep = mean_sweep(result.curve)
    stats = data["stats"]
    text = (f"LRP Error (thesis Ch. 5) with τ = {result.tau}: oLRP is the lowest LRP over score thresholds "
            "per class, split into localisation, FP and FN components; the LRP-optimal threshold s* of a "
            "class turns scores into hard decisions (keep score ≥ s*). moLRP averages over classes "
            f"(variant '{result.variant}'). COCO AP comes from the same matching.")
    numbers = {"summary": stats, "settings": {k: data[k] for k in ("tau", "variant", "area_ranges", "max_dets")},
               "per_class": data["per_class"], "sweep": sweep}
    fig = FigureSpec("sweep", "LRP components vs score threshold",
                     partial(plot_lrp_sweep, sweep, optimal=stats.get("moLRP")),
                     caption="Class means of LRP and its components when every class keeps the detections "
                             "with score ≥ s (one threshold for all classes); the dotted line is moLRP, "
                             "reached with per-class thresholds s*.")
    return Section("lrp", "LRP Error and LRP-optimal thresholds", numbers, (fig,), text,
                   highlights=("summary",))


def write_evaluation(result: LRPResult, out_dir: str | Path, *, title: str = "bbgen evaluation — LRP Error",
                     meta: dict | None = None) -> Path:
    """Write ``index.html``, ``report.json``, ``summary.md`` (with a per-class table) and the figure.

    Parameters
    ----------
    result : LRPResult
    out_dir : str | Path
        Replaced if it holds an earlier report (see :func:`bbgen.report.write_report`).
    title : str
    meta : dict, optional
        Extra header fields (e.g. ``source``).
    """
    from .. import __version__

    out = write_report([lrp_section(result)], out_dir, title=title,
                       meta={"source": "", "bbgen_version": __version__, **(meta or {})})
    with open(out / "summary.md", "a", encoding="utf-8") as f:
        f.write("\n" + per_class_markdown(result) + "\n")
    return out


def per_class_markdown(result: LRPResult) -> str:
    """Markdown table: AP, oLRP, its components and the LRP-optimal threshold of every class.

    Parameters
    ----------
    result : LRPResult
    """
    cols = ("category_id", "name", "AP", "oLRP", "oLRP_loc", "oLRP_fp", "oLRP_fn", "lrp_threshold")
    fmt = (lambda v: "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v))
    lines = ["### oLRP components and LRP-optimal thresholds per class", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in cols) + " |" for row in result.per_class()]
    return "\n".join(lines)
