"""analysis/bench_lrp.py runs end to end (--quick) and writes a well-formed JSON (no timing checks)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "sub" / "bench_lrp.json"
    proc = subprocess.run([sys.executable, str(ROOT / "analysis" / "bench_lrp.py"), "--quick", "--baseline-images",
                           "50", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    ev = data["evaluation"]
    assert data["quick"] is True and ev["images"] == 200 and ev["detections"] == 20_000
    assert ev["seconds"] > 0 and 0 < ev["moLRP"] < 1 and 0 < ev["AP"] < 1 and isinstance(ev["target_met"], bool)
    assert [r["threads"] for r in data["rank_sort"]] == [1, 2]
    for r in data["rank_sort"]:
        assert [row["negatives"] for row in r["rows"]] == [3_000, 10_000, 30_000]
        assert all(row["ms"] > 0 for row in r["rows"]) and r["authors_loop_ms_at_smallest"] > 0
    assert "(a) evaluate_lrp" in proc.stdout and "(b) RS Loss" in proc.stdout


def test_bad_argument_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "analysis" / "bench_lrp.py"), "--baseline-images", "0"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "--baseline-images must be >= 1" in proc.stderr
