"""The imbalance report: a list of *sections* rendered to ``index.html``, ``report.json``, ``summary.md``.

Composition
-----------
A report is built from **section builders**, callables ``(Annotations) -> Section``. A
:class:`Section` is a title, a dict of JSON-plain ``numbers`` (all of which go to ``report.json``
and are the only numbers the HTML shows) and :class:`FigureSpec` s, each a ``draw(ax)`` callable.
Builders are pure; :func:`build_report` runs them, draws the figures and writes the files
(each staged in a hidden temporary folder, then moved into place with an atomic rename; bbgen
replaces only the files its manifest ``.bbgen-report.json`` lists, see :mod:`bbgen.report.output`)::

    from bbgen.datasets import synthetic
    from bbgen.report import Section, build_report, data_sections

    def crowd_section(ann):
        return Section("crowd", "Crowd boxes", {"num_crowd": int(ann.crowd.sum())})

    build_report(synthetic(200, generator=0), "report/", sections=[*data_sections(batch_size=8), crowd_section])

Headline numbers get plain labels and units from :mod:`bbgen.report.labels`; ``Section.how_to_read``
holds the two sentences shown at the top of a section.

Extension point (anchor side, thesis Ch. 3)
-------------------------------------------
To add e.g. an anchor/assigner section, write ``anchor_section(ann, *, anchors, assigner) -> Section``
(``key="anchors"``, numbers = the profiler's ``to_dict()``, figures = ``FigureSpec`` s wrapping the
``bbgen.plot`` functions with ``functools.partial``) and append
``partial(anchor_section, anchors=..., assigner=...)`` to the builder list. The command line does
this in :func:`bbgen.cli.report_sections`, which maps parsed options to builders; register new
options in :func:`bbgen.cli.add_report_arguments`.
"""
from .._lazy import lazy_attributes

# public name -> submodule; imported on first use, so that ``bbgen.report.output`` (standard library
# only) can be used by the command line without importing matplotlib and the profilers
_LAZY = {
    "build_report": "build", "build_sections": "build", "write_report": "build",
    "batch_section": "data_side", "class_section": "data_side", "data_sections": "data_side",
    "location_section": "data_side", "scale_section": "data_side", "summary_section": "data_side",
    "format_value": "labels", "render_html": "render", "render_markdown": "render", "report_dict": "render",
    "FigureSpec": "sections", "Section": "sections", "SectionBuilder": "sections", "JSONValue": "sections",
    "MANIFEST": "output",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
