"""Plotting helpers: one function per figure, ``(data, ax=None) -> Axes``."""

__all__: list[str] = []
