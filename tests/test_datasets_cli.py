"""Each real dataset of ../shared/data opens from the command line alone and gives the published counts
(issue #14 item 10; counts from shared/data/README.md). Subprocesses, as a user runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--num-batches", "50", "--no-progress"]


def _bbgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "bbgen.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def _report(shared_data: Path, tmp_path: Path, *args: str) -> dict:
    run = _bbgen("report", *[a.replace("DATA/", f"{shared_data}/") for a in args], "--out", str(tmp_path / "R"),
                 *FAST, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    sections = json.loads((tmp_path / "R" / "report.json").read_text())["sections"]
    return {k: s["numbers"] for k, s in sections.items()}


def _per_class(numbers: dict) -> dict[str, int]:
    return {c["name"]: c["instances"] for c in numbers["classes"]["per_class"]}


def test_coco_val2017_torchcv_folder_is_detected(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/coco2017_val_torchcv")
    assert (n["dataset"]["num_images"], n["dataset"]["num_boxes"], n["dataset"]["num_classes"]) == (4952, 36781, 80)
    counts = _per_class(n)
    assert counts["person"] == 11004 and counts["car"] == 1932 and counts["toaster"] == 9
    assert n["classes"]["least_frequent_class"] == "toaster"


def test_torchcv_format_forced_on_a_list_file(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/coco2017_val_torchcv/coco17_val.txt", "--format", "torchcv")
    assert n["dataset"]["num_boxes"] == 36781


def test_voc2007_test_torchcv_list_with_difficult_flags(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/voc2007/torchcv", "--split", "voc07_test",
                "--image-sizes", "DATA/voc2007/detectron_style_json/pascal_test2007.json")
    d = n["dataset"]
    assert (d["num_images"], d["num_boxes"], d["num_crowd"], d["num_classes"]) == (4952, 14976, 2944, 20)
    assert n["classes"]["num_instances"] == 12032  # the published non-difficult count
    counts = _per_class(n)
    assert counts["person"] == 4528 and counts["aeroplane"] == 285 and counts["diningtable"] == 206
    assert d["boxes_beyond_image"] == 0  # 1-based VOC corners read as the devkit does


def test_voc2007_detectron_json(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/voc2007/detectron_style_json/pascal_test2007.json")
    assert (n["dataset"]["num_images"], n["dataset"]["num_boxes"]) == (4952, 14976)
    assert _per_class(n)["person"] == 5227


def test_taco(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/taco/annotations.json")
    assert (n["dataset"]["num_images"], n["dataset"]["num_boxes"], n["dataset"]["num_classes"]) == (1500, 4784, 60)
    assert _per_class(n)["Cigarette"] == 667 and n["classes"]["empty_classes"] == ["Plastified paper bag"]
    assert n["dataset"]["boxes_beyond_image"] == n["scale"]["beyond_image"] == 7  # README: seven boxes


def test_bccd(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/bccd")
    d = n["dataset"]
    assert d["num_images"] == 364 and d["num_boxes"] + d["dropped"]["zero_or_negative_size"] == 4888
    assert _per_class(n) == {"RBC": 4155 - 2, "WBC": 372, "Platelets": 361}  # two zero-size RBC boxes dropped


def test_raccoon(shared_data, tmp_path):
    n = _report(shared_data, tmp_path, "DATA/raccoon")
    assert (n["dataset"]["num_images"], n["dataset"]["num_boxes"], n["dataset"]["num_classes"]) == (200, 217, 1)
    assert n["dataset"]["boxes_beyond_image"] == 0


@pytest.mark.parametrize("args,expected", [
    (["DATA/voc2007/torchcv"], "pass --split with one of them"),
    (["DATA/voc2007/torchcv", "--split", "voc07_test"], "no image sizes"),
])
def test_torchcv_errors_name_flags(shared_data, tmp_path, args, expected):
    run = _bbgen("report", *[a.replace("DATA/", f"{shared_data}/") for a in args], "--out", str(tmp_path / "R"),
                 cwd=tmp_path)
    assert run.returncode == 1 and expected in run.stderr and run.stderr.count("\n") == 1, run.stderr
