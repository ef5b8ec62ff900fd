"""bbgen.studies.roi_sources, analysis/roi_sources.py (Fig. 4.5 IoU histograms, TL spatial distribution) and notebooks/02_roi_sources.ipynb."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import execute_notebook  # noqa: E402

from bbgen.generator.feasible import in_tl_space  # noqa: E402
from bbgen.roi.distributions import PRESETS  # noqa: E402

import bbgen.studies.roi_sources as rs  # noqa: E402
from bbgen.plot import plot_iou_histograms, plot_roi_tl_corners  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "analysis" / "roi_sources.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    """The script as a user runs it (analysis/ is not a library: no sys.path edits in tests)."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_iou_histograms_data_and_plot():
    h = rs.iou_histograms(3000, generator=1)
    assert set(h.density) == set(PRESETS) and h.edges[0] == 0.5 and h.edges[-1] == 1.0
    for name in PRESETS:
        assert np.sum(h.density[name] * np.diff(h.edges)) == pytest.approx(1.0)
        assert h.bin_fractions[name].sum() == pytest.approx(1.0)
    assert h.bin_fractions["base"][0] > 0.8                      # Fig. 4.5: base piles up at 0.5
    assert h.bin_fractions["right_skew"][-1] > h.bin_fractions["left_skew"][-1] * 5
    d = h.to_dict()
    assert json.loads(json.dumps(d))["n"] == 3000 and len(d["bin_fractions"]["uniform"]) == 5
    ax = plot_iou_histograms(h)
    assert len(ax.get_legend().get_texts()) == len(PRESETS)
    plt.close("all")


def test_exact_histogram_fractions_follow_weights():
    h = rs.iou_histograms(4000, presets=("left_skew",), exact=True, generator=2)
    np.testing.assert_allclose(h.bin_fractions["left_skew"], PRESETS["left_skew"].probs, atol=0.03)


def test_tl_corners_inside_feasible_space_and_proposals_differ():
    tl = rs.tl_corners(2000, proposals=("uniform", "inside"), generator=3)
    for name, p in tl.points.items():
        assert p.shape == (2000, 2)
        u, v = torch.from_numpy(p[:, 0]), torch.from_numpy(p[:, 1])
        assert bool(in_tl_space(u, v, 0.5 - 1e-9).all()), name   # every TL in R_TL(0.5)
    s = tl.to_dict()["proposals"]
    # the "inside" proposal puts clearly more TL corners inside the GT than the uniform one
    assert s["inside"]["fraction_inside_ref"] > s["uniform"]["fraction_inside_ref"] + 0.15
    assert set(tl.boundaries) == set(rs.BOUNDARY_T)
    ax = plot_roi_tl_corners(tl, "inside")
    assert ax.get_xlim() == (-1.0, 0.5)
    plt.close("all")


def test_script_writes_pngs_and_json(tmp_path):
    out = tmp_path / "rs"
    proc = run_script("--n", "2000", "--n-tl", "500", "--out-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    for f in ("iou_histograms.png", "tl_corners.png"):
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "roi_sources.json").read_text())
    assert data["iou_threshold_mode"]["n"] == 2000 and data["iou_exact_mode"]["exact"] is True
    assert "left_skew" in proc.stdout


def test_script_rejects_bad_arguments(tmp_path):
    proc = run_script("--n", "0", "--out-dir", str(tmp_path))
    assert proc.returncode == 2 and "--n" in proc.stderr
    proc = run_script("--n", "10", "--n-tl", "10", "--proposals", "uniform", "gaussian", "--out-dir", str(tmp_path))
    assert proc.returncode == 2 and "proposal" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_notebook_executes():
    execute_notebook(ROOT / "notebooks" / "02_roi_sources.ipynb")
