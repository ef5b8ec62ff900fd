"""The training example and the training benchmark run end to end with --quick."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchvision")
ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "analysis" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": ""})


def test_bench_training_quick(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("bench_training.py", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    modes = ("stock", "ofb", "proi", "proi+ohpm")
    for part in ("select_training_samples", "train_step"):
        assert set(res[part]) == set(modes)
        assert res[part]["stock"]["ratio_to_stock"] == 1.0
        assert all(res[part][m]["median_s"] > 0 for m in modes)
    assert "proi+ohpm" in proc.stdout
    # every issue target is judged on the paired ratio, and the verdict follows the numbers
    t = res["targets"]
    assert set(t) == {"proi_select", "ofb_select", "ofb_step_overhead", "proi_step_overhead",
                      "proi+ohpm_step_overhead"}
    assert t["proi_select"]["ratio"] == res["select_training_samples"]["proi"]["paired_ratio"]
    assert t["proi_step_overhead"]["ratio"] == res["train_step"]["proi"]["paired_ratio"] - 1.0
    assert res["select_training_samples"]["stock"]["paired_ratio"] == 1.0
    assert all(v["met"] == (v["ratio"] <= v["target"]) for v in t.values())
    assert "targets (median of per-round paired ratios to stock)" in proc.stdout


def test_train_frcnn_proi_quick(tmp_path):
    proc = _run("train_frcnn_proi.py", "--quick", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (tmp_path / "train_frcnn_proi.png").stat().st_size > 10_000
    runs = summary["runs"]
    assert set(runs) == {"stock", "ofb", "proi", "proi+ohpm"}
    for run in runs.values():
        assert len(run["positives"]) == summary["config"]["steps"]
        assert all(len(v) == summary["config"]["steps"] for v in run["losses"].values())
    # pRoI trains on exactly RoINum = 16 generated positives per image (2 images per step)
    assert all(sum(p) == 32 for p in runs["proi"]["positives"])
    assert runs["proi"]["summary"]["within_image_balance"] >= 0.8  # fgBalancedRoIAlloc: 16 -> 6/5/5 at worst


@pytest.mark.parametrize("script, args, match", [
    ("train_frcnn_proi.py", ["--modes", "stock,focal"], "--modes"),
    ("bench_training.py", ["--rounds", "0"], "--rounds"),
    ("bench_training.py", ["--step-rounds", "0"], "--step-rounds"),
])
def test_scripts_reject_bad_arguments(script, args, match):
    proc = _run(script, *args)
    assert proc.returncode != 0 and match in proc.stderr
