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
                          capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "", "PYTHONPATH": str(ROOT)})


def test_bench_training_quick(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("bench_training.py", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    modes = ("stock", "ofb", "proi", "proi+ohpm", "ohem", "iou_balanced")
    for part in ("select_training_samples", "train_step"):
        assert set(res[part]) == set(modes)
        assert res[part]["stock"]["ratio_to_stock"] == 1.0
        assert all(res[part][m]["median_s"] > 0 for m in modes)
    assert "proi+ohpm" in proc.stdout
    # every issue target is judged on the paired ratio, and the verdict follows the numbers
    t = res["targets"]
    assert set(t) == {"proi_select", "ofb_select", "ohem_select", "iou_balanced_select", "monitor_overhead",
                      *(f"{m}_step_overhead" for m in modes[1:])}
    assert t["ohem_select"]["ratio"] == res["select_training_samples"]["ohem"]["paired_ratio"]
    mon = res["objective_monitor"]
    assert t["monitor_overhead"]["ratio"] == mon["share_at_default_interval"]
    assert mon["share_at_default_interval"] == pytest.approx(mon["cost_per_measured_step_s"] /
                                                             (mon["interval"] * mon["step_median_s"]))
    assert "objective monitor" in proc.stdout
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
    assert set(runs) == {"stock", "ofb", "proi", "proi+ohpm", "ohem", "iou_balanced"}
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


def _torchrun(out: Path, *args: str) -> dict[int, dict]:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(ROOT / "analysis" / "train_frcnn_proi.py"),
           "--device", "cpu", "--size", "64", "--test-images", "0", "--out", str(out), *args]
    env = {"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r: json.loads((out / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)}


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    """DDP on gloo: every integration trains, ranks draw their own streams, reruns reproduce each rank, the
    monitor's record is the mean over the ranks (the same on both)."""
    if not (Path(sys.executable).with_name("torchrun")).exists():
        pytest.skip("torchrun not installed next to the interpreter")
    methods = ["proi", "ohem", "iou_balanced", "ofb"]
    a = _torchrun(tmp_path / "a", "--method", ",".join(methods), "--steps", "3", "--monitor-interval", "1")
    assert a[0]["world_size"] == 2 and set(a[0]["runs"]) == set(methods)
    for m in methods:
        r0, r1 = a[0]["runs"][m], a[1]["runs"][m]
        assert len(r0["digests"]) == 3 and r0["digests"] != r1["digests"]  # each rank its own images and draws
        assert r0["weights_digest"] == r1["weights_digest"]  # DDP kept the replicas equal
        assert r0["objective"]["columns"] == r1["objective"]["columns"] and r0["objective"]["world_size"] == 2
        cols = r0["objective"]["columns"]
        for step in range(3):  # the monitor's value = mean over ranks of each rank's own loss
            for term in ("loss_classifier", "loss_objectness"):
                i = [k for k, (s, t) in enumerate(zip(cols["step"], cols["term"])) if s == step and t == term][0]
                mean = (r0["losses"][term][step] + r1["losses"][term][step]) / 2
                assert cols["value"][i] == pytest.approx(mean, rel=1e-6)
        assert all(g > 0 for g in cols["grad_norm"])
    # a rerun (other methods left out, fewer steps) reproduces every rank's draws and losses exactly
    b = _torchrun(tmp_path / "b", "--method", "ohem", "--steps", "2")
    for r in (0, 1):
        for m in ("ohem",):
            assert b[r]["runs"][m]["digests"] == a[r]["runs"][m]["digests"][:2]
            assert b[r]["runs"][m]["losses"]["loss_classifier"] == a[r]["runs"][m]["losses"]["loss_classifier"][:2]
    from bbgen.imbalance.objective import load_objective_log

    log = load_objective_log(tmp_path / "a" / "objective_ohem.json")  # what bbgen report --training-log reads
    assert log.world_size == 2 and log.columns == a[0]["runs"]["ohem"]["objective"]["columns"]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["config"]["world_size"] == 2 and summary["config"]["images_per_step"] == 4
