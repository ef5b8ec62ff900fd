"""Safe report output (issue #14 items 1, 2, 7): never delete a file bbgen did not write, clean up on
SIGTERM like on SIGINT, and one-line errors that name --out for an impossible output path."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbgen.cli import main
from bbgen.datasets import synthetic
from bbgen.report import build_report, data_sections
from bbgen.report.build import MANIFEST

FAST = ["--num-batches", "5", "--no-progress", "--synthetic-images", "60"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    return synthetic(60, num_classes=5, generator=3)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name != MANIFEST)


def test_rerun_keeps_foreign_files(tmp_path, capsys):
    out = tmp_path / "R"
    assert main(["report", "--out", str(out), *FAST]) == 0
    (out / "notes.txt").write_text("my notes")
    (out / "figures" / "mine.png").write_bytes(b"not bbgen's")
    assert main(["report", "--out", str(out), *FAST, "--seed", "1"]) == 0
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "figures" / "mine.png").read_bytes() == b"not bbgen's"
    manifest = json.loads((out / MANIFEST).read_text())
    assert "notes.txt" not in manifest["files"] and "index.html" in manifest["files"]
    assert json.loads((out / "report.json").read_text())["source"].endswith("generator=1)")
    assert _hidden(tmp_path) == []


def test_rerun_removes_only_its_own_stale_files(small, tmp_path):
    out = tmp_path / "R"
    build_report(small, out, sections=data_sections(num_batches=5))
    assert (out / "figures" / "location_center_heatmap.png").is_file()
    build_report(small, out, sections=data_sections(num_batches=5)[:2])  # fewer figures this time
    assert not (out / "figures" / "location_center_heatmap.png").exists()
    assert (out / "figures" / "classes_instances_per_class.png").is_file()


def test_refuses_non_empty_directory_without_manifest(small, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="out_dir .*not a bbgen report.*force"):
        build_report(small, tmp_path / "docs", sections=data_sections(num_batches=5))
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["thesis.tex"]
    # --force writes next to the foreign files and still never touches them
    build_report(small, tmp_path / "docs", sections=data_sections(num_batches=5)[:1], force=True)
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"
    assert (tmp_path / "docs" / "index.html").is_file()


def test_force_never_overwrites_a_foreign_file(small, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("my homepage")
    with pytest.raises(ValueError, match="index.html"):
        build_report(small, tmp_path / "docs", sections=data_sections(num_batches=5)[:1], force=True)
    assert (tmp_path / "docs" / "index.html").read_text() == "my homepage"
    assert _hidden(tmp_path) == []


def test_cli_refusal_names_force_flag(tmp_path, capsys):
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "keep.txt").write_text("x")
    assert main(["report", "--out", str(tmp_path / "R"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "--force" in err and "out_dir" not in err
    assert main(["report", "--out", str(tmp_path / "R"), "--force", *FAST]) == 0
    assert (tmp_path / "R" / "keep.txt").read_text() == "x"


@pytest.mark.parametrize("where", ["under_file", "proc"])
def test_impossible_out_is_one_line_naming_out(where, tmp_path, capsys):
    if where == "under_file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "R"
    else:
        if not Path("/proc").is_dir():
            pytest.skip("no /proc")
        out = Path("/proc/bbgen-test-x")
    assert main(["report", "--out", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out}" in err, err
    assert "Errno" not in err and "/." not in err  # no hidden temporary name, no raw OSError
    if where == "under_file":
        assert "afile" in err and "not a directory" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_out_is_a_regular_file(tmp_path, capsys):
    (tmp_path / "R").write_text("x")
    assert main(["report", "--out", str(tmp_path / "R"), *FAST]) == 1
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'R'}" in err and "is a file" in err
    assert (tmp_path / "R").read_text() == "x"


_SLOW_SCRIPT = """
import sys, time
from pathlib import Path
from bbgen.report import build_report, data_sections
from bbgen.report import FigureSpec, Section
from bbgen.cli import run_cleanly
from bbgen.datasets import synthetic

def slow(ann):
    def draw(ax):
        Path(sys.argv[2]).write_text("drawing")
        time.sleep(60)
        return ax
    return Section("slow", "Slow", {"x": 1}, (FigureSpec("f", "F", draw),))

sys.exit(run_cleanly(lambda: build_report(synthetic(30, generator=0), sys.argv[1], sections=[slow])))
"""


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_run_leaves_no_temporary_files(sig, existing, small, tmp_path):
    out = tmp_path / "R"
    if existing:
        build_report(small, out, sections=data_sections(num_batches=5)[:1])
        before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    flag = tmp_path / "flag"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SCRIPT, str(out), str(flag)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert flag.exists(), proc.communicate(timeout=10)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 143), err
    assert "Traceback" not in err and err.count("\n") == 1
    assert _hidden(tmp_path) == []
    if existing:
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    else:
        assert not out.exists()
