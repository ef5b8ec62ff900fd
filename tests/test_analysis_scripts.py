"""Every script in analysis/ runs its README command as a user would: a subprocess from a scratch directory,
with the README's own arguments followed by smoke arguments (``--quick`` or tiny sizes, outputs into the
scratch directory). Scripts owned by other helpers whose full ``--quick`` runs are tested elsewhere
(bench_generator: tests/test_bench_generator.py; bench_training and train_frcnn_proi:
tests/test_integration_torchvision_scripts.py; bench_lrp: tests/test_bench_lrp.py;
train_retinanet_ranking: tests/test_integration_ranking.py) get ``--help`` after the README arguments, which still
parses those arguments and imports the script."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCRIPTS = sorted(p.name for p in (ROOT / "analysis").glob("*.py") if not p.name.startswith("_"))
NEEDS_TORCHVISION = {"bench_training.py", "train_frcnn_proi.py"}
# script -> smoke arguments appended to the README command ({tmp}: the scratch directory)
SMOKE = {
    "bench_anchors.py": ["--quick", "--no-progress", "--out", "{tmp}/bench_anchors.json"],
    "bench_generator.py": ["--help"],
    "bench_lrp.py": ["--help"],
    "bench_profile.py": ["--quick", "--repeat", "1", "--out", "{tmp}/bench_profile.json"],
    "bench_training.py": ["--help"],
    "paper_figures.py": ["--num-boxes", "50", "--out", "{tmp}/figures"],
    "regression_loss_imbalance.py": ["--quick", "--out", "{tmp}/regression_loss_imbalance.json"],
    "roi_sources.py": ["--n", "1000", "--n-tl", "300", "--out-dir", "{tmp}/roi_sources"],
    "sim_extended_iou.py": ["--quick", "--out", "{tmp}/sim_extended_iou.json"],
    "sim_focal_eiou.py": ["--quick", "--out", "{tmp}/sim_focal_eiou.json"],
    "train_frcnn_proi.py": ["--help"],
    "train_retinanet_ranking.py": ["--help"],
}
_COMMAND = re.compile(r"\.venv/bin/python analysis/(\w+\.py)([^#`(\n]*)")


def readme_commands() -> list[tuple[str, list[str]]]:
    """``(script, arguments)`` of every ``.venv/bin/python analysis/...`` command in the README (optional
    ``[...]`` parts dropped)."""
    return [(m[1], shlex.split(re.sub(r"\[[^]]*\]", "", m[2]))) for m in _COMMAND.finditer(README)]


def run_script(script: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(ROOT / "analysis" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_script_has_a_readme_command_and_a_smoke_test():
    documented = {script for script, _ in readme_commands()}
    assert set(SCRIPTS) <= documented, f"scripts without a README command: {set(SCRIPTS) - documented}"
    assert set(SCRIPTS) == set(SMOKE), f"scripts without smoke arguments: {set(SCRIPTS) ^ set(SMOKE)}"


@pytest.mark.parametrize("script,args", readme_commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_readme_command_runs(script, args, tmp_path):
    smoke = [a.format(tmp=tmp_path) for a in SMOKE[script]]
    if script in NEEDS_TORCHVISION and "--help" not in smoke:
        pytest.importorskip("torchvision")
    proc = run_script(script, [*args, *smoke], tmp_path)
    assert proc.returncode == 0, f"{script} {args + smoke}: {proc.stderr[-2000:]}"
    if "--help" in smoke:
        assert "usage:" in proc.stdout
        return
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.stat().st_size > (5_000 if p.suffix == ".png" else 10) for p in written), written
    data = {p.name: json.loads(p.read_text()) for p in written if p.suffix == ".json"}
    assert not (tmp_path / "results").exists(), "wrote into the working directory despite --out"
    if script in CHECKS:
        CHECKS[script](data[script.replace(".py", ".json")], proc.stdout)


def _check_zhang(data: dict, stdout: str) -> None:
    """Every run names its reading and parameterisation; the readings share the geometry; claims both ways."""
    runs = [(s["setup"], s["reading"], s["param"]) for s in data["setups"]]
    assert len(set(runs)) == len(runs) and {p for *_, p in runs} <= {"xyxy", "xywh"}
    for setup in {s for s, *_ in runs}:
        assert len({s["disjoint_share"] for s in data["setups"] if s["setup"] == setup}) == 1
    assert len(data["claims"]) == sum(2 * (4 if s == 1 else 5) for s, *_ in runs)
    assert {c["focal"] for c in data["claims"]} == {"Focal-EIoU", "Focal-EIoU (const. weight)"}
    assert "| claim |" in data["tables"]["claims"] and "AGREES]" in stdout
    if any(r == "literal" for _, r, _ in runs):
        assert "literal (non-converging)" in data["tables"]["claims"]


def _check_peng(data: dict, stdout: str) -> None:
    """Curves, the convergence iteration of the 'trapped' start at lr 0.1 (376) and all seven claims."""
    assert data["iterations"] == 100 and data["convergence"]["budget"] == 500 and len(data["claims"]) == 7
    assert data["convergence"]["iterations"]["0.1"]["fig5b large without SOT"] == 376
    assert "lr 0.1:" in stdout


def _check_regression(data: dict, stdout: str) -> None:
    assert data["source"] == "synthetic" and len(data["bins"]) == 5 and "rpn_like" in stdout
    assert all(v == v and abs(v) != float("inf") for vals in data["mean_loss"].values() for v in vals)


CHECKS = {"sim_focal_eiou.py": _check_zhang, "sim_extended_iou.py": _check_peng,
          "regression_loss_imbalance.py": _check_regression}


@pytest.mark.parametrize("script,args,match", [
    ("sim_focal_eiou.py", ["--iterations", "3"], "--iterations"),
    ("sim_extended_iou.py", ["--budget", "20", "--iterations", "50"], "--budget"),
])
def test_simulation_scripts_reject_bad_arguments(script, args, match, tmp_path):
    proc = run_script(script, args, tmp_path)
    assert proc.returncode == 2 and match in proc.stderr


def test_regression_imbalance_script_bad_annotations(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = run_script("regression_loss_imbalance.py", ["--quick", "--annotations", str(bad), "--out",
                                                       str(tmp_path / "x.json")], tmp_path)
    assert proc.returncode == 2 and "error" in proc.stderr
