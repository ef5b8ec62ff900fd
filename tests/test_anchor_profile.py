"""anchor_profile: statistics consistent with the matching, exact helpers, plots, bench and notebook."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

import bbgen.plot as bplot  # noqa: E402
import bbgen.plot.anchors as bplot_anchors  # noqa: E402
from bbgen.anchors import anchor_config, detector_view, scale_boxes  # noqa: E402
from bbgen.anchors.assigners import MaxIoUAssigner, assigner_config  # noqa: E402
from bbgen.datasets import synthetic  # noqa: E402
from bbgen.datasets.annotations import Annotations  # noqa: E402
from bbgen.generator.feasible import tl_feasible_space  # noqa: E402
from bbgen.imbalance import AnchorProfile, anchor_profile  # noqa: E402
from bbgen.imbalance.anchor_imbalance import REFERENCE_BOX, overlap_heatmap, regression_targets  # noqa: E402
from bbgen.anchors.maxiou import match_anchors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _table() -> Annotations:
    boxes = np.array([[10, 20, 200, 220], [300, 100, 330, 140], [0, 0, 640, 480],  # image 0
                      [50, 50, 52, 53],                                               # image 1: tiny
                      [100, 100, 100, 150],                                           # image 1: degenerate
                      [20, 30, 400, 300]], dtype=np.float64)                          # image 2: crowd
    return Annotations(image_ids=np.array([1, 2, 3, 4]), image_sizes=np.array([[640.0, 480], [500, 375],
                                                                                 [480, 640], [320, 240]]),
                       boxes=boxes, labels=np.array([0, 1, 0, 2, 1, 2]), box_image=np.array([0, 0, 0, 1, 1, 2]),
                       crowd=np.array([False, False, False, False, False, True]),
                       category_names=("cat", "dog", "bird"))


@pytest.fixture(scope="module")
def profile() -> AnchorProfile:
    return anchor_profile(synthetic(150, generator=3), "retinanet", "maxiou", progress=False)


def test_counts_agree_with_matching_and_each_other():
    ann = _table()
    p = anchor_profile(ann, progress=False)
    cfg = anchor_config("retinanet")
    resized, padded = detector_view(ann.image_sizes, cfg)
    keep = np.array([0, 1, 2, 3])
    res = match_anchors(scale_boxes(ann.boxes[keep], ann.image_sizes[ann.box_image[keep]],
                                    resized[ann.box_image[keep]]), ann.box_image[keep], padded, cfg,
                        assigner_config("maxiou"))
    np.testing.assert_array_equal(p.positives, res.positives)
    np.testing.assert_array_equal(p.positives + p.negatives + p.ignored, p.total)
    assert p.skipped_gts == {"crowd": 1, "degenerate": 1}
    assert p.positives[2] == 0 and p.positives[3] == 0 and p.negatives[3] == p.total[3]
    assert p.positives_per_class.sum() == p.positives.sum() == p.positives_per_gt.sum() == p.iou_hist.sum()
    assert p.positives_per_level.sum() == p.positives.sum()
    assert p.gt_rows.tolist() == [0, 1, 2, 3] and p.gt_size.tolist() == [2, 1, 2, 0]
    # the tiny GT still gets its best anchors (allow_low_quality_matches), at IoU < 0.4
    assert p.positives_per_gt[3] >= 1 and p.iou_hist[:8].sum() >= 1
    assert p.fg_bg_ratio == pytest.approx(p.positives.sum() / p.negatives.sum())


def test_empty_tables():
    empty = Annotations(image_ids=np.zeros(0, np.int64), image_sizes=np.zeros((0, 2)), boxes=np.zeros((0, 4)),
                        labels=np.zeros(0, np.int64), box_image=np.zeros(0, np.int64), crowd=np.zeros(0, bool),
                        category_names=("a",))
    p = anchor_profile(empty, progress=False)
    assert p.num_images == 0 and p.positives_per_class.tolist() == [0] and p.fg_bg_ratio == float("inf")
    json.dumps(p.to_dict())
    no_boxes = Annotations(image_ids=np.array([7]), image_sizes=np.array([[64.0, 48.0]]), boxes=np.zeros((0, 4)),
                           labels=np.zeros(0, np.int64), box_image=np.zeros(0, np.int64), crowd=np.zeros(0, bool),
                           category_names=("a",))
    p = anchor_profile(no_boxes, "ssd300", progress=False)
    assert p.positives.tolist() == [0] and p.negatives.tolist() == [8732] and p.fg_bg_ratio == 0.0


def test_chunking_does_not_change_the_profile():
    ds = synthetic(40, generator=4)
    a = anchor_profile(ds, progress=False, max_tl_points=10 ** 6).to_dict()
    b = anchor_profile(ds, progress=False, max_tl_points=10 ** 6, chunk_boxes=7).to_dict()
    for key in a:
        if key in ("target_mean", "target_std"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12)
        elif key == "summary":
            assert a[key]["mean_positives"] == b[key]["mean_positives"]
        else:
            assert a[key] == b[key], key
    few = anchor_profile(ds, progress=False, max_tl_points=50, chunk_boxes=7)
    assert len(few.tl_points) == 50


def test_include_crowd_matches_crowd_boxes():
    p = anchor_profile(_table(), include_crowd=True, progress=False)
    assert p.skipped_gts["crowd"] == 0 and p.positives[2] > 0


def test_to_dict_is_json_and_complete(profile):
    d = json.loads(json.dumps(profile.to_dict()))
    s = d["summary"]
    assert s["num_images"] == 150 and len(d["positives"]) == 150
    assert s["mean_positives"] == pytest.approx(np.mean(profile.positives))
    assert set(s["gts_without_positive"]) == {"small", "medium", "large"}
    assert sum(d["tl_quadrants"].values()) == pytest.approx(1.0)
    assert np.asarray(d["overlap"]).shape == (64, 64) and len(d["level_names"]) == 5


def test_derived_numbers_have_one_source(profile):
    """The per-image means, quantiles and per-class / per-level rates that plots and the report show."""
    p, s = profile, profile.to_dict()["summary"]
    n = p.num_images
    assert p.mean_per_image() == pytest.approx({"positives": p.positives.mean(), "negatives": p.negatives.mean(),
                                                "ignored": p.ignored.mean()})
    assert s["mean_positives"] == p.mean_per_image()["positives"]
    assert np.allclose(p.positives_per_class_per_image * n, p.positives_per_class)
    assert np.allclose(p.positives_per_level_per_image * n, p.positives_per_level)
    assert sum(p.gts_by_size().values()) == len(p.gt_size)
    q = s["positives_per_image"]
    assert q["p50"] == pytest.approx(float(np.median(p.positives))) and q["mean"] == pytest.approx(p.positives.mean())


def test_tl_corners_of_positives_lie_in_the_feasible_space():
    # without low-quality matches every positive has IoU >= 0.5: its TL corner must be inside the
    # IoU-0.5 TL feasible space of the reference box (thesis §4.5.4 observation 2)
    ds = synthetic(60, generator=1)
    p = anchor_profile(ds, "retinanet", MaxIoUAssigner(0.5, 0.4, False), progress=False, max_tl_points=100000)
    assert len(p.tl_points) == p.positives.sum() > 100
    space = tl_feasible_space(REFERENCE_BOX, 0.5).buffer(1e-3)
    import shapely

    assert shapely.contains_xy(space, p.tl_points[:, 0], p.tl_points[:, 1]).all()
    tight = tl_feasible_space(REFERENCE_BOX, 0.7)
    assert not shapely.contains_xy(tight, p.tl_points[:, 0], p.tl_points[:, 1]).all()


def test_regression_targets_equal_torchvision_box_coder():
    from torchvision.models.detection._utils import BoxCoder

    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (50, 2))
    anchors = np.concatenate([a, a + rng.uniform(1, 50, (50, 2))], 1)
    g = anchors + rng.normal(0, 0.1, (50, 4)) * np.tile(anchors[:, 2:] - anchors[:, :2], 2)
    ref = BoxCoder((1.0, 1.0, 1.0, 1.0)).encode_single(torch.tensor(g), torch.tensor(anchors)).numpy()
    np.testing.assert_allclose(regression_targets(g, anchors), ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)), min_size=1,
                max_size=20), st.integers(1, 12))
def test_overlap_heatmap_equals_brute_force(raw, res):
    b = np.array([[min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)] for x0, y0, x1, y1 in raw]) * 50
    heat = overlap_heatmap(b, np.tile([50.0, 50.0], (len(b), 1)), res)
    brute = np.zeros((res, res), np.int64)

    def cells(lo: float, hi: float) -> list[int]:  # grid cells [i, i+1) a segment touches (a point: its cell)
        lo, hi = lo / 50 * res, hi / 50 * res
        got = [i for i in range(res) if (i < hi and i + 1 > lo) or (lo == hi and i <= lo < i + 1)]
        return got or [res - 1]

    for x0, y0, x1, y1 in b:
        brute[np.ix_(cells(y0, y1), cells(x0, x1))] += 1
    np.testing.assert_array_equal(heat, brute)


def test_atss_and_other_anchor_sets(profile):
    for anchors, assigner in (("retinanet", "atss"), ("rpn", "maxiou"), ("ssd300", "maxiou")):
        p = anchor_profile(synthetic(40, generator=2), anchors, assigner, progress=False)
        assert p.positives.sum() > 0 and len(p.positives_per_level) == len(p.level_names)
        if assigner == "atss":
            assert p.ignored.sum() == 0
    assert profile.assigner["high"] == 0.5 and profile.assigner["low"] == 0.4


def test_progress_bar_is_shown(capsys):
    anchor_profile(synthetic(5, generator=0), progress=True)
    assert "anchors (retinanet" in capsys.readouterr().err


def test_real_taco_profile(shared_data):
    from bbgen.datasets import load

    ds = load(shared_data / "taco" / "annotations.json")
    p = anchor_profile(ds, progress=False)
    assert len(p.positives) == ds.num_images == 1500
    assert p.positives.sum() == p.positives_per_class.sum() > 0
    assert (p.positives_per_gt > 0).mean() > 0.95


def test_bad_arguments():
    with pytest.raises(TypeError, match="annotations"):
        anchor_profile({"boxes": []})
    with pytest.raises(ValueError, match="iou_bins"):
        anchor_profile(_table(), iou_bins=0)
    with pytest.raises(ValueError, match="anchors"):
        anchor_profile(_table(), anchors="fcos")
    with pytest.raises(ValueError, match="assigner"):
        anchor_profile(_table(), assigner="fixed")
    with pytest.raises(ValueError, match="resolution"):
        overlap_heatmap(np.zeros((1, 4)), np.ones((1, 2)), 0)


@pytest.mark.parametrize("name", bplot_anchors.__all__)
def test_plots_return_axes(profile, name):
    import matplotlib.pyplot as plt

    fn = getattr(bplot, name)
    assert isinstance(fn(profile), Axes)
    fig, ax = plt.subplots()
    assert fn(profile, ax) is ax
    with pytest.raises(TypeError, match="AnchorProfile"):
        fn({"positives": []})
    plt.close("all")


def test_bench_quick_runs(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(ROOT / "analysis" / "bench_anchors.py"), "--quick", "--dense-images", "2",
                        "--train-images", "200", "--no-progress", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["comparison"]["identical"] is True and data["coco_train_sized"]["images"] == 200
    assert "ratio" in r.stdout


def test_notebook_executes():
    from conftest import SHARED_DATA, execute_notebook, notebook_text

    out = notebook_text(execute_notebook(ROOT / "notebooks" / "04_anchor_imbalance.ipynb"))
    if (SHARED_DATA / "coco2017_val_torchcv").is_dir():  # run from notebooks/, it must still find the real data
        assert "coco17_val.txt 4952 images 36781 boxes" in out and "SYNTHETIC" not in out, out[:500]
