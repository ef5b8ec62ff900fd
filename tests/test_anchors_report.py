"""The anchor section of ``bbgen report`` (``--anchors`` / ``--assigner``)."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from bbgen.cli import main  # noqa: E402
from bbgen.datasets import synthetic  # noqa: E402
from bbgen.report.anchor_section import anchor_section  # noqa: E402


def test_anchor_section_numbers_are_plain_json():
    s = anchor_section(synthetic(60, generator=0), anchors="rpn", assigner="maxiou")
    assert s.key == "anchors" and len(s.figures) == 8
    d = json.loads(json.dumps(s.numbers))
    assert d["anchors"] == "rpn" and d["assigner"]["high"] == 0.7 and d["assigner"]["low"] == 0.3
    assert d["mean_positives"] > 0 and d["negatives_per_positive"] > 1
    assert sum(d["positive_iou_hist"]) == sum(d["positives_per_level"].values())
    assert list(d["positives_per_level"]) == ["P2", "P3", "P4", "P5", "P6"]


def _run(tmp_path, *extra):
    out = tmp_path / "rep"
    rc = main(["report", "--synthetic-images", "30", "--num-batches", "2", "--no-progress", "--out", str(out), *extra])
    return rc, out


def test_cli_adds_anchor_section(tmp_path):
    rc, out = _run(tmp_path, "--anchors", "retinanet")
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    sec = rep["sections"]["anchors"]
    assert sec["numbers"]["assigner"]["name"] == "MaxIoUAssigner" and len(sec["figures"]) == 8
    assert all((out / f["file"]).is_file() for f in sec["figures"])
    assert "Anchor imbalance" in (out / "index.html").read_text()


def _builders(*extra):
    from bbgen.cli import build_parser, report_sections

    return report_sections(build_parser().parse_args(["report", *extra]))


def test_options_map_to_builders():
    assert not any(getattr(b, "func", None) is anchor_section for b in _builders())
    (b,) = [b for b in _builders("--assigner", "atss") if getattr(b, "func", None) is anchor_section]
    assert b.keywords["anchors"].name == "retinanet" and b.keywords["assigner"] == "atss"
    (b,) = [b for b in _builders("--anchors", "ssd300") if getattr(b, "func", None) is anchor_section]
    assert b.keywords["anchors"].name == "ssd300" and b.keywords["assigner"] == "maxiou"


@pytest.mark.parametrize("value, message", [("yolo", "anchors must be one of"), ("missing.json", "missing.json")])
def test_cli_bad_anchors_is_one_line_error(tmp_path, capsys, value, message):
    rc, _ = _run(tmp_path, "--anchors", value)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and message in err and len(err.splitlines()) == 1


def test_custom_anchor_file(tmp_path):
    cfg = tmp_path / "mine.json"
    cfg.write_text(json.dumps({"sizes": [[24, 48], [96]], "aspect_ratios": [1.0], "strides": [8, 16],
                               "min_size": 320, "max_size": 512}))
    (b,) = [b for b in _builders("--anchors", str(cfg)) if getattr(b, "func", None) is anchor_section]
    sec = b(synthetic(30, generator=1))
    assert sec.numbers["anchors"] == "mine" and list(sec.numbers["positives_per_level"]) == ["L0", "L1"]
