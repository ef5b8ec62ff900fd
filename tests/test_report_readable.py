"""A report that explains itself (issue #14 items 12-15): folded number tables, plain labels with units,
links, class names on per-class axes, "how to read this", the low-IoU positives and the ±1.5 spikes
explained, fg:bg as areas, one definition of "beyond the image"."""
from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bbgen.datasets import Annotations, synthetic
from bbgen.imbalance.data_profile import dataset_summary
from bbgen.imbalance.data_scale import scale_profile
from bbgen.report import build_report, class_section, data_sections
from bbgen.report.labels import LABELS, format_with_unit


@pytest.fixture(scope="module")
def anchor_report(tmp_path_factory):
    from bbgen.report.anchor_section import anchor_section

    ann = synthetic(40, num_classes=30, generator=2)
    sections = [*data_sections(num_batches=20), lambda a: anchor_section(a, anchors="retinanet")]
    out = build_report(ann, tmp_path_factory.mktemp("readable") / "R", sections=sections)
    return out, (out / "index.html").read_text()


def test_all_numbers_tables_are_folded(anchor_report):
    _, html = anchor_report
    assert html.count("<summary>All numbers") == 6
    assert "<details open><summary>All numbers" not in html


def test_headline_numbers_have_plain_labels_and_units(anchor_report):
    _, html = anchor_report
    highlights = "".join(re.findall(r'<div class="hl">(.*?)</div></div>', html))
    for raw in ("top_class_not_majority_fraction", "coco_size_fractions", "normalized_entropy", "mean_negatives"):
        assert raw not in highlights, raw
    assert "Boxes by COCO size · small (&lt; 32² px)" in highlights and " %</b>" in highlights
    assert "Foreground : background anchors<b>1 : " in highlights
    assert format_with_unit(0.4123, "%") == "41.2 %" and format_with_unit(2396.4, "1:") == "1 : 2,396"
    assert all(label.text and label.text[0].isupper() for label in LABELS.values())


def test_report_links_its_json_and_markdown(anchor_report):
    _, html = anchor_report
    assert '<a href="report.json">' in html and '<a href="summary.md">' in html


def test_every_section_says_how_to_read_it(anchor_report):
    out, html = anchor_report
    assert html.count('<p class="read"><b>How to read this.</b>') == 6
    assert (out / "summary.md").read_text().count("*How to read this.*") == 6


def test_low_iou_positives_and_target_spikes_are_explained(anchor_report):
    _, html = anchor_report
    assert "low-quality matches" in html and "allow_low_quality_matches" in html
    assert "±1.5" in html and "end bins" in html and "e^1.5" in html


def test_per_class_axes_carry_class_names():
    names = tuple(f"litter kind {i}" for i in range(60))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 60, 300)
    ann = Annotations(image_ids=np.arange(30), image_sizes=np.full((30, 2), 100.0),
                      boxes=np.tile([[10.0, 10.0, 40.0, 40.0]], (300, 1)), labels=labels,
                      box_image=np.arange(300) % 30, crowd=np.zeros(300, bool), category_names=names)
    spec = next(f for f in class_section(ann).figures if f.name == "instances_per_class")
    ax = spec.draw(Figure(figsize=spec.size).subplots())
    assert {t.get_text() for t in ax.get_xticklabels()} == set(names) and spec.wide


def test_fg_bg_is_drawn_as_areas():
    from bbgen.imbalance import anchor_profile
    from bbgen.report.figures import plot_fg_bg_areas

    p = anchor_profile(synthetic(10, generator=0), "retinanet", progress=False)
    ax = plot_fg_bg_areas(p, Figure().subplots())
    squares = [r for r in ax.patches if isinstance(r, Rectangle)]
    areas = np.array([r.get_width() * r.get_height() for r in squares])
    means = np.array([p.positives.sum(), p.ignored.sum(), p.negatives.sum()]) / p.num_images
    np.testing.assert_allclose(areas, means, rtol=1e-9)
    assert ax.get_yscale() == "linear" and "1 : " in ax.get_title(loc="left")


def test_one_definition_of_beyond_the_image():
    # box 0 pokes out on the left (x1 < 0) but is narrower than the image; box 1 is wider than the image
    ann = Annotations(image_ids=np.arange(1), image_sizes=np.array([[100.0, 100.0]]),
                      boxes=np.array([[-5.0, 10.0, 20.0, 30.0], [-10.0, 0.0, 120.0, 50.0], [1.0, 1.0, 9.0, 9.0]]),
                      labels=np.zeros(3, np.int64), box_image=np.zeros(3, np.int64), crowd=np.zeros(3, bool),
                      category_names=("a",))
    assert dataset_summary(ann).boxes_beyond_image == scale_profile(ann).beyond_image == 2
