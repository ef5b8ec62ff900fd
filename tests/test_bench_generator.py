"""analysis/bench_generator.py runs end to end (--quick) and writes a well-formed JSON (no timing checks)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "analysis" / "bench_generator.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "sub" / "bench.json"
    proc = _run("--quick", "--profile", "--threads", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["threads"] == 1
    assert data["targets"] == {"boxes_per_s": 1e7, "ms_per_image": 0.3}
    assert [r["T"] for r in data["boxes"]] == [0.5, 0.7, 0.9]
    for r in data["boxes"]:
        assert r["n"] == 10_000 and r["kernel_boxes_per_s"] > 0 and r["reference_boxes_per_s"] > 0
        assert r["speedup"] == pytest.approx(r["kernel_boxes_per_s"] / r["reference_boxes_per_s"])
        assert isinstance(r["target_met"], bool)
    assert {(r["images"], r["image_bounds"]) for r in data["prois"]} == {(1, True), (4, True), (1, False), (4, False)}
    for r in data["prois"]:
        assert r["ms_per_image"] > 0 and r["speedup"] == pytest.approx(r["reference_ms_per_image"] / r["ms_per_image"])
    assert data["profile"]["aten_ops_per_call"] > 0 and data["profile"]["top_ops"]
    stages = data["profile"]["stages_ms_per_call"]
    assert 0 < stages["generate_validated"] <= stages["generate_prois"] and stages["allocate_rois"] > 0
    # the printed table names every measurement and says the reference path is extrapolated
    assert "(a) M boxes/s" in proc.stdout and "(b) ms/image" in proc.stdout and "extrapolated" in proc.stdout


def test_help_and_bad_arguments(capsys):
    sys.path.insert(0, str(ROOT / "analysis"))
    import bench_generator

    with pytest.raises(SystemExit) as exc:
        bench_generator.main(["--help"])
    assert exc.value.code == 0 and "--quick" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        bench_generator.main(["--device", "tpu"])
    assert exc.value.code != 0 and "--device" in capsys.readouterr().err
    assert bench_generator.main(["--threads", "0"]) == 2 and "--threads" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_cuda_unavailable_is_a_clear_error(tmp_path):
    proc = _run("--device", "cuda", "--quick", "--out", str(tmp_path / "x.json"))
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr
    assert not (tmp_path / "x.json").exists()
