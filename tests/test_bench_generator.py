"""analysis/bench_generator.py runs end to end (--quick) and writes a well-formed JSON (no timing checks)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "analysis" / "bench_generator.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "sub" / "bench.json"
    proc = _run("--quick", "--threads", "1", "--violations", "2e4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["threads"] == 1 and data["targets"]["boxes_per_s_1_thread"] == 1e7
    for key in ("boxes_1000x1000", "boxes_1e6x1"):
        row = data[key]
        assert set(row) >= {"bbgen", "torch_backend", "numpy_yardstick"}
        assert row["bbgen"]["best_per_s"] >= row["bbgen"]["median_per_s"] > 0
        assert row["numpy_yardstick"]["ratio_best"] > 0
    for key in ("prois_1_image", "prois_16_images"):
        assert data[key]["bbgen"]["best_ms"] > 0 and data[key]["torch_backend"]["ratio_median"] > 0
    assert set(data["verdicts"]) == {"boxes_per_s_1_thread", "speedup_vs_numpy", "ms_one_image",
                                     "ms_per_image_batch16"}
    assert data["violations"] == {"boxes": 20_000, "violations": 0, "dtype": "float32", "device": "cpu"}
    assert "(a) 100 refs x 100 boxes" in proc.stdout and "targets met" in proc.stdout


def _run_code(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with analysis/ (and tests/) on its path: the script is imported there,
    never in the test process."""
    path = os.pathsep.join(str(p) for p in (ROOT, ROOT / "analysis", ROOT / "tests"))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": path})


def test_numpy_yardstick_is_exact():
    """The yardstick is a fair baseline: it solves the same problem (IoU >= T, TL then BR)."""
    proc = _run_code("""
        import numpy as np
        import bench_generator
        from test_generator import np_iou

        rng = np.random.default_rng(0)
        ref = np.array([[10.0, 20.0, 50.0, 30.0]] * 2000)
        T = rng.uniform(0.3, 0.9, 2000)
        boxes = bench_generator.numpy_yardstick(ref, T, rng)
        assert np.all(np_iou(boxes, ref) >= T - 1e-12), "yardstick box below its threshold"
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_help_and_bad_arguments():
    proc = _run("--help")
    assert proc.returncode == 0 and "--violations" in proc.stdout
    proc = _run("--device", "tpu")
    assert proc.returncode != 0 and "--device" in proc.stderr
    proc = _run("--threads", "0")
    assert proc.returncode == 2 and "--threads" in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_cuda_unavailable_is_a_clear_error(tmp_path):
    proc = _run("--device", "cuda", "--quick", "--out", str(tmp_path / "x.json"))
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr
    assert not (tmp_path / "x.json").exists()


def test_violation_count_can_fail():
    """The --violations check counts boxes that break the constraint (here: every box moved off its reference)."""
    proc = _run_code("""
        import bench_generator

        real = bench_generator.generate_boxes
        bench_generator.generate_boxes = (
            lambda ref, *a, **kw: real(ref, *a, **kw) + 2 * (ref[:, None, 2:3] - ref[:, None, 0:1]))
        print(bench_generator.violations(2000, seed=0)["violations"])
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "2000"


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_interpreted_lockstep_baseline_gives_the_numba_boxes():
    """The CUDA run's lockstep baseline (one box per lane, no refill) is the same kernel: same boxes as numba
    (checked through the Triton interpreter on CPU)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import torch
        import bench_generator
        from bbgen.generator.batched import generate_numba
        from bbgen.generator.proposals import get_proposal

        ref, T = bench_generator.refs_and_thresholds(5, 0)
        a, _ = bench_generator.lockstep(ref, T, 7, 11)()
        b, _ = generate_numba(ref, T[:, None], None, None, 7, "random", get_proposal("uniform"), 11, 0)
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
        print("same")
    """)], capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1",
             "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "analysis"), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0 and proc.stdout.strip() == "same", proc.stderr[-3000:]
