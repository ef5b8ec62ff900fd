"""``build_report``: run section builders, draw their figures, write the report atomically."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..progress import tqdm

from ..datasets.annotations import Annotations
from .data_side import data_sections
from .output import MANIFEST, check_targets, previous_files, publish, staging_dir
from .render import render_html, render_markdown, report_dict
from .sections import Section, SectionBuilder

__all__ = ["build_report", "build_sections", "write_report", "MANIFEST", "REPORT_FILES"]

REPORT_FILES = ("index.html", "report.json", "summary.md")


def build_sections(ann: Annotations, sections: Sequence[SectionBuilder] | None = None, *,
                   progress: bool = False) -> list[Section]:
    """Run each builder on ``ann`` (default: :func:`data_sections`); keys must be unique.

    Parameters
    ----------
    ann : Annotations
        The dataset.
    sections : sequence of callables ``(Annotations) -> Section``, optional
        Section builders; default :func:`bbgen.report.data_sections`.
    progress : bool
        Show a tqdm bar over the sections.

    Returns
    -------
    list of Section
    """
    if not isinstance(ann, Annotations):
        raise TypeError(f"ann must be bbgen.datasets.Annotations, got {type(ann).__name__}")
    builders = data_sections() if sections is None else list(sections)
    out = []
    for build in tqdm(builders, desc="profiling", unit="section", disable=not progress):
        s = build(ann)
        if not isinstance(s, Section):
            raise TypeError(f"section builder {build!r} returned {type(s).__name__}, expected Section")
        out.append(s)
    keys = [s.key for s in out]
    if len(set(keys)) != len(keys):
        raise ValueError(f"section keys must be unique, got {keys}")
    return out


def write_report(sections: Sequence[Section], out_dir: str | Path, *, title: str, meta: dict[str, object],
                 progress: bool = False, dpi: int = 100, force: bool = False) -> Path:
    """Write ``index.html``, ``report.json``, ``summary.md`` and ``figures/*.png`` into ``out_dir``.

    Parameters
    ----------
    sections : sequence of Section
        Built sections, in report order.
    out_dir : str or Path
        Report directory. A new or empty directory, or one holding an earlier bbgen report.
    title : str
        Page title.
    meta : dict
        JSON-plain metadata (``source``, ``synthetic``, ``bbgen_version``) shown in the header.
    progress : bool
        Show a tqdm bar while drawing the figures.
    dpi : int
        Resolution of the PNG figures.
    force : bool
        Also write into a non-empty directory that is not a bbgen report (its files are kept).

    Returns
    -------
    Path
        ``out_dir``.

    Notes
    -----
    Files are drawn into a hidden temporary folder and moved into place one atomic rename at a
    time, so an error or a signal never leaves a half-written report or a temporary folder.
    bbgen never overwrites or deletes a file it did not write: the files it wrote are listed in
    ``out_dir/.bbgen-report.json`` (see :mod:`bbgen.report.output`).
    """
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    previous = previous_files(out_dir, force=force)
    figure_files = {(s.key, f.name): f"figures/{s.key}_{f.name}.png" for s in sections for f in s.figures}
    names = [*REPORT_FILES, *figure_files.values()]
    check_targets(out_dir, names, previous)
    with staging_dir(out_dir) as (tmp, _):
        (tmp / "figures").mkdir()
        todo = [(s, f) for s in sections for f in s.figures]
        for s, f in tqdm(todo, desc="figures", unit="fig", disable=not progress):
            fig = Figure(figsize=f.size, layout="constrained")
            f.draw(fig.subplots())
            fig.savefig(tmp / figure_files[(s.key, f.name)], dpi=dpi)
        data = report_dict(title, meta, sections, figure_files)
        (tmp / "report.json").write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
        (tmp / "index.html").write_text(render_html(title, meta, sections, figure_files), encoding="utf-8")
        (tmp / "summary.md").write_text(render_markdown(title, meta, sections, figure_files), encoding="utf-8")
        return publish(tmp, out_dir, names, previous)


def build_report(ann: Annotations, out_dir: str | Path, sections: Sequence[SectionBuilder] | None = None, *,
                 title: str | None = None, progress: bool = False, dpi: int = 100, force: bool = False) -> Path:
    """Profile ``ann`` with ``sections`` (default: the data-side sections) and write the report.

    Parameters
    ----------
    ann : Annotations
        The dataset.
    out_dir : str or Path
        Report directory (see :func:`write_report` for what may already be there).
    sections : sequence of callables ``(Annotations) -> Section``, optional
        Section builders in report order; default :func:`bbgen.report.data_sections`.
    title : str, optional
        Page title (default: from the dataset source).
    progress, dpi, force
        As for :func:`write_report`.

    Returns
    -------
    Path
        The report directory, containing ``index.html``, ``report.json``, ``summary.md``.
    """
    from .. import __version__

    previous_files(out_dir, force=force)  # fail before the profiling work, not after it
    built = build_sections(ann, sections, progress=progress)
    synthetic = ann.source.startswith("synthetic")
    meta = {"source": ann.source, "synthetic": synthetic, "bbgen_version": __version__}
    title = title or ("bbgen imbalance report — synthetic default dataset" if synthetic
                      else f"bbgen imbalance report — {Path(ann.source).name or ann.source}")
    return write_report(built, out_dir, title=title, meta=meta, progress=progress, dpi=dpi, force=force)
