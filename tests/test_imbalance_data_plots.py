"""Data-side figures: each returns the Axes it drew on, with the thesis' log axes and the profile's data."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

import bbgen.plot as bp
from bbgen.datasets import synthetic
from bbgen.imbalance import profile_dataset


@pytest.fixture(scope="module")
def profile():
    return profile_dataset(synthetic(300, num_classes=12, generator=0), num_batches=100)


def _ax():
    return Figure().subplots()


@pytest.mark.parametrize("name,part,log", [
    ("plot_instances_per_class", "classes", True), ("plot_images_by_instances", "classes", True),
    ("plot_images_by_classes", "classes", True), ("plot_batch_class_shares", "batch", False),
    ("plot_relative_width", "scale", True), ("plot_relative_height", "scale", True),
    ("plot_relative_area", "scale", True), ("plot_size_categories", "scale", False),
    ("plot_fpn_levels", "scale", True), ("plot_center_heatmap", "location", False),
])
def test_plot_draws_on_given_axes(profile, name, part, log):
    ax = _ax()
    out = getattr(bp, name)(getattr(profile, part), ax=ax)
    assert out is ax
    assert (ax.get_yscale() == "log") is log
    assert ax.get_title()
    ax.figure.canvas.draw()  # renders without error


def test_instances_per_class_bars_are_sorted_counts(profile):
    ax = bp.plot_instances_per_class(profile.classes, ax=_ax())
    heights = [p.get_height() for p in ax.patches]
    expected = np.maximum(np.sort(profile.classes.instances_per_class)[::-1], 0.5)
    np.testing.assert_allclose(heights, expected)


def test_center_heatmap_shows_density_relative_to_uniform(profile):
    ax = bp.plot_center_heatmap(profile.location, ax=_ax())
    shown = ax.images[0].get_array()
    heat = profile.location.heatmap
    np.testing.assert_allclose(shown, heat / heat.mean())


def test_plot_without_axes_creates_figure_and_rejects_non_axes(profile):
    import matplotlib.pyplot as plt

    ax = bp.plot_fpn_levels(profile.scale)
    assert ax.figure is not None
    plt.close(ax.figure)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        bp.plot_fpn_levels(profile.scale, ax="nope")
