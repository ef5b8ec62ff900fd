"""LRP properties (Eq. 5.3 weighted form, oLRP is the minimum of the s-LRP curve), the sweep and its
plots, the report section, evaluation of an in-memory torchvision model, the demo script."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bbgen.evaluation import evaluate_lrp, lrp_components  # noqa: E402
from bbgen.evaluation.lrp import mean_sweep  # noqa: E402
from bbgen.evaluation.synthetic import synthetic_evaluation_data  # noqa: E402
from bbgen.plot.lrp import plot_lrp_components, plot_lrp_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@given(tp=st.integers(1, 50), fp=st.integers(0, 50), fn=st.integers(0, 50), q=st.floats(0, 1),
       tau=st.floats(0.1, 0.9))
@settings(max_examples=60, deadline=None)
def test_weighted_form_eq_5_3_equals_eq_5_2(tp, fp, fn, q, tau):
    loc_sum = q * tp * (1 - tau)  # every TP has 1 - IoU <= 1 - tau
    c = lrp_components(tp, fp, fn, loc_sum, tau)
    z = tp + fp + fn
    weighted = (tp / (1 - tau) * c["loc"] + (tp + fp) * c["fp"] + (tp + fn) * c["fn"]) / z
    assert float(c["lrp"]) == pytest.approx(float(weighted), rel=1e-12)
    assert 0 <= float(c["lrp"]) <= 1


@pytest.fixture(scope="module")
def result():
    gt, dets = synthetic_evaluation_data(40, 40, 4, generator=4)
    return evaluate_lrp(gt, dets)


def test_olrp_is_the_minimum_of_the_curve(result):
    scores = np.unique(result.curve.scores)
    lrps = np.array([result.curve.at(s)["lrp"] for s in scores])  # [S, K]
    olrp = result.olrp[:, 0, -1]
    assert (lrps >= olrp[None, :] - 1e-12).all()
    np.testing.assert_allclose(lrps.min(0), olrp, atol=1e-12)  # no score ties in this data


def test_mean_sweep_fn_grows_with_threshold(result):
    sweep = mean_sweep(result.curve)
    fn = np.array(sweep["fn"], dtype=float)
    assert len(fn) == 101 and (np.diff(fn) >= -1e-12).all() and fn[-1] <= 1
    assert min(v for v in sweep["lrp"] if v is not None) >= result.stats["moLRP"] - 1e-12


def test_plots_return_axes_and_reject_bad_data(result):
    ax = plot_lrp_sweep(mean_sweep(result.curve), optimal=result.stats["moLRP"])
    assert len(ax.lines) == 5
    ax = plot_lrp_components({"a": result.stats, "b": {**result.stats, "moLRP_fp": None}})
    assert len(ax.patches) == 8
    with pytest.raises(ValueError, match="sweep"):
        plot_lrp_sweep({"lrp": []})
    with pytest.raises(ValueError, match="summaries"):
        plot_lrp_components({})


def test_report_section_numbers(result, tmp_path):
    from bbgen.report.lrp_section import lrp_section, write_evaluation

    section = lrp_section(result)
    assert section.numbers["summary"]["moLRP"] == pytest.approx(result.stats["moLRP"])
    out = write_evaluation(result, tmp_path / "rep")
    data = json.loads((out / "report.json").read_text())
    assert len(data["sections"]["lrp"]["numbers"]["per_class"]) == 4
    with pytest.raises(TypeError, match="LRPResult"):
        lrp_section({"moLRP": 1})


def test_evaluate_model_on_a_torchvision_detector():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from bbgen.evaluation.predictions import evaluate_model, targets_to_ground_truth

    class Perfect(torch.nn.Module):
        """Returns the targets of each image as detections (so LRP must be 0)."""

        def __init__(self, data):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.data = data

        def forward(self, images):
            out = []
            for img in images:
                t = next(t for i, t in self.data if i is img)
                out.append({"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["labels"]))})
            return out

    from bbgen.datasets.shapes import CLASS_NAMES, make_dataset

    data = make_dataset(5, 64, generator=0)
    r = evaluate_model(Perfect(data), data, CLASS_NAMES, area_ranges={"all": (0, 1e10)})
    assert r.stats["moLRP"] == pytest.approx(0.0) and r.stats["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="labels must lie in 1..3"):
        targets_to_ground_truth([{"boxes": torch.zeros(1, 4), "labels": torch.tensor([0])}], CLASS_NAMES)


def test_demo_script_quick(tmp_path):
    pytest.importorskip("torchvision")
    proc = subprocess.run([sys.executable, str(ROOT / "analysis" / "train_retinanet_ranking.py"), "--quick",
                           "--modes", "focal,rs", "--out", str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "summary.json").read_text())
    assert set(data["runs"]) == {"focal", "rs"}
    for r in data["runs"].values():
        assert 0 <= r["stats"]["moLRP"] <= 1 and len(r["per_class"]) == 3
    assert (tmp_path / "summary.png").stat().st_size > 10_000
    assert "moLRP" in proc.stdout
