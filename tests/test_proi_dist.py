"""IoU distributions of the pRoI generator (thesis Alg. 2 genRoIs, Fig. 4.5 presets)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from bbgen.roi.distributions import PRESETS, T_MAX, IoUDistribution, resolve_iou_dist, sample_iou_bins


def test_presets_shapes():
    assert set(PRESETS) == {"base", "uniform", "left_skew", "right_skew"}
    assert PRESETS["base"].bases == (0.5,) and not PRESETS["base"].jitter
    for name in ("uniform", "left_skew", "right_skew"):
        assert PRESETS[name].bases == (0.5, 0.6, 0.7, 0.8, 0.9)
        assert sum(PRESETS[name].probs) == pytest.approx(1.0)
    left, right = np.array(PRESETS["left_skew"].probs), np.array(PRESETS["right_skew"].probs)
    assert np.all(np.diff(left) < 0) and np.all(np.diff(right) > 0)   # mass at low / high IoUs
    np.testing.assert_allclose(left, right[::-1])
    assert len(set(PRESETS["uniform"].probs)) == 1


def test_resolve():
    assert resolve_iou_dist("left_skew") is PRESETS["left_skew"]
    d = IoUDistribution((0.3, 0.6), (1, 3))
    assert resolve_iou_dist(d) is d
    r = resolve_iou_dist(([0.5, 0.75], [1.0, 1.0]))
    assert r.bases == (0.5, 0.75) and r.edges == (0.5, 0.75, 1.0) and r.probs == (0.5, 0.5)
    r = resolve_iou_dist((torch.tensor([0.5, 0.75]), torch.tensor([1.0, 3.0])))
    assert r.probs == (0.25, 0.75)
    r = resolve_iou_dist((np.array([0.5, 0.75]), np.array([1, 3])))
    assert r.bases == (0.5, 0.75) and r.probs == (0.25, 0.75)


@pytest.mark.parametrize("bad, exc, match", [
    ("skewed", ValueError, "unknown preset 'skewed'"),
    (0.5, TypeError, "iou_dist"),
    (([0.5, 0.6], [1.0]), ValueError, "2 bases"),
    (([0.6, 0.5], [1.0, 1.0]), ValueError, "strictly increasing"),
    (([0.0, 0.5], [1.0, 1.0]), ValueError, r"lie in \(0, 1\)"),
    (([0.5, 1.0], [1.0, 1.0]), ValueError, r"lie in \(0, 1\)"),
    (([0.5, 0.6], [1.0, -1.0]), ValueError, "weights"),
    (([0.5, 0.6], [0.0, 0.0]), ValueError, "weights"),
    (([0.5, 0.6], [1.0, float("nan")]), ValueError, "weights"),
    (([], []), ValueError, "at least one"),
    (("ab", "cd"), TypeError, "sequences of numbers"),
])
def test_resolve_rejects(bad, exc, match):
    with pytest.raises(exc, match=match):
        resolve_iou_dist(bad)


def test_top_must_exceed_last_base():
    with pytest.raises(ValueError, match="top"):
        IoUDistribution((0.5, 0.9), (1, 1), top=0.8)


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6).filter(lambda w: sum(w) > 0.1),
       st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_samples_inside_drawn_bin(weights, seed):
    k = len(weights)
    bases = tuple(0.3 + 0.6 * i / k for i in range(k))
    dist = IoUDistribution(bases, tuple(weights))
    idx, lo, hi, t = sample_iou_bins(dist, 500, generator=torch.Generator().manual_seed(seed))
    edges = torch.tensor(dist.edges, dtype=torch.float32)
    assert idx.dtype == torch.int64 and idx.shape == (500,)
    assert torch.equal(lo, edges[idx]) and torch.equal(hi, edges[idx + 1])
    assert bool((t >= lo).all()) and bool((t <= hi).all()) and bool((t <= T_MAX).all())
    zero = [i for i, w in enumerate(weights) if w == 0.0]
    assert not any(int((idx == i).sum()) for i in zero)   # zero-weight bins are never drawn


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uniform", "left_skew", "right_skew"])
def test_bin_frequencies_match_weights(name):
    dist = PRESETS[name]
    idx, *_ = sample_iou_bins(dist, 50_000, generator=torch.Generator().manual_seed(1))
    observed = np.bincount(idx.numpy(), minlength=5)
    expected = np.array(dist.probs) * 50_000
    assert stats.chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.slow
def test_threshold_uniform_within_bin():
    dist = IoUDistribution((0.5, 0.7), (1.0, 2.0))
    idx, lo, hi, t = sample_iou_bins(dist, 20_000, generator=torch.Generator().manual_seed(2),
                                     dtype=torch.float64)
    frac = ((t - lo) / (hi - lo)).numpy()
    for b in (0, 1):
        assert stats.kstest(frac[idx.numpy() == b], "uniform").pvalue > 1e-3
    # a wrong (e.g. bin-base) threshold would fail the same test
    assert stats.kstest(np.zeros(100) + 1e-9, "uniform").pvalue < 1e-3


def test_base_preset_fixed_threshold():
    _, lo, hi, t = sample_iou_bins(PRESETS["base"], 100, generator=torch.Generator().manual_seed(0))
    assert bool((t == 0.5).all()) and bool((lo == 0.5).all()) and bool((hi == 1.0).all())


def test_sampling_reproducible_and_dtype():
    d = PRESETS["uniform"]
    a = sample_iou_bins(d, 64, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    b = sample_iou_bins(d, 64, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    c = sample_iou_bins(d, 64, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[3], c[3])
    assert a[3].dtype == torch.float64 and a[1].dtype == torch.float64


def test_threshold_cap_below_one():
    d = IoUDistribution((0.999999,), (1.0,))
    _, _, _, t = sample_iou_bins(d, 1000, generator=torch.Generator().manual_seed(0))
    assert bool((t < 1.0).all()) and bool((t <= T_MAX).all())
