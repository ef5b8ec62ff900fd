"""The one error type every reader raises for untrusted annotation input."""
from __future__ import annotations

from pathlib import Path

__all__ = ["AnnotationFormatError"]


class AnnotationFormatError(ValueError):
    """An annotation file is missing, malformed or inconsistent.

    The message always starts with the offending file, so a command-line caller can print
    ``str(err)`` as a single, complete line.

    Parameters
    ----------
    path : str or Path
        The offending file or folder.
    problem : str
        What is wrong, in words.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
