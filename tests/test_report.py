"""The report: files written, numbers in JSON, atomic writes, escaping, and the section extension point."""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from bbgen.datasets import Annotations, synthetic
from bbgen.report import (FigureSpec, Section, build_report, build_sections, data_sections, format_value,
                          render_html)


@pytest.fixture(scope="module")
def small():
    return synthetic(150, num_classes=10, generator=1)


@pytest.fixture(scope="module")
def report(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "out"
    return build_report(small, out, sections=data_sections(num_batches=40))


def test_report_files_and_figures(report):
    assert {p.name for p in report.iterdir()} == {"index.html", "report.json", "summary.md", "figures",
                                                 ".bbgen-report.json"}
    data = json.loads((report / "report.json").read_text())
    assert list(data["sections"]) == ["dataset", "classes", "batch", "scale", "location"]
    html = (report / "index.html").read_text()
    files = [f["file"] for s in data["sections"].values() for f in s["figures"]]
    assert len(files) == 10
    for f in files:
        assert (report / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{f}"' in html


def test_report_is_self_contained_and_labels_synthetic(report):
    html = (report / "index.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "Synthetic data" in html
    assert "Synthetic data" in (report / "summary.md").read_text()
    data = json.loads((report / "report.json").read_text())
    assert data["synthetic"] is True and data["source"].startswith("synthetic(")


def _scalars(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _scalars(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield f"{prefix}{k}", v


def test_every_scalar_shown_comes_from_report_json(small, report):
    data = json.loads((report / "report.json").read_text())
    html = (report / "index.html").read_text()
    built = {s.key: s.numbers for s in build_sections(small, data_sections(num_batches=40))}
    for key, section in data["sections"].items():
        assert section["numbers"] == json.loads(json.dumps(built[key]))
        for name, value in _scalars(section["numbers"]):
            assert format_value(value) in html, (key, name)


def test_failed_section_leaves_no_output(small, tmp_path):
    def broken(ann: Annotations) -> Section:
        raise ValueError("section exploded")

    with pytest.raises(ValueError, match="section exploded"):
        build_report(small, tmp_path / "out", sections=[*data_sections(num_batches=5), broken])
    assert list(tmp_path.iterdir()) == []


def test_failed_figure_keeps_previous_report(small, tmp_path):
    out = build_report(small, tmp_path / "out", sections=data_sections(num_batches=5)[:1])
    before = (out / "report.json").read_text()

    def bad_figure(ann):
        def draw(ax):
            raise RuntimeError("figure exploded")
        return Section("bad", "Bad", {"x": 1}, (FigureSpec("f", "F", draw),))

    with pytest.raises(RuntimeError, match="figure exploded"):
        build_report(small, out, sections=[bad_figure])
    assert (out / "report.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp dirs left


def test_refuses_to_overwrite_foreign_directory(small, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not a bbgen report"):
        build_report(small, tmp_path / "docs", sections=data_sections(num_batches=5))
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"


def test_extension_section_is_rendered(small, tmp_path):
    def anchors_section(ann: Annotations, *, scale: float) -> Section:
        def draw(ax):
            ax.plot([0, 1], [0, scale])
            return ax
        return Section("anchors", "Anchors", {"positives_per_image": 12.5 * scale, "levels": [1, 2]},
                       (FigureSpec("iou_hist", "IoU histogram", draw),), "extension test",
                       highlights=("positives_per_image",))

    out = build_report(small, tmp_path / "r", sections=[*data_sections(num_batches=5),
                                                         partial(anchors_section, scale=2.0)])
    data = json.loads((out / "report.json").read_text())
    assert data["sections"]["anchors"]["numbers"] == {"positives_per_image": 25.0, "levels": [1, 2]}
    assert (out / "figures" / "anchors_iou_hist.png").is_file()
    assert 'id="anchors"' in (out / "index.html").read_text()


def test_section_validation(small):
    with pytest.raises(ValueError, match="section key"):
        Section("Bad Key", "t", {})
    with pytest.raises(ValueError, match="highlights"):
        Section("ok", "t", {"a": 1}, highlights=("b",))
    with pytest.raises(ValueError, match="figure name"):
        FigureSpec("a/b", "t", lambda ax: ax)
    dup = lambda ann: Section("same", "t", {})  # noqa: E731
    with pytest.raises(ValueError, match="unique"):
        build_sections(small, [dup, dup])
    with pytest.raises(TypeError, match="returned dict"):
        build_sections(small, [lambda ann: {}])


def test_untrusted_names_are_escaped():
    evil = '<img src=x onerror="alert(1)">'
    s = Section("classes", evil, {"most_frequent_class": evil, "rows": [{"name": evil}]}, text=evil)
    html = render_html(evil, {"source": evil}, [s], {})
    assert evil not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_format_value():
    assert format_value(12345) == "12,345" and format_value(0.123456) == "0.1235"
    assert format_value(True) == "yes" and format_value(None) == "n/a" and format_value(np.float64(2.0)) == "2"


def test_report_on_dataset_without_boxes(tmp_path):
    import warnings

    empty = Annotations(image_ids=np.arange(2), image_sizes=np.array([[10.0, 10.0], [20.0, 20.0]]),
                        boxes=np.zeros((0, 4)), labels=np.zeros(0, np.int64), box_image=np.zeros(0, np.int64),
                        crowd=np.zeros(0, bool), category_names=("a",), source="empty.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = build_report(empty, tmp_path / "r", sections=data_sections(num_batches=5))
    numbers = json.loads((out / "report.json").read_text())["sections"]
    assert numbers["dataset"]["numbers"]["num_boxes"] == 0
    assert numbers["batch"]["numbers"]["empty_batches"] == 5
    assert numbers["location"]["numbers"]["chi_square_vs_uniform"]["p_value"] is None
