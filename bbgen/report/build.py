"""``build_report``: run section builders, draw their figures, write the report atomically."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..datasets.annotations import Annotations
from .data_sections import data_sections
from .render import render_html, render_markdown, report_dict
from .sections import Section, SectionBuilder

__all__ = ["build_report", "build_sections", "write_report"]


def build_sections(ann: Annotations, sections: Sequence[SectionBuilder] | None = None, *,
                   progress: bool = False) -> list[Section]:
    """Run each builder on ``ann`` (default: :func:`data_sections`); keys must be unique."""
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


def write_report(sections: Sequence[Section], out_dir: str | Path, *, title: str, meta: dict,
                 progress: bool = False, dpi: int = 100) -> Path:
    """Write ``index.html``, ``report.json``, ``summary.md`` and ``figures/*.png`` into ``out_dir``.

    Everything is written into a temporary sibling directory first and moved into place at the end,
    so an error never leaves a half-written report. An existing ``out_dir`` is replaced only if it
    is empty or holds an earlier report (a ``report.json``).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and
                                                      not (out_dir / "report.json").is_file())):
        raise ValueError(f"out_dir {str(out_dir)!r} exists and is not an earlier bbgen report; "
                         "refusing to overwrite it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; the report is meant to be shared
        (tmp / "figures").mkdir()
        files: dict[tuple[str, str], str] = {}
        todo = [(s, f) for s in sections for f in s.figures]
        for s, f in tqdm(todo, desc="figures", unit="fig", disable=not progress):
            fig = Figure(figsize=f.size, layout="constrained")
            f.draw(fig.subplots())
            rel = f"figures/{s.key}_{f.name}.png"
            fig.savefig(tmp / rel, dpi=dpi)
            files[(s.key, f.name)] = rel
        data = report_dict(title, meta, sections, files)
        (tmp / "report.json").write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
        (tmp / "index.html").write_text(render_html(title, meta, sections, files), encoding="utf-8")
        (tmp / "summary.md").write_text(render_markdown(title, meta, sections, files), encoding="utf-8")
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            out_dir.rename(old / "report")
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def build_report(ann: Annotations, out_dir: str | Path, sections: Sequence[SectionBuilder] | None = None, *,
                 title: str | None = None, progress: bool = False, dpi: int = 100) -> Path:
    """Profile ``ann`` with ``sections`` (default: the data-side sections) and write the report.

    Returns the report directory (containing ``index.html``, ``report.json``, ``summary.md``).
    """
    from .. import __version__

    built = build_sections(ann, sections, progress=progress)
    synthetic = ann.source.startswith("synthetic")
    meta = {"source": ann.source, "synthetic": synthetic, "bbgen_version": __version__}
    title = title or ("bbgen imbalance report — synthetic default dataset" if synthetic
                      else f"bbgen imbalance report — {Path(ann.source).name or ann.source}")
    return write_report(built, out_dir, title=title, meta=meta, progress=progress, dpi=dpi)
