"""Empty data reads "n/a", never a number (issue #14 item 4); empty classes are named and the least
frequent class is the one the imbalance ratio uses (item 5)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from bbgen.cli import main
from bbgen.datasets import Annotations
from bbgen.imbalance.data_classes import class_profile
from bbgen.imbalance.data_measures import chi_square_uniform, gini, imbalance_ratio, normalized_entropy, quantiles
from bbgen.report import class_section, format_value

FAST = ["--num-batches", "5", "--no-progress"]


@pytest.fixture
def empty_coco(tmp_path):
    data = {"images": [{"id": 1, "width": 640, "height": 480, "file_name": "a.jpg"},
                       {"id": 2, "width": 320, "height": 200, "file_name": "b.jpg"}],
            "annotations": [], "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(data))
    return path


def test_measures_of_all_zero_counts_are_undefined():
    assert gini([0, 0, 0]) is None and imbalance_ratio([0, 0]) is None and normalized_entropy([0, 0]) is None
    assert chi_square_uniform([0, 0, 0])["p_value"] is None
    assert set(quantiles([]).values()) == {None}
    assert gini([5, 5]) == 0.0 and imbalance_ratio([0, 2, 10]) == 5.0


def test_coco_without_annotations_reads_na(empty_coco, tmp_path):
    out = tmp_path / "R"
    assert main(["report", str(empty_coco), "--out", str(out), *FAST]) == 0
    sections = json.loads((out / "report.json").read_text())["sections"]
    classes = sections["classes"]["numbers"]
    for key in ("gini", "imbalance_ratio", "normalized_entropy", "most_frequent_class", "least_frequent_class"):
        assert classes[key] is None, key
    assert classes["num_empty_classes"] == 2 and classes["empty_classes"] == ["cat", "dog"]
    assert sections["batch"]["numbers"]["top_class_not_majority_fraction"] is None
    assert sections["batch"]["numbers"]["classes"] == []
    assert set(sections["scale"]["numbers"]["coco_size_fractions"].values()) == {None}
    assert sections["location"]["numbers"]["central_fraction"] is None
    html = (out / "index.html").read_text()
    part = html[html.index('id="classes"'):html.index('id="batch"')]
    shown = dict(re.findall(r"<div>([^<]*)<b>([^<]*)</b>", part))  # highlight label -> value
    for label in ("gini", "imbalance ratio", "entropy"):
        assert [v for k, v in shown.items() if label in k.lower()] == ["n/a"], (label, shown)
    assert "cat" not in shown.values()
    md = (out / "summary.md").read_text()
    assert "n/a" in md[md.index("class imbalance"):]


def test_no_solid_bar_for_a_dataset_without_boxes(empty_coco):
    from bbgen.datasets import load

    section = class_section(load(empty_coco))
    spec = next(f for f in section.figures if f.name == "instances_per_class")
    ax = spec.draw(Figure().subplots())
    assert [p for p in ax.patches if p.get_height() > 0] == []
    assert any("no boxes" in t.get_text() for t in ax.texts)


def test_least_frequent_class_is_non_empty_and_empty_classes_are_listed():
    labels = np.array([0] * 10 + [1] * 2 + [3] * 4)
    ann = Annotations(image_ids=np.arange(4), image_sizes=np.full((4, 2), 100.0),
                      boxes=np.tile([[10.0, 10.0, 20.0, 20.0]], (16, 1)), labels=labels,
                      box_image=np.arange(16) % 4, crowd=np.zeros(16, bool),
                      category_names=("person", "toaster", "hair drier", "car"))
    d = class_profile(ann).to_dict()
    assert d["least_frequent_class"] == "toaster" and d["most_frequent_class"] == "person"
    assert d["imbalance_ratio"] == 5.0
    assert d["num_empty_classes"] == 1 and d["empty_classes"] == ["hair drier"]
    text = class_section(ann).text
    assert "hair drier" in text and "1 class has no instances" in text and "toaster" in text


def test_taco_least_frequent_is_the_ratio_class(shared_data):
    from bbgen.datasets import load

    d = class_profile(load(shared_data / "taco" / "annotations.json")).to_dict()
    assert d["empty_classes"] == ["Plastified paper bag"]
    assert d["least_frequent_class"] != "Plastified paper bag"
    assert d["imbalance_ratio"] == 667.0


def test_na_formatting():
    assert format_value(None) == "n/a"
