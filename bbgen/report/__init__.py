"""The imbalance report: a list of *sections* rendered to ``index.html``, ``report.json``, ``summary.md``.

Composition
-----------
A report is built from **section builders**, callables ``(Annotations) -> Section``. A
:class:`Section` is a title, a dict of JSON-plain ``numbers`` (all of which go to ``report.json``
and are the only numbers the HTML shows) and :class:`FigureSpec` s, each a ``draw(ax)`` callable.
Builders are pure; :func:`build_report` runs them, draws the figures and writes the files
atomically (temporary directory, then a rename)::

    from functools import partial
    from bbgen.datasets import load
    from bbgen.report import build_report, data_sections

    ann = load("instances_val2017.json")
    build_report(ann, "report/", sections=[*data_sections(batch_size=8), my_section])

Extension point (anchor side, thesis Ch. 3)
-------------------------------------------
To add e.g. an anchor/assigner section, write ``anchor_section(ann, *, anchors, assigner) -> Section``
(``key="anchors"``, numbers = the profiler's ``to_dict()``, figures = ``FigureSpec`` s wrapping the
``bbgen.plot`` functions with ``functools.partial``) and append
``partial(anchor_section, anchors=..., assigner=...)`` to the builder list. The command line does
this in :func:`bbgen.cli.report_sections`, which maps parsed options to builders; register new
options in :func:`bbgen.cli.add_report_arguments`.
"""
from .build import build_report, build_sections, write_report
from .data_sections import (batch_section, class_section, data_sections, location_section, scale_section,
                            summary_section)
from .render import format_value, render_html, render_markdown, report_dict
from .sections import FigureSpec, Section, SectionBuilder

__all__ = [
    "build_report", "build_sections", "write_report", "batch_section", "class_section", "data_sections",
    "location_section", "scale_section", "summary_section", "format_value", "render_html", "render_markdown",
    "report_dict", "FigureSpec", "Section", "SectionBuilder",
]
