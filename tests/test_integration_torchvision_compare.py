"""Sampler comparison harness: numbers consistent with the samples, figures, report section."""
from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
pytest.importorskip("torchvision")

from bbgen.datasets.shapes import make_dataset  # noqa: E402
from bbgen.integrations.compare import METHODS, compare_samplers  # noqa: E402
from frcnn_testkit import tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def comparison():
    data = make_dataset(2, 96, 0)
    model = tiny_model(box_batch_size_per_image=64)
    before = [p.detach().clone() for p in model.parameters()]
    methods = {k: METHODS[k] for k in ("stock", "ohem", "iou_balanced", "proi")}
    result = compare_samplers(model, [d[0] for d in data], [d[1] for d in data], methods=methods, rounds=2)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model is not trained
    again = compare_samplers(model, [d[0] for d in data], [d[1] for d in data], methods=methods, rounds=1)
    return result, again


def test_numbers_are_consistent_and_reproducible(comparison):
    result, again = comparison
    json.dumps(result, allow_nan=False)
    assert set(result["methods"]) == {"stock", "ohem", "iou_balanced", "proi"}
    n_img = result["config"]["num_images"]
    for name, s in result["methods"].items():
        assert sum(s["positive_iou_hist"]) == pytest.approx(s["positives_per_image"] * n_img)
        assert sum(s["negative_iou_hist"]) == pytest.approx(s["negatives_per_image"] * n_img)
        assert sum(s["positives_per_class"]) == sum(s["positive_iou_hist"])
        assert s["fg_bg_ratio"] == pytest.approx(s["positives_per_image"] / s["negatives_per_image"])
        assert sum(s["positive_iou_hist"][:5]) == 0 and sum(s["negative_iou_hist"][5:]) == 0  # IoU 0.5 splits
        assert 0 <= s["class_gini"] < 1 and 0 <= s["rare_class_share"] <= 1
        assert s["select_s"] > 0
        # the same seed gives the same samples
        for key in ("positive_iou_hist", "negative_iou_hist", "positives_per_class", "mean_loss"):
            assert again["methods"][name][key] == s[key]
    assert result["methods"]["stock"]["select_ratio"] == 1.0
    # pRoI: fg-balanced generated positives; stock trains on at most 16 per image
    assert result["methods"]["proi"]["positives_per_image"] == 128
    assert result["methods"]["stock"]["positives_per_image"] <= 16
    # OHEM: at most B = 64 RoIs per image, fewer where NMS by loss leaves fewer
    ohem = result["methods"]["ohem"]
    assert ohem["positives_per_image"] + ohem["negatives_per_image"] <= 64
    # IoU-balanced negatives are spread more evenly over [0, 0.5) than stock's random ones
    spread = {m: np.std(np.array(result["methods"][m]["negative_iou_hist"][:5]) /
                        sum(result["methods"][m]["negative_iou_hist"])) for m in ("stock", "iou_balanced")}
    assert spread["iou_balanced"] < spread["stock"]


def test_plots_and_report_section(comparison, tmp_path):
    from bbgen.plot.samplers import (plot_sampler_class_mix, plot_sampler_cost, plot_sampler_iou,
                                     plot_sampler_loss_per_bin)
    from bbgen.report.build import write_report
    from bbgen.report.sampler_section import sampler_section

    result, _ = comparison
    for draw in (plot_sampler_iou, plot_sampler_class_mix, plot_sampler_loss_per_bin, plot_sampler_cost):
        assert draw(result) is not None
    assert len(plot_sampler_iou(result, kind="negative").patches) == 4 * 10
    section = sampler_section(None, comparison=result)
    out = write_report([section], tmp_path / "r", title="samplers", meta={})
    data = json.loads((out / "report.json").read_text())
    assert data["sections"]["samplers"]["numbers"]["methods"]["ohem"]["select_ratio"] == \
        result["methods"]["ohem"]["select_ratio"]
    assert len(list((out / "figures").glob("samplers_*.png"))) == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="stock"):
        compare_samplers(tiny_model(), [], [], methods={"ohem": METHODS["ohem"]})
    with pytest.raises(ValueError, match="rounds"):
        compare_samplers(tiny_model(), [], [], rounds=0)
    with pytest.raises(ValueError, match="images"):
        compare_samplers(tiny_model(), [], [])
    with pytest.raises(ValueError, match="targets"):
        compare_samplers(tiny_model(), [torch.rand(3, 64, 64)], [])
    from bbgen.plot.samplers import plot_sampler_iou

    with pytest.raises(ValueError, match="kind"):
        plot_sampler_iou({"methods": {"a": {}}, "iou_edges": [0, 1]}, kind="x")
