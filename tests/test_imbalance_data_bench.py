"""analysis/bench_profile.py runs end to end (--quick) and writes well-formed JSON (no timing checks)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "analysis" / "bench_profile.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=env)


def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "sub" / "bench.json"
    proc = _run("--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["targets_s"] == {"real": 5.0, "synthetic_1M": 30.0}
    rows = data["results"]
    assert rows[-1]["dataset"].startswith("synthetic") and 15_000 < rows[-1]["boxes"] < 25_000
    for r in rows:
        assert r["total_s"] == pytest.approx(r["load_s"] + r["profile_s"])
        assert r["speedup_vs_baseline"] == pytest.approx(r["baseline_s_extrapolated"] / r["profile_s"])
        assert set(r["stages_s"]) == {"classes", "batch", "scale", "location"}
        assert isinstance(r["target_met"], bool)
    assert "speedup" in proc.stdout and "extrapolated" in proc.stdout and str(out) in proc.stdout


def test_bad_arguments():
    proc = _run("--repeat", "0")
    assert proc.returncode == 2 and "--repeat must be >= 1" in proc.stderr
    assert _run("--help").returncode == 0
