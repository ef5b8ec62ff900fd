"""The one helper every plotting function shares: use the caller's axes or make a figure."""
from __future__ import annotations

from matplotlib.axes import Axes


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.0)) -> Axes:
    """``ax`` itself, or the axes of a new pyplot figure when ``ax`` is None (seaborn's convention)."""
    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]
