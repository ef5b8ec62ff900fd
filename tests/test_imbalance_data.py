"""Data-side imbalance profilers: measures, class / batch / scale / location profiles."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bbgen.datasets import Annotations, load, synthetic
from bbgen.imbalance import (batch_class_profile, chi_square_uniform, class_profile, fpn_level, gini,
                             imbalance_ratio, location_profile, lvis_bands, normalized_entropy, profile_dataset,
                             scale_profile, size_category)

counts_strategy = st.lists(st.integers(0, 1000), min_size=1, max_size=40)


def make_ann(boxes, labels, box_image, sizes, names=("a", "b", "c"), crowd=None, frequency=None) -> Annotations:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return Annotations(image_ids=np.arange(len(sizes)), image_sizes=np.asarray(sizes, dtype=np.float64),
                       boxes=boxes, labels=np.asarray(labels, dtype=np.int64),
                       box_image=np.asarray(box_image, dtype=np.int64),
                       crowd=np.zeros(len(boxes), bool) if crowd is None else np.asarray(crowd),
                       category_names=tuple(names), frequency=frequency, source="test")


# ---- measures -----------------------------------------------------------------------------------

def test_measures_known_values():
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert imbalance_ratio([0, 2, 10]) == 5.0 and imbalance_ratio([0, 0]) is None
    assert normalized_entropy([3, 3, 3, 3]) == pytest.approx(1.0)
    assert normalized_entropy([0, 7, 0]) == 0.0
    assert normalized_entropy([4]) == 1.0


@given(counts_strategy)
def test_gini_matches_mean_absolute_difference(counts):
    x = np.asarray(counts, dtype=float)
    if x.sum() == 0:
        assert gini(x) is None  # nothing counted: undefined, not "balanced"
        return
    expected = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert gini(x) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= gini(x) <= 1 - 1 / len(x) + 1e-12
    assert gini(x[::-1] * 3) == pytest.approx(gini(x), abs=1e-12)  # permutation and scale invariant


@given(counts_strategy)
def test_entropy_and_chi_square_match_scipy(counts):
    x = np.asarray(counts, dtype=float)
    if x.sum() > 0 and len(x) > 1:
        assert normalized_entropy(x) == pytest.approx(scipy.stats.entropy(x) / np.log(len(x)), abs=1e-12)
        ref = scipy.stats.chisquare(x)
        got = chi_square_uniform(x)
        assert got["statistic"] == pytest.approx(ref.statistic, rel=1e-9, abs=1e-9)
        assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
        assert 0.0 <= got["effect_size"] <= 1.0 + 1e-12


@pytest.mark.parametrize("bad", [[], [[1, 2]], [1, -1], [1, np.nan]])
def test_measures_reject_bad_counts(bad):
    with pytest.raises(ValueError, match="counts"):
        gini(bad)


# ---- classes (Fig. 3.5) -------------------------------------------------------------------------

def test_class_profile_hand_made():
    ann = make_ann(boxes=[[0, 0, 1, 1]] * 6, labels=[0, 0, 1, 0, 2, 1], box_image=[0, 0, 0, 1, 1, 2],
                   sizes=[[10, 10]] * 4, crowd=[False, False, False, False, False, True])
    p = class_profile(ann)
    assert p.instances_per_class.tolist() == [3, 1, 1]
    assert p.images_per_class.tolist() == [2, 1, 1]
    assert p.images_by_instances.tolist() == [2, 0, 1, 1]  # 3 and 2 boxes; images 2 (crowd only), 3 empty
    assert p.images_by_classes.tolist() == [2, 0, 2]
    d = p.to_dict()
    assert d["per_class"][0] == {"name": "a", "instances": 3, "images": 2, "lvis_band": "r"}
    assert d["imbalance_ratio"] == 3.0 and d["mean_instances_per_image"] == pytest.approx(5 / 4)
    assert class_profile(ann, include_crowd=True).instances_per_class.tolist() == [3, 2, 1]
    json.dumps(d, allow_nan=False)


def test_lvis_bands_thresholds_and_dataset_bands():
    assert lvis_bands(np.array([0, 1, 10, 11, 100, 101])) == ("", "r", "r", "c", "c", "f")
    ann = make_ann([[0, 0, 1, 1]], [0], [0], [[5, 5]], names=("x", "y"), frequency=("f", "r"))
    d = class_profile(ann).to_dict()
    assert d["lvis_bands_source"] == "dataset" and d["lvis_band_classes"] == {"r": 1, "c": 0, "f": 1}


def test_class_profile_taco_real(shared_data):
    d = class_profile(load(shared_data / "taco" / "annotations.json")).to_dict()
    assert d["num_instances"] == 4784 and d["num_empty_classes"] == 1
    assert d["imbalance_ratio"] == 667.0 and d["most_frequent_class"] == "Cigarette"
    assert sum(d["images_by_num_instances"]) == 1500 and d["images_by_num_instances"][0] == 0
    assert 0.5 < d["gini"] < 1.0 and 0.0 < d["normalized_entropy"] < 1.0


# ---- batch (Fig. 3.6) ---------------------------------------------------------------------------

def test_batch_profile_whole_dataset_batch_equals_dataset():
    ann = synthetic(50, num_classes=5, generator=1)
    p = batch_class_profile(ann, batch_size=50, num_batches=3, generator=0)
    np.testing.assert_allclose(p.tv_distance, 0.0, atol=1e-12)
    np.testing.assert_allclose(p.share_quantiles, np.repeat(p.dataset_share[:, None], 5, axis=1), atol=1e-12)
    assert p.top_class_not_majority == 0.0


def test_batch_profile_is_seeded():
    ann = synthetic(300, generator=2)
    a = batch_class_profile(ann, batch_size=4, num_batches=200, generator=7)
    b = batch_class_profile(ann, batch_size=4, num_batches=200, generator=7)
    c = batch_class_profile(ann, batch_size=4, num_batches=200, generator=8)
    np.testing.assert_array_equal(a.tv_distance, b.tv_distance)
    assert not np.array_equal(a.tv_distance, c.tv_distance)
    assert a.to_dict() == b.to_dict()


def test_batch_profile_generator_kinds_and_recorded_seed():
    ann = synthetic(100, num_classes=6, generator=2)
    kw = dict(batch_size=4, num_batches=50)
    by_int = batch_class_profile(ann, generator=7, **kw)
    assert by_int.to_dict()["seed"] == 7
    by_np = batch_class_profile(ann, generator=np.random.default_rng(7), **kw)
    np.testing.assert_array_equal(by_np.tv_distance, by_int.tv_distance)  # default_rng(7) either way
    assert by_np.seed is None and by_np.to_dict()["seed"] is None  # key kept, no int to record
    t1 = batch_class_profile(ann, generator=torch.Generator().manual_seed(1), **kw)
    t2 = batch_class_profile(ann, generator=torch.Generator().manual_seed(1), **kw)
    np.testing.assert_array_equal(t1.tv_distance, t2.tv_distance)
    assert t1.seed is None
    assert batch_class_profile(ann, generator=None, **kw).seed is None
    with pytest.raises(TypeError, match="generator must be"):
        batch_class_profile(ann, generator=True, **kw)
    with pytest.raises(TypeError, match="generator must be"):
        synthetic(10, generator="0")


@pytest.mark.slow
def test_batch_absent_fraction_matches_binomial():
    # one box per image, batch of one image: class c is absent from a batch with probability 1 - p_c
    rng = np.random.default_rng(0)
    n = 4000
    labels = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    ann = make_ann([[0, 0, 1, 1]] * n, labels, np.arange(n), [[4, 4]] * n)
    p = batch_class_profile(ann, batch_size=1, num_batches=4000, generator=3, top_k=3)
    for share, absent in zip(p.dataset_share, p.absent_fraction):
        k = round((1 - absent) * 4000)
        assert scipy.stats.binomtest(k, 4000, share).pvalue > 1e-3


@pytest.mark.parametrize("kw", [dict(batch_size=0), dict(num_batches=0), dict(top_k=0), dict(batch_size=2.5)])
def test_batch_profile_rejects_bad_arguments(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        batch_class_profile(synthetic(10), **kw)


# ---- scale (Fig. 3.7) ---------------------------------------------------------------------------

def test_fpn_level_equation():
    sides = np.array([10, 56, 111.9, 112, 224, 447, 448, 2000])
    boxes = np.stack([np.zeros_like(sides), np.zeros_like(sides), sides, sides], axis=1)
    assert fpn_level(boxes).tolist() == [2, 2, 2, 3, 4, 4, 5, 5]
    assert fpn_level(np.array([[0, 0, 0, 5], [3, 3, 1, 1]])).tolist() == [2, 2]  # degenerate -> k_min
    assert fpn_level(boxes, k0=5, k_min=3, k_max=6).tolist() == [3, 3, 3, 4, 5, 5, 6, 6]
    with pytest.raises(ValueError, match="boxes"):
        fpn_level(np.zeros((3, 3)))


def test_size_category_boundaries():
    sides = np.array([31.9, 32, 95.9, 96])
    boxes = np.stack([np.zeros(4), np.zeros(4), sides, sides], axis=1)
    assert size_category(boxes).tolist() == [0, 1, 1, 2]


def test_scale_profile_relative_sizes():
    ann = make_ann(boxes=[[0, 0, 50, 25], [10, 10, 30, 20], [-5, 0, 105, 10]], labels=[0, 1, 2],
                   box_image=[0, 0, 1], sizes=[[100, 50], [100, 100]])
    p = scale_profile(ann, bins=10)
    assert p.width_hist.sum() == p.height_hist.sum() == p.area_hist.sum() == 3
    assert p.width_hist[5] == 1 and p.width_hist[2] == 1 and p.width_hist[9] == 1  # 0.5, 0.2, 1.1 -> last bin
    assert p.beyond_image == 1
    assert p.size_counts.tolist() == [1, 2, 0]  # areas 1250, 200, 1100 pixels
    d = p.to_dict()
    json.dumps(d, allow_nan=False)
    assert sum(d["fpn_level_counts"].values()) == 3


# ---- location (Fig. 3.13) -----------------------------------------------------------------------

def _centres_ann(centres: np.ndarray) -> Annotations:
    size = np.array([200.0, 100.0])
    c = centres * size
    boxes = np.concatenate([c - 0.5, c + 0.5], axis=1)
    n = len(c)
    return make_ann(boxes, np.zeros(n, int), np.zeros(n, int), [size], names=("a",))


def test_location_heatmap_orientation():
    p = location_profile(_centres_ann(np.array([[0.1, 0.05], [0.1, 0.05], [0.9, 0.6]])), grid=4)
    assert p.heatmap[0, 0] == 2 and p.heatmap[2, 3] == 1 and p.heatmap.sum() == 3
    assert p.mean_center[1] == pytest.approx((0.05 + 0.05 + 0.6) / 3)


@pytest.mark.slow
def test_location_uniformity_statistic_calibrated():
    rng = np.random.default_rng(5)
    pvals = [location_profile(_centres_ann(rng.random((2000, 2))), grid=8).chi_square["p_value"] for _ in range(60)]
    assert scipy.stats.kstest(pvals, "uniform").pvalue > 1e-3  # valid test under H0
    biased = location_profile(synthetic(500, generator=0))
    assert biased.chi_square["p_value"] < 1e-12
    assert biased.central_fraction > 0.3 and biased.entropy < 1.0


def test_location_rejects_bad_grid():
    with pytest.raises(ValueError, match="grid"):
        location_profile(synthetic(5), grid=1)


# ---- whole profile ------------------------------------------------------------------------------

def test_profile_dataset_to_dict_is_plain_json():
    p = profile_dataset(synthetic(200, generator=0), num_batches=50)
    d = json.loads(json.dumps(p.to_dict(), allow_nan=False))
    assert set(d) == {"summary", "classes", "batch", "scale", "location"}
    assert d["summary"]["synthetic"] is True
    assert d["scale"]["num_boxes"] == d["classes"]["num_instances"] == d["location"]["num_boxes"]
    with pytest.raises(TypeError, match="Annotations"):
        profile_dataset({"boxes": []})


def test_profile_coco_val_real(shared_data, tmp_path):
    from bbgen.datasets import write_coco_from_torchcv

    d = shared_data / "coco2017_val_torchcv"
    ann = load(write_coco_from_torchcv(d / "coco17_val.txt", d / "image_sizes.json", d / "labels.txt",
                                       tmp_path / "val.json"))
    p = profile_dataset(ann, num_batches=100).to_dict()
    assert p["summary"]["images_without_boxes"] == 48
    assert p["classes"]["imbalance_ratio"] == pytest.approx(11004 / 9)
    assert sum(p["scale"]["coco_size_counts"].values()) == 36781
    assert p["location"]["central_fraction"] > 0.25  # COCO centres are biased towards the middle


@pytest.mark.parametrize("fn", [size_category, fpn_level])
def test_size_band_and_level_refuse_nan_and_wrong_shapes(fn):
    with pytest.raises(ValueError, match=r"boxes must be finite, got \[0.0, 0.0, nan, 10.0\]"):
        fn(np.array([[0.0, 0.0, np.nan, 10.0]]))  # size_category gave band 3 (none), fpn_level level k_min
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 4\]"):
        fn(np.zeros((2, 5)))  # size_category read the first 4 columns
    with pytest.raises(TypeError, match="k0 must be an int"):
        fpn_level(np.array([[0.0, 0.0, 10.0, 10.0]]), k0="4")


@pytest.mark.parametrize("fn", [class_profile, location_profile, scale_profile, batch_class_profile])
def test_profilers_name_a_wrong_table(fn):
    with pytest.raises(TypeError, match="ann must be bbgen.datasets.Annotations"):  # was AttributeError
        fn({"boxes": []})


def test_lvis_bands_refuse_bad_counts():
    from bbgen.imbalance import lvis_bands

    for bad in ([-1, 5], [np.nan, 5]):
        with pytest.raises(ValueError, match="images_per_class must be finite and non-negative"):
            lvis_bands(np.array(bad))  # -1 was band 'r', NaN band 'f'
    assert lvis_bands(np.zeros(0)) == ()
