"""``bbgen evaluate GT DETS``: report files, the numbers in them, one-line errors for bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bbgen.cli import main
from bbgen.evaluation import evaluate_lrp
from bbgen.evaluation.synthetic import synthetic_evaluation_data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    gt, dets = synthetic_evaluation_data(30, 30, 4, generator=0)
    (d / "gt.json").write_text(json.dumps(gt))
    (d / "dets.json").write_text(json.dumps(dets))
    return d, gt, dets


def test_evaluate_writes_report_with_the_library_numbers(files, capsys):
    d, gt, dets = files
    out = d / "report"
    assert main(["evaluate", str(d / "gt.json"), str(d / "dets.json"), "--out", str(out), "--no-progress"]) == 0
    assert "moLRP" in capsys.readouterr().out
    data = json.loads((out / "report.json").read_text())["sections"]["lrp"]["numbers"]
    expected = evaluate_lrp(gt, dets)
    assert data["summary"]["moLRP"] == pytest.approx(expected.stats["moLRP"])
    assert data["summary"]["AP"] == pytest.approx(expected.stats["AP"])
    assert [row["lrp_threshold"] for row in data["per_class"]] == pytest.approx(
        expected.lrp_threshold[:, 0, -1].tolist())
    assert len(data["sweep"]["lrp"]) == 101
    assert (out / "figures" / "lrp_sweep.png").stat().st_size > 1000
    md = (out / "summary.md").read_text()
    assert "LRP-optimal thresholds per class" in md and "| class0 |" in md
    assert "oLRP" in (out / "index.html").read_text()


def _write(d, name, obj):
    (d / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(d / name)


@pytest.mark.parametrize("dets,expected", [
    ([], "the detection results are empty"),
    ([{"image_id": 999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}], "image_id 999"),
    ([{"image_id": 1, "category_id": 77, "bbox": [0, 0, 5, 5], "score": 0.5}], "category_id 77"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, NaN, 5, 5], "score": 0.5}]', "NaN/inf box"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], ', "not valid JSON"),
    ({"not": "a list"}, "missing"),
])
def test_bad_detections_one_line_error(files, tmp_path, capsys, dets, expected):
    d, _, _ = files
    code = main(["evaluate", str(d / "gt.json"), _write(tmp_path, "dets.json", dets), "--out",
                 str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_ground_truth_one_line_error(files, tmp_path, capsys):
    d, _, _ = files
    code = main(["evaluate", _write(tmp_path, "gt.json", {"images": []}), str(d / "dets.json"),
                 "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "'annotations' must be a list" in err


def test_console_script_subprocess(files, tmp_path):
    d, _, _ = files
    proc = subprocess.run([sys.executable, "-m", "bbgen.cli", "evaluate", str(d / "gt.json"), str(d / "dets.json"),
                           "--out", str(tmp_path / "o"), "--tau", "0.6", "--variant", "paper", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "o" / "report.json").read_text())["sections"]["lrp"]["numbers"]["settings"] == {
        "tau": 0.6, "variant": "paper", "area_ranges": ["all", "small", "medium", "large"], "max_dets": [1, 10, 100]}


def test_nothing_to_evaluate_reads_n_a_and_bad_tau_names_the_flag(tmp_path, capsys):
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "a"}],
          "annotations": []}  # no ground truth: every summary number is undefined
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "score": 0.9}]
    args = ["evaluate", _write(tmp_path, "gt.json", gt), _write(tmp_path, "dets.json", dets), "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "moLRP n/a (loc n/a, FP n/a, FN n/a), AP n/a" in out and "nan" not in out  # was "moLRP nan ..."
    assert main(args + ["--out", str(tmp_path / "out2"), "--tau", "1"]) == 1
    assert capsys.readouterr().err == "bbgen: error: --tau must lie in (0, 1), got 1.0\n"
