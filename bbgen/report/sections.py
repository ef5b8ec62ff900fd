"""The unit a report is composed of: a :class:`Section` (title, numbers, figures).

A *section builder* is any callable ``(Annotations) -> Section``; it must be pure (no files
written, no global state), so a report is fully described by its list of builders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from matplotlib.axes import Axes

from ..datasets.annotations import Annotations
from ..datasets.coco import JSONValue as _JSONValue

__all__ = ["FigureSpec", "Section", "SectionBuilder", "JSONValue", "draw_no_data"]

#: JSON-plain data: what ``Section.numbers`` may hold (written to ``report.json`` as is).
JSONValue = _JSONValue

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a section: ``draw(ax)`` draws it into a fresh Axes of ``size`` inches.

    Parameters
    ----------
    name : str
        Part of the PNG file name (lower-case letters, digits, underscores).
    title : str
        Shown under the figure.
    draw : callable ``(Axes) -> Axes``
        Draws the figure (usually a ``bbgen.plot`` function bound with ``functools.partial``).
    caption : str
        Optional text after the title.
    size : tuple of (float, float)
        Figure size in inches.
    wide : bool
        Use the full width of the page (e.g. one bar per class with its name).
    """

    name: str
    title: str
    draw: Callable[[Axes], Axes]
    caption: str = ""
    size: tuple[float, float] = (6.4, 4.0)
    wide: bool = False

    def __post_init__(self) -> None:
        if not _KEY.match(self.name):
            raise ValueError(f"figure name must match {_KEY.pattern}, got {self.name!r}")


@dataclass(frozen=True)
class Section:
    """A report section: title, numbers, figures and the words that explain them.

    Parameters
    ----------
    key : str
        Anchor and ``report.json`` key (lower-case letters, digits, underscores).
    title : str
        Heading.
    numbers : dict of str to JSONValue
        JSON-plain data, written to ``report.json`` under ``sections.<key>``; every number the HTML
        shows comes from it (``None`` = not defined for these data, shown as "n/a").
    figures : tuple of FigureSpec
        Figures, in order.
    text : str
        Plain-text explanation of this report's numbers (shown under the headline numbers).
    highlights : tuple of str
        Keys of ``numbers`` shown as headline numbers, with the labels of :mod:`bbgen.report.labels`.
    how_to_read : str
        Two sentences on what the section measures and how to read its figures.
    """

    key: str
    title: str
    numbers: dict[str, JSONValue]
    figures: tuple[FigureSpec, ...] = ()
    text: str = ""
    highlights: tuple[str, ...] = field(default=())
    how_to_read: str = ""

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"section key must match {_KEY.pattern}, got {self.key!r}")
        if not isinstance(self.numbers, dict):
            raise TypeError(f"numbers must be a dict, got {type(self.numbers).__name__}")
        missing = [h for h in self.highlights if h not in self.numbers]
        if missing:
            raise ValueError(f"highlights name keys missing from numbers: {missing}")


SectionBuilder = Callable[[Annotations], Section]


def draw_no_data(ax: Axes, message: str = "no boxes: nothing to plot") -> Axes:
    """Draw a figure that says there is no data (instead of an empty or misleading plot).

    Parameters
    ----------
    ax : matplotlib Axes
        Axes to draw into.
    message : str
        The text shown in the middle of the axes.

    Returns
    -------
    matplotlib Axes
    """
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="0.35", transform=ax.transAxes)
    return ax
