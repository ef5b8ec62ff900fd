"""generate_prois (thesis Alg. 2 GENERATEPROI): outputs, IoU control, batching, validation, devices."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from scipy import stats

from bbgen import generate_prois as lazy_generate_prois
from bbgen.boxes import elementwise_box_iou
from bbgen.roi.distributions import PRESETS, IoUDistribution
from bbgen.roi.proi import PRoIs, generate_prois
from bbgen.generator.proposals import uniform

GTS = torch.tensor([[10., 20., 60., 90.], [100., 40., 180., 120.], [30., 30., 50., 45.],
                    [200., 10., 300., 200.], [5., 150., 90., 230.], [120., 150., 160., 190.],
                    [220., 220., 290., 250.]])
LABELS = torch.tensor([3, 3, 3, 7, 7, 1, 1])


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_single_image_outputs():
    r = generate_prois(GTS, LABELS, 128, generator=_gen())
    assert isinstance(r, PRoIs) and len(r) == 128
    assert r.boxes.shape == (128, 4) and r.boxes.dtype == torch.float32
    assert r.labels.dtype == LABELS.dtype and r.gt_index.dtype == torch.int64 and r.ious.dtype == torch.float64
    assert bool((r.image_index == 0).all())
    assert torch.equal(r.labels, LABELS[r.gt_index])
    # fgBalancedRoIAlloc: 3 classes -> 43/43/42 in some order, equal within a class
    per_class = sorted(int((r.labels == k).sum()) for k in (1, 3, 7))
    assert per_class == [42, 43, 43]
    counts = torch.bincount(r.gt_index, minlength=7)
    for k in (1, 3, 7):
        ck = counts[LABELS == k]
        assert int(ck.max() - ck.min()) <= 1
    # ious are the exact IoU with the source GT, and every threshold-mode RoI has IoU >= 0.5
    ref = GTS[r.gt_index].double()
    torch.testing.assert_close(r.ious, elementwise_box_iou(r.boxes.double(), ref), rtol=0, atol=1e-15)
    assert bool((r.ious >= 0.5).all()) and bool((r.ious < 1).all())
    assert set(r.to_dict()) == {"boxes", "labels", "gt_index", "ious", "image_index"}


def test_lazy_root_export_and_reproducible():
    a = lazy_generate_prois(GTS, LABELS, 32, generator=_gen(4))
    b = generate_prois(GTS, LABELS, 32, generator=4)
    c = generate_prois(GTS, LABELS, 32, generator=5)
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.gt_index, b.gt_index)
    assert not torch.equal(a.boxes, c.boxes)


def test_not_fg_balanced_splits_over_instances():
    r = generate_prois(GTS, LABELS, 70, fg_balanced=False, generator=_gen())
    assert torch.bincount(r.gt_index, minlength=7).tolist() == [10] * 7


def test_batch_with_empty_image_and_float64():
    gts = [GTS.double(), torch.zeros(0, 4, dtype=torch.float64), GTS[:2].double()]
    labels = [LABELS, torch.zeros(0, dtype=torch.int64), LABELS[:2]]
    r = generate_prois(gts, labels, 16, image_sizes=[(320, 260), (10, 10), (200, 130)], generator=_gen(1))
    assert len(r) == 32 and r.boxes.dtype == torch.float64 and r.ious.dtype == torch.float64
    assert r.image_index.tolist() == [0] * 16 + [2] * 16
    assert bool((r.gt_index[16:] < 2).all())
    src = torch.stack([gts[i][j] for i, j in zip(r.image_index.tolist(), r.gt_index.tolist())])
    torch.testing.assert_close(r.ious, elementwise_box_iou(r.boxes, src))
    sizes = torch.tensor([[320., 260.], [10., 10.], [200., 130.]], dtype=torch.float64)[r.image_index]
    assert bool((r.boxes[:, :2] >= 0).all()) and bool((r.boxes[:, 2:] <= sizes).all())


def test_zero_rois_and_all_empty():
    r = generate_prois(GTS, LABELS, 0)
    assert len(r) == 0 and r.boxes.shape == (0, 4)
    r = generate_prois([torch.zeros(0, 4)], [torch.zeros(0, dtype=torch.int64)], 8)
    assert len(r) == 0 and r.labels.dtype == torch.int64


def test_numpy_input():
    r = generate_prois(GTS.numpy(), LABELS.numpy(), 8, generator=_gen())
    assert isinstance(r.boxes, torch.Tensor) and len(r) == 8


def test_custom_single_bin_threshold_and_interval():
    dist = IoUDistribution((0.7,), (1.0,), top=0.8)
    thr = generate_prois(GTS, LABELS, 2000, iou_dist=dist, generator=_gen(2))
    assert bool((thr.ious >= 0.7).all()) and bool((thr.ious >= 0.8).any())  # threshold mode spills above
    ex = generate_prois(GTS, LABELS, 2000, iou_dist=dist, exact=True, generator=_gen(2))
    assert bool((ex.ious >= 0.7).all()) and bool((ex.ious < 0.8).all())
    pair = generate_prois(GTS, LABELS, 64, iou_dist=([0.6, 0.9], [0.0, 1.0]), exact=True, generator=_gen())
    assert bool((pair.ious >= 0.9).all())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uniform", "left_skew", "right_skew", "base"])
def test_exact_histogram_matches_weights(name):
    dist = PRESETS[name]
    r = generate_prois(GTS, LABELS, 20_000, iou_dist=name, exact=True, generator=_gen(3))
    edges = np.array(dist.edges)
    observed = np.histogram(r.ious.double().numpy(), bins=edges)[0]
    assert observed.sum() == 20_000                       # every IoU inside [lowest base, top)
    p = stats.chisquare(observed, np.array(dist.probs) * 20_000).pvalue if len(edges) > 2 else 1.0
    assert p > 1e-3
    if name == "uniform":   # threshold mode does NOT match the weights (mass spills upwards)
        t = generate_prois(GTS, LABELS, 20_000, iou_dist=name, generator=_gen(3))
        obs_t = np.histogram(t.ious.double().numpy(), bins=edges)[0]
        assert stats.chisquare(obs_t, np.array(dist.probs) * 20_000).pvalue < 1e-6


@pytest.mark.slow
def test_threshold_mode_shapes_of_presets():
    """Thesis Fig. 4.5: base piles up at 0.5; left skew decreasing, right skew increasing (threshold mode)."""
    hist = {}
    for name in PRESETS:
        r = generate_prois(GTS, LABELS, 10_000, iou_dist=name, generator=_gen(5))
        hist[name] = np.histogram(r.ious.double().numpy(), bins=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0])[0] / 10_000
    assert hist["base"][0] > 0.8 and hist["base"][-1] < 0.01
    assert np.all(np.diff(hist["left_skew"]) < 0) and np.all(np.diff(hist["right_skew"]) > 0)
    assert hist["uniform"].min() > 0.1


@pytest.mark.slow
def test_within_bin_iou_distribution_matches_kernel():
    """exact=True is the kernel's interval mode: same IoU distribution inside a bin (two-sample KS)."""
    from bbgen.generator.batched import generate_boxes
    dist = IoUDistribution((0.6,), (1.0,), top=0.7)
    r = generate_prois(GTS[:1], LABELS[:1], 3000, iou_dist=dist, exact=True, generator=_gen(6))
    direct = generate_boxes(GTS[:1], 0.6, num=3000, max_iou=0.7, generator=_gen(7))[0]
    direct_iou = elementwise_box_iou(direct, GTS[:1]).numpy()
    assert stats.ks_2samp(r.ious.numpy(), direct_iou).pvalue > 1e-3


def test_proposal_is_passed_to_the_generator():
    calls = []

    def spy(low, high, corner, num, generator):
        calls.append(low.shape[0])
        return uniform(low, high, corner, num, generator)

    r = generate_prois(GTS, LABELS, 24, proposal=spy, generator=_gen())
    assert len(r) == 24 and calls and calls[0] == 24


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(num_rois=-1), ValueError, "num_rois"),
    (dict(num_rois=True), ValueError, "num_rois"),
    (dict(num_rois=2.5), ValueError, "num_rois"),
    (dict(iou_dist="skewed"), ValueError, "unknown preset"),
    (dict(gt_labels=LABELS.float()), TypeError, "integer dtype"),
    (dict(gt_labels=LABELS[:3]), ValueError, r"shape \[7\]"),
    (dict(gt_boxes=GTS[:, :3]), ValueError, r"\[\.\.\., 4\]"),
    (dict(gt_boxes=GTS[None]), ValueError, r"\[G, 4\]"),
    (dict(gt_boxes=GTS.half()), TypeError, "float32 or float64"),
    (dict(gt_boxes=GTS.clone().index_fill_(0, torch.tensor([2]), 5.0)), ValueError, "degenerate"),
    (dict(gt_boxes=GTS.clone().index_fill_(0, torch.tensor([2]), float("nan"))), ValueError, "NaN"),
    (dict(gt_labels=[LABELS]), TypeError, "both be tensors"),
    (dict(gt_boxes=[GTS, GTS], gt_labels=[LABELS]), ValueError, "2 gt_boxes but 1 gt_labels"),
    (dict(gt_boxes=[], gt_labels=[]), ValueError, "empty list"),
    (dict(gt_boxes=[GTS, GTS.double()], gt_labels=[LABELS, LABELS]), ValueError, r"gt_boxes\[1\]"),
    (dict(image_sizes=(300, -1)), ValueError, "image_sizes"),
    (dict(image_sizes=[(400, 400)] * 3), ValueError, "one \\(W, H\\) per image"),
    (dict(image_sizes="big"), TypeError, "image_sizes"),
    (dict(proposal="gaussian"), ValueError, "proposal"),
    (dict(generator="seed"), TypeError, "generator"),
])
def test_validation(kwargs, exc, match):
    args = dict(gt_boxes=GTS, gt_labels=LABELS, num_rois=8)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        generate_prois(args.pop("gt_boxes"), args.pop("gt_labels"), **args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("exact", [False, True])
def test_cuda(exact):
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    r = generate_prois([GTS.to(dev)] * 4, [LABELS.to(dev)] * 4, 128, iou_dist="right_skew", exact=exact,
                       image_sizes=(320, 260), generator=g)
    for t in (r.boxes, r.labels, r.gt_index, r.ious, r.image_index):
        assert t.device.type == "cuda"
    assert len(r) == 512 and bool((r.ious >= 0.5).all())
    assert torch.bincount(r.image_index).tolist() == [128] * 4


@st.composite
def _images(draw):
    """A batch of 1-3 images, each with 0-5 random GTs inside a 300x200 image and labels in 0..3."""
    images = []
    for _ in range(draw(st.integers(1, 3))):
        g = draw(st.integers(0, 5))
        x1 = draw(st.lists(st.floats(0, 250), min_size=g, max_size=g))
        y1 = draw(st.lists(st.floats(0, 150), min_size=g, max_size=g))
        w = draw(st.lists(st.floats(1, 50), min_size=g, max_size=g))
        h = draw(st.lists(st.floats(1, 50), min_size=g, max_size=g))
        boxes = torch.tensor([[a, b, a + c, b + d] for a, b, c, d in zip(x1, y1, w, h)],
                             dtype=torch.float64).reshape(-1, 4)
        labels = torch.tensor(draw(st.lists(st.integers(0, 3), min_size=g, max_size=g)), dtype=torch.int64)
        images.append((boxes, labels))
    return images


@given(_images(), st.integers(0, 40), st.sampled_from(sorted(PRESETS)), st.booleans(), st.booleans(),
       st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_generate_prois_invariants(images, num_rois, preset, exact, fg_balanced, seed):
    boxes, labels = [b for b, _ in images], [lab for _, lab in images]
    r = generate_prois(boxes, labels, num_rois, iou_dist=preset, exact=exact, fg_balanced=fg_balanced,
                       image_sizes=(300, 200), generator=seed)
    per_image = torch.bincount(r.image_index, minlength=len(images)).tolist()
    assert per_image == [num_rois if len(b) else 0 for b in boxes]
    assert bool((r.image_index[1:] >= r.image_index[:-1]).all())          # grouped by image
    if len(r):
        src = torch.stack([boxes[i][j] for i, j in zip(r.image_index.tolist(), r.gt_index.tolist())])
        lab = torch.stack([labels[i][j] for i, j in zip(r.image_index.tolist(), r.gt_index.tolist())])
        assert torch.equal(r.labels, lab)
        iou = elementwise_box_iou(r.boxes, src)
        torch.testing.assert_close(r.ious, iou)
        assert bool((iou >= 0.5).all()) and bool((iou < 1).all())
        assert bool((r.boxes[:, :2] >= 0).all()) and bool((r.boxes[:, 2] <= 300).all())
        assert bool((r.boxes[:, 3] <= 200).all())


def test_thresholds_reach_the_kernel_in_float64(monkeypatch):
    """float32(0.7) < 0.7: bin edges must reach the (float64-verifying) kernel unrounded."""
    import bbgen.roi.proi as proi
    seen, kernel = [], proi.generate_validated

    def spy(ref, lo, hi, *args, **kwargs):
        seen.append((lo, hi, kwargs.get("t_min")))
        return kernel(ref, lo, hi, *args, **kwargs)

    monkeypatch.setattr(proi, "generate_validated", spy)
    proi.generate_prois(GTS, LABELS, 16, iou_dist=([0.7, 0.8], [1, 1]), exact=True, generator=_gen(), backend="torch")
    lo, hi, t_min = seen[0]
    assert lo.dtype == hi.dtype == torch.float64
    assert t_min is None or t_min <= float(lo.min())  # the candidate count's bound must hold
    assert set(lo.reshape(-1).tolist()) <= {0.7, 0.8} and set(hi.reshape(-1).tolist()) <= {0.8, 1.0}


def test_gt_outside_its_image_is_a_clear_error():
    """Issue #14 item 3: a GT that does not fit its image used to give RoIs outside the image without a word."""
    with pytest.raises(ValueError, match=r"gt_boxes\[0\] = \[10.0, 20.0, 60.0, 90.0\] does not fit inside the image"):
        generate_prois(torch.tensor([[10., 20, 60, 90]]), torch.tensor([1]), 8, image_sizes=(30, 30))
    gts = [GTS[:2], torch.tensor([[1.0, 1.0, 5.0, 5.0], [-2.0, 10.0, 40.0, 50.0]])]
    for backend in ("torch", "numba"):
        with pytest.raises(ValueError, match=r"gt_boxes\[1\]\[1\] = .* image 1 of size \(W, H\) = \(100.0, 90.0\)"):
            generate_prois(gts, [LABELS[:2], LABELS[:2]], 8, image_sizes=[(400, 400), (100, 90)], backend=backend)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_gt_sticking_out_of_the_image_is_handled_in_training(backend):
    """Real annotations extend past the image (TACO has 7): the training entry (generate_prois_validated) keeps
    IoU >= T with the original GT and stays in the image where the GT does, instead of the whole batch failing."""
    from bbgen.roi.proi import generate_prois_validated
    from bbgen.roi.distributions import resolve_iou_dist
    from bbgen.generator.proposals import get_proposal

    gt = torch.tensor([[-2.0, 10.0, 40.0, 50.0], [60.0, 20.0, 101.5, 80.0], [10.0, 10.0, 30.0, 30.0]])
    labels = torch.tensor([1, 2, 1])
    out = generate_prois_validated([gt], [labels], 300, resolve_iou_dist("uniform"), fg_balanced=True, exact=False,
                                   proposal=get_proposal("uniform"), image_sizes=(100.0, 90.0), generator=_gen(),
                                   backend=backend)
    assert bool((out.ious >= 0.5).all())
    src = gt[out.gt_index]
    lo = torch.minimum(src[:, :2], torch.zeros(2))
    hi = torch.maximum(src[:, 2:], torch.tensor([100.0, 90.0]))
    assert bool((out.boxes[:, :2] >= lo).all() and (out.boxes[:, 2:] <= hi).all())
    inside = out.gt_index == 2  # a GT inside the image keeps its RoIs inside the image
    assert bool((out.boxes[inside, :2] >= 0).all() and (out.boxes[inside, 2] <= 100).all()
                and (out.boxes[inside, 3] <= 90).all())


def test_validated_entry_matches_the_public_one():
    """The torchvision integration calls generate_prois_validated: same draws as generate_prois."""
    import bbgen.roi.proi as proi
    from bbgen.roi.distributions import resolve_iou_dist
    from bbgen.generator.proposals import get_proposal

    boxes = [GTS, GTS[:2] + 5.0]
    labels = [LABELS, LABELS[:2]]
    sizes = [(300.0, 260.0), (200.0, 180.0)]
    for exact in (False, True):
        public = proi.generate_prois(boxes, labels, 32, iou_dist="left_skew", exact=exact, image_sizes=sizes,
                                     generator=torch.Generator().manual_seed(5))
        inner = proi.generate_prois_validated(boxes, labels, 32, resolve_iou_dist("left_skew"), fg_balanced=True,
                                              exact=exact, proposal=get_proposal("uniform"),
                                              image_sizes=torch.tensor(sizes, dtype=torch.float64),
                                              generator=torch.Generator().manual_seed(5))
        for a, b in zip(public.to_dict().values(), inner.to_dict().values()):
            assert a == b


@pytest.mark.parametrize("num_gts", [3, 40])  # the Python comparisons (few GTs) and the numpy test (many)
@pytest.mark.parametrize("sizes", [None, (640, 480)])
@pytest.mark.parametrize("bad, message", [
    ([1.0, float("nan"), 5.0, 5.0], "contains NaN or inf"),
    ([1.0, 1.0, float("inf"), 5.0], "contains NaN or inf"),
    ([-float("inf"), 1.0, 5.0, 5.0], "contains NaN or inf"),
    ([5.0, 1.0, 5.0, 9.0], "degenerate or inverted"),
    ([6.0, 1.0, 5.0, 9.0], "degenerate or inverted"),
    ([1.0, 9.0, 5.0, 2.0], "degenerate or inverted"),
])
def test_every_bad_gt_is_named_whatever_the_number_of_gts(num_gts, sizes, bad, message):
    gts = torch.tensor([[10.0, 20.0, 60.0, 90.0]] * num_gts)
    gts[num_gts - 2] = torch.tensor(bad)
    with pytest.raises(ValueError, match=rf"gt_boxes\[{num_gts - 2}\] = .*{message}"):
        generate_prois(gts, torch.ones(num_gts, dtype=torch.int64), 8, image_sizes=sizes, generator=0)
    gts[num_gts - 2] = torch.tensor([600.0, 20.0, 650.0, 90.0])  # valid, but beyond x = 640
    if sizes is None:
        assert len(generate_prois(gts, torch.ones(num_gts, dtype=torch.int64), 8, generator=0)) == 8
    else:
        with pytest.raises(ValueError, match=rf"gt_boxes\[{num_gts - 2}\] = .* does not fit inside the image"):
            generate_prois(gts, torch.ones(num_gts, dtype=torch.int64), 8, image_sizes=sizes, generator=0)


@pytest.mark.parametrize("bad, message", [
    ([1.0, float("nan"), 5.0, 5.0], "contains NaN or inf"),
    ([1.0, 1.0, float("inf"), 5.0], "contains NaN or inf"),
    ([6.0, 1.0, 5.0, 9.0], "degenerate or inverted"),
    ([300.0, 20.0, 350.0, 90.0], r"does not fit inside image 1 of size \(W, H\) = \(320.0, 240.0\)"),
    ([10.0, 200.0, 60.0, 250.0], r"does not fit inside image 1"),
    ([-1.0, 20.0, 60.0, 90.0], r"does not fit inside image 1"),
])
def test_per_image_sizes_check_each_gt_against_its_own_image(bad, message):
    """One (W, H) per image: a GT inside the largest image but outside its own is named with its image."""
    gts = [torch.tensor([[10.0, 20.0, 60.0, 90.0], [400.0, 300.0, 600.0, 470.0]]),
           torch.tensor([[10.0, 20.0, 60.0, 90.0], [5.0, 5.0, 300.0, 230.0], [100.0, 100.0, 319.0, 240.0]]),
           torch.zeros(0, 4)]
    labels = [torch.ones(len(g), dtype=torch.int64) for g in gts]
    sizes = torch.tensor([[640.0, 480.0], [320.0, 240.0], [100.0, 100.0]])
    assert len(generate_prois(gts, labels, 8, image_sizes=sizes, generator=0)) == 16  # all GTs fit
    gts[1][1] = torch.tensor(bad)
    with pytest.raises(ValueError, match=rf"gt_boxes\[1\]\[1\] = .*{message}"):
        generate_prois(gts, labels, 8, image_sizes=sizes, generator=0)
