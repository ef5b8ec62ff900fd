"""The paper-figure script writes its PNGs; notebook 01 executes."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, execute_notebook

FIGURES = ["fig4_2_feasible_spaces.png", "fig4_3_generated_boxes.png", "fig4_4b_tl_space.png",
           "fig4_6_tl_boundaries.png"]


def test_script_writes_pngs(tmp_path):
    out = tmp_path / "figs"
    res = subprocess.run([sys.executable, str(ROOT / "analysis" / "paper_figures.py"), "--out", str(out),
                          "--num-boxes", "200"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_script_bad_argument_exit_code(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "analysis" / "paper_figures.py"), "--num-boxes", "0"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "--num-boxes" in res.stderr


def test_unwritable_output_is_one_line_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    res = subprocess.run([sys.executable, str(ROOT / "analysis" / "paper_figures.py"), "--out", str(blocker / "x"),
                          "--num-boxes", "10"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "error" in res.stderr and "Traceback" not in res.stderr


def test_notebook_01_executes():
    execute_notebook(ROOT / "notebooks" / "01_bounding_box_generator.ipynb")
