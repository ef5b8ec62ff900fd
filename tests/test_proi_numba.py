"""generate_prois on the numba backend (thesis Alg. 2 in one compiled call per batch, issue #13): exact RoINum per
image, the fgBalancedRoIAlloc rule and its random tie-break, the IoU histogram of the exact mode, the threshold
mode's distribution against the torch backend, image bounds, and thread invariance."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats

from bbgen.boxes import elementwise_box_iou
from bbgen.roi.distributions import PRESETS
from bbgen.roi.proi import generate_prois


def _image(labels, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(len(labels), 2, generator=g) * 300
    boxes = torch.cat([xy, xy + 5 + torch.rand(len(labels), 2, generator=g) * 150], 1)
    return boxes, torch.tensor(labels, dtype=torch.int64)


@given(label_lists=st.lists(st.lists(st.integers(0, 4), max_size=7), min_size=1, max_size=4),
       num_rois=st.integers(0, 70), fg_balanced=st.booleans(), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_exact_roinum_and_allocation_rule(label_lists, num_rois, fg_balanced, seed):
    images = [_image(labels, seed + i) for i, labels in enumerate(label_lists)]
    r = generate_prois([b for b, _ in images], [lab for _, lab in images], num_rois, fg_balanced=fg_balanced,
                       image_sizes=(500, 500), generator=seed, backend="numba")
    with_gts = [i for i, labels in enumerate(label_lists) if labels]
    assert r.image_index.tolist() == [i for i in with_gts for _ in range(num_rois)]
    for i in with_gts:
        boxes, labels = images[i]
        mine = r.image_index == i
        counts = torch.bincount(r.gt_index[mine], minlength=len(labels))
        assert int(counts.sum()) == num_rois and torch.equal(r.labels[mine], labels[r.gt_index[mine]])
        groups = [labels == k for k in labels.unique()] if fg_balanced else [torch.ones_like(labels, dtype=bool)]
        totals = [int(counts[m].sum()) for m in groups]
        assert max(totals) - min(totals) <= 1 and all(int(counts[m].max() - counts[m].min()) <= 1 for m in groups)
        assert r.gt_index[mine].tolist() == sorted(r.gt_index[mine].tolist())  # grouped by GT
        torch.testing.assert_close(r.ious[mine], elementwise_box_iou(r.boxes[mine].double(),
                                                                     boxes[r.gt_index[mine]].double()))
    assert bool((r.ious >= 0.5).all()) and bool((r.boxes >= 0).all()) and bool((r.boxes <= 500).all())


def test_tie_break_is_uniform():
    """3 classes share 128 RoIs as 43/43/42: each class is the one with 42 in a third of the calls."""
    boxes, labels = _image([1, 2, 3], 0)
    short = [int(torch.argmin(torch.bincount(generate_prois(boxes, labels, 128, generator=s).gt_index)))
             for s in range(600)]
    assert stats.chisquare(np.bincount(short, minlength=3)).pvalue > 1e-3


@pytest.mark.parametrize("name", ["left_skew", "uniform", "right_skew"])
def test_exact_mode_histogram_equals_the_weights(name):
    boxes, labels = _image([1, 1, 2], 1)
    r = generate_prois(boxes, labels, 20000, iou_dist=name, exact=True, generator=2, backend="numba")
    edges = np.array(PRESETS[name].edges)
    assert r.ious.min() >= edges[0] and r.ious.max() < 1.0
    observed = np.histogram(r.ious.numpy(), bins=edges)[0]
    assert stats.chisquare(observed, np.array(PRESETS[name].probs) * len(r)).pvalue > 1e-3


@pytest.mark.parametrize("preset", ["base", "left_skew"])
def test_threshold_mode_matches_the_torch_backend(preset):
    boxes, labels = _image([1, 2], 3)
    a = generate_prois(boxes, labels, 20000, iou_dist=preset, proposal="normal", generator=4, backend="numba")
    b = generate_prois(boxes, labels, 20000, iou_dist=preset, proposal="normal", generator=5, backend="torch")
    for x, y in ((a.ious, b.ious), (a.boxes[:, 0], b.boxes[:, 0]), (a.boxes[:, 3], b.boxes[:, 3])):
        assert stats.ks_2samp(x.numpy(), y.numpy()).pvalue > 1e-3


def test_bit_identical_with_one_or_two_threads_and_float64():
    images = [_image([1, 2, 2, 5], s) for s in range(40)]  # 40 x 128 RoIs: the parallel loop
    args = ([b.double() for b, _ in images], [lab for _, lab in images], 128)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = generate_prois(*args, exact=True, image_sizes=(500, 500), generator=9, backend="numba")
        torch.set_num_threads(2)
        two = generate_prois(*args, exact=True, image_sizes=(500, 500), generator=9, backend="numba")
    finally:
        torch.set_num_threads(threads)
    assert one.boxes.dtype == torch.float64
    for x, y in zip(one.to_dict().values(), two.to_dict().values()):
        assert x == y


def test_memory_is_checked_before_allocating(monkeypatch):
    """Issue #14 item 19: 48 bytes per float32 RoI, refused before allocating when the machine cannot hold it."""
    from bbgen.generator import backends

    monkeypatch.setattr(backends, "_memory", lambda: (4000, 4000))
    boxes, labels = _image([1, 2], 0)
    with pytest.raises(ValueError, match=r"generate_prois asks for 100 boxes: the output alone needs 4.7 KiB"):
        generate_prois(boxes, labels, 100, backend="numba")
    assert len(generate_prois(boxes, labels, 80, backend="numba")) == 80  # 3840 bytes fit
