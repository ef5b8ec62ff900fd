"""The unit a report is composed of: a :class:`Section` (title, numbers, figures).

A *section builder* is any callable ``(Annotations) -> Section``; it must be pure (no files
written, no global state), so a report is fully described by its list of builders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from matplotlib.axes import Axes

from ..datasets.annotations import Annotations

__all__ = ["FigureSpec", "Section", "SectionBuilder"]

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a section: ``draw(ax)`` draws it into a fresh Axes of ``size`` inches.

    ``name`` becomes part of the PNG file name (lower-case letters, digits, underscores).
    """

    name: str
    title: str
    draw: Callable[[Axes], Axes]
    caption: str = ""
    size: tuple[float, float] = (6.4, 4.0)

    def __post_init__(self) -> None:
        if not _KEY.match(self.name):
            raise ValueError(f"figure name must match {_KEY.pattern}, got {self.name!r}")


@dataclass(frozen=True)
class Section:
    """A report section. ``numbers`` must be JSON-serialisable plain data (dict/list/str/int/float/bool);
    it is written to ``report.json`` under ``sections.<key>`` and every number shown in the HTML comes
    from it. ``text`` is a short plain-text explanation shown above the numbers."""

    key: str
    title: str
    numbers: dict[str, Any]
    figures: tuple[FigureSpec, ...] = ()
    text: str = ""
    highlights: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"section key must match {_KEY.pattern}, got {self.key!r}")
        if not isinstance(self.numbers, dict):
            raise TypeError(f"numbers must be a dict, got {type(self.numbers).__name__}")
        missing = [h for h in self.highlights if h not in self.numbers]
        if missing:
            raise ValueError(f"highlights name keys missing from numbers: {missing}")


SectionBuilder = Callable[[Annotations], Section]
