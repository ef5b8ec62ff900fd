"""OFB sampler (thesis §4.6.1) and online hard positive mining (thesis §4.5.3)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from bbgen.roi.iou_balanced import IoUBalancedSampler
from bbgen.roi.samplers import OFBSampler, ofb_probabilities, ohpm_select, ohpm_select_batched


def _labels(counts: dict[int, int], num_neg: int = 0, num_ignore: int = 0, seed: int = 0) -> torch.Tensor:
    parts = [torch.full((n,), c, dtype=torch.int64) for c, n in counts.items()]
    parts += [torch.zeros(num_neg, dtype=torch.int64), torch.full((num_ignore,), -1, dtype=torch.int64)]
    lab = torch.cat(parts)
    return lab[torch.randperm(lab.numel(), generator=torch.Generator().manual_seed(seed))]


def _class_counts(sampler, labels: torch.Tensor, draws: int) -> np.ndarray:
    counts = np.zeros(int(labels.max()) + 1)
    for _ in range(draws):
        pos, _ = sampler([labels])
        counts += np.bincount(labels[pos[0].bool()].numpy(), minlength=counts.size)
    return counts[1:]


# ---------------------------------------------------------------- OFB probabilities / contract

def test_ofb_probabilities_are_one_over_c_kc():
    labels = torch.tensor([1, 1, 1, 1, 2, 3, 3])
    p = ofb_probabilities(labels)
    expected = torch.tensor([1 / 12] * 4 + [1 / 3] + [1 / 6] * 2, dtype=torch.float64)
    torch.testing.assert_close(p, expected)
    assert ofb_probabilities(torch.zeros(0, dtype=torch.long)).numel() == 0


@settings(max_examples=60, deadline=None)
@given(pos=st.lists(st.integers(1, 6), max_size=80), num_neg=st.integers(0, 120), num_ign=st.integers(0, 30),
       batch=st.integers(1, 64), frac=st.sampled_from([0.0, 0.25, 0.5, 1.0]), seed=st.integers(0, 2**31))
def test_ofb_contract_matches_torchvision_counts(pos, num_neg, num_ign, batch, frac, seed):
    labels = torch.cat([torch.tensor(pos, dtype=torch.long), torch.zeros(num_neg, dtype=torch.long),
                        torch.full((num_ign,), -1, dtype=torch.long)])
    sampler = OFBSampler(batch, frac, generator=torch.Generator().manual_seed(seed))
    (pm,), (nm,) = sampler([labels])
    assert pm.dtype == torch.uint8 and nm.dtype == torch.uint8 and pm.shape == labels.shape
    pm, nm = pm.bool(), nm.bool()
    assert not (pm & nm).any()
    assert (labels[pm] >= 1).all() and (labels[nm] == 0).all()  # ignored (-1) never sampled
    n_pos = min(len(pos), int(batch * frac))
    assert int(pm.sum()) == n_pos
    assert int(nm.sum()) == min(num_neg, batch - n_pos)


def test_ofb_same_counts_as_torchvision_sampler():
    tv_utils = pytest.importorskip("torchvision.models.detection._utils")
    labels = [_labels({1: 40, 2: 5}, num_neg=300, num_ignore=20, seed=s) for s in range(3)]
    tv = tv_utils.BalancedPositiveNegativeSampler(128, 0.25)
    ofb = OFBSampler(128, 0.25, generator=torch.Generator().manual_seed(0))
    for (a, b), (c, d) in zip(zip(*tv(labels)), zip(*ofb(labels))):
        assert int(a.sum()) == int(c.sum()) and int(b.sum()) == int(d.sum())


def test_ofb_reproducible_with_generator():
    labels = _labels({1: 50, 2: 7, 3: 3}, num_neg=200)
    a = OFBSampler(64, 0.25, generator=torch.Generator().manual_seed(3))([labels] * 2)
    b = OFBSampler(64, 0.25, generator=torch.Generator().manual_seed(3))([labels] * 2)
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        assert torch.equal(x, y)


@pytest.mark.parametrize("cls", [OFBSampler, IoUBalancedSampler])
def test_samplers_accept_every_generator_kind(cls):
    labels = _labels({1: 50, 2: 7, 3: 3}, num_neg=200)
    ious = [torch.rand(labels.numel(), generator=torch.Generator().manual_seed(9)) * 0.5]
    kw = dict(max_ious=ious) if cls is IoUBalancedSampler else {}

    def draw(generator):
        s = cls(64, 0.25, generator=generator)
        assert isinstance(s.generator, torch.Generator)
        pos, neg = s([labels], **kw)
        return torch.cat([pos[0], neg[0]])

    t = torch.Generator().manual_seed(3)
    assert cls(8, 0.25, generator=t).generator is t  # the caller's torch.Generator, as is
    by_int = draw(3)
    assert torch.equal(by_int, draw(torch.Generator().manual_seed(3)))  # int seed == torch.Generator seed
    assert not torch.equal(by_int, draw(4))
    assert torch.equal(draw(np.random.default_rng(5)), draw(np.random.default_rng(5)))
    assert draw(None).shape == by_int.shape
    with pytest.raises(TypeError, match="generator must be"):
        cls(8, 0.25, generator=True)


# ---------------------------------------------------------------- OFB statistics

@pytest.mark.slow
def test_ofb_each_class_gets_equal_expected_share():
    """Single-positive draws: class shares are exactly 1/C (chi-square), unlike random sampling."""
    labels = _labels({1: 120, 2: 25, 3: 5}, num_neg=50)
    ofb = OFBSampler(4, 0.25, generator=torch.Generator().manual_seed(1))  # one positive per draw
    counts = _class_counts(ofb, labels, 3000)
    assert stats.chisquare(counts).pvalue > 1e-3
    # the same test rejects torchvision-style uniform sampling, which follows the class frequencies
    tv_utils = pytest.importorskip("torchvision.models.detection._utils")
    torch.manual_seed(0)  # torchvision's sampler draws from the global RNG
    stock = _class_counts(tv_utils.BalancedPositiveNegativeSampler(4, 0.25), labels, 3000)
    assert stats.chisquare(stock).pvalue < 1e-6
    assert stats.chisquare(stock, f_exp=3000 * np.array([120, 25, 5]) / 150).pvalue > 1e-3


@pytest.mark.slow
def test_ofb_instances_within_a_class_equally_likely():
    labels = _labels({1: 8, 2: 3}, num_neg=10)
    ofb = OFBSampler(4, 0.25, generator=torch.Generator().manual_seed(2))
    hits = np.zeros(labels.numel())
    for _ in range(4000):
        pos, _ = ofb([labels])
        hits += pos[0].numpy()
    for c, k in ((1, 8), (2, 3)):
        h = hits[(labels == c).numpy()]
        assert stats.chisquare(h).pvalue > 1e-3
        assert h.sum() / 4000 == pytest.approx(0.5, abs=0.04)  # each class ~1/C of the draws


def test_ofb_batches_nearly_balanced_for_many_positives():
    # Without replacement the shares drift slightly from 1/C as draws deplete the rare classes,
    # but stay close to it, far from the 74/19/7 % split of the class frequencies.
    labels = _labels({1: 200, 2: 50, 3: 20}, num_neg=300)
    ofb = OFBSampler(32, 0.25, generator=torch.Generator().manual_seed(4))  # 8 positives
    share = _class_counts(ofb, labels, 500)
    share = share / share.sum()
    np.testing.assert_allclose(share, 1 / 3, atol=0.05)


# ---------------------------------------------------------------- hard negatives

def test_ofb_hard_negatives_are_the_highest_loss():
    labels = _labels({1: 10}, num_neg=100)
    losses = torch.rand(labels.numel(), generator=torch.Generator().manual_seed(0))
    sampler = OFBSampler(40, 0.25, negative="hard", generator=torch.Generator().manual_seed(0))
    _, (nm,) = sampler([labels], losses=[losses])
    neg = labels == 0
    chosen = losses[nm.bool()]
    rest = losses[neg & ~nm.bool()]
    assert chosen.numel() == 30 and chosen.min() > rest.max()


def test_ofb_hard_negative_ties_are_deterministic():
    labels = torch.tensor([0, 0, 1, 0, 0, 0])
    _, (nm,) = OFBSampler(3, 0.34, negative="hard")([labels], losses=[torch.ones(6)])
    assert nm.tolist() == [1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size_per_image=0, positive_fraction=0.25), "batch_size_per_image"),
    (dict(batch_size_per_image=8, positive_fraction=1.5), "positive_fraction"),
    (dict(batch_size_per_image=8, positive_fraction=0.25, negative="ohem"), "negative"),
])
def test_ofb_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OFBSampler(**kwargs)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, an int seed"):
        OFBSampler(8, 0.25, generator="0")


def test_ofb_bad_call():
    with pytest.raises(ValueError, match="losses"):
        OFBSampler(8, 0.25, negative="hard")([torch.zeros(3, dtype=torch.long)])
    with pytest.raises(TypeError, match="matched_idxs"):
        OFBSampler(8, 0.25)(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"losses\[0\]"):
        OFBSampler(8, 0.25)([torch.zeros(3, dtype=torch.long)], losses=[torch.zeros(4)])


# ---------------------------------------------------------------- OHPM

def _reference_nms_by_loss(boxes, losses, thr):
    from torchvision.ops import box_iou

    order = sorted(range(len(losses)), key=lambda i: (-float(losses[i]), i))
    iou = box_iou(boxes, boxes)
    keep = []
    for i in order:
        if all(iou[i, j] <= thr for j in keep):
            keep.append(i)
    return keep


def _random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    wh = torch.rand(n, 2, generator=g) * 30 + 2
    return torch.cat([xy, xy + wh], 1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), seed=st.integers(0, 2**31), k=st.integers(0, 70),
       thr=st.sampled_from([0.3, 0.5, 0.7, 1.0]), ties=st.booleans())
def test_ohpm_select_matches_reference(n, seed, k, thr, ties):
    pytest.importorskip("torchvision")
    boxes = _random_boxes(n, seed)
    losses = torch.rand(n, generator=torch.Generator().manual_seed(seed + 1))
    if ties:
        losses = (losses * 3).floor()  # many equal losses: tie-break by index
    got = ohpm_select(boxes, losses, k, nms_iou=thr)
    assert got.dtype == torch.long
    assert got.tolist() == _reference_nms_by_loss(boxes, losses, thr)[:k]


def test_ohpm_select_keeps_hardest_and_suppresses_duplicates():
    boxes = torch.tensor([[0., 0, 10, 10], [0, 0, 10, 10.5], [20, 20, 30, 30], [40, 40, 50, 50]])
    losses = torch.tensor([1.0, 5.0, 2.0, 0.5])
    assert ohpm_select(boxes, losses, 2).tolist() == [1, 2]   # 0 suppressed by the harder 1
    assert ohpm_select(boxes, losses, 10).tolist() == [1, 2, 3]
    assert ohpm_select(boxes, losses, 10, nms_iou=1.0).tolist() == [1, 2, 0, 3]


def test_ohpm_select_keeps_dtype_device_and_handles_empty():
    out = ohpm_select(torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0), 5)
    assert out.numel() == 0 and out.dtype == torch.long


@pytest.mark.parametrize("args, exc, match", [
    ((torch.zeros(3, 4), torch.zeros(2), 1), ValueError, "losses"),
    ((torch.zeros(3, 5), torch.zeros(3), 1), ValueError, "boxes"),
    ((torch.zeros(3, 4), torch.zeros(3), -1), ValueError, "k"),
    ((torch.zeros(3, 4), torch.tensor([0.0, float("nan"), 1.0]), 1), ValueError, "finite"),
    ((torch.zeros(3, 4, dtype=torch.long), torch.zeros(3), 1), TypeError, "boxes"),
    ((np.zeros((3, 4)), torch.zeros(3), 1), TypeError, "boxes"),
])
def test_ohpm_select_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        ohpm_select(*args)
    with pytest.raises(ValueError, match="nms_iou"):
        ohpm_select(torch.zeros(3, 4), torch.zeros(3), 1, nms_iou=1.5)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=5), seed=st.integers(0, 2**31),
       k=st.integers(0, 30), thr=st.sampled_from([0.3, 0.7, 1.0]), ties=st.booleans(), masked=st.booleans())
def test_ohpm_select_batched_is_the_reference_per_image(sizes, seed, k, thr, ties, masked):
    """Per image: the reference NMS by loss (over the candidates only, when given), then the k hardest."""
    pytest.importorskip("torchvision")
    boxes = [_random_boxes(n, seed + i) for i, n in enumerate(sizes)]
    g = torch.Generator().manual_seed(seed)
    losses = [torch.rand(n, generator=g) for n in sizes]
    if ties:
        losses = [(lo * 3).floor() for lo in losses]
    cand = [torch.rand(n, generator=g) < 0.7 for n in sizes] if masked else None
    got = ohpm_select_batched(boxes, losses, k, thr, candidates=cand)
    assert len(got) == len(sizes)
    for i, (b, lo) in enumerate(zip(boxes, losses)):
        idx = torch.arange(len(b)) if cand is None else torch.where(cand[i])[0]
        expected = idx[_reference_nms_by_loss(b[idx], lo[idx], thr)[:k]] if len(idx) else idx
        assert got[i].dtype == torch.long and got[i].tolist() == expected.tolist()
        if cand is None:
            assert torch.equal(got[i], ohpm_select(b, lo, k, nms_iou=thr))


def test_ohpm_select_batched_generator_breaks_ties_reproducibly():
    boxes = [_random_boxes(30, 1), _random_boxes(20, 2)]
    losses = [torch.ones(30), torch.ones(20)]  # all tied: the order is the permutation's
    def run(seed):
        return ohpm_select_batched(boxes, losses, 5, 1.0, generator=torch.Generator().manual_seed(seed))
    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    assert [x.tolist() for x in ohpm_select_batched(boxes, losses, 3, 1.0)] == [[0, 1, 2], [0, 1, 2]]
    assert all(len(set(x.tolist())) == 5 for x in a)  # a permutation: no RoI twice


def test_ohpm_select_batched_refuses_nan_losses_and_takes_empty_batches():
    boxes = [_random_boxes(3, 0), _random_boxes(2, 1)]
    with pytest.raises(ValueError, match="finite"):
        ohpm_select_batched(boxes, [torch.zeros(3), torch.tensor([0.0, float("nan")])], 2)
    # a NaN on a RoI that may not be kept does not matter
    kept = ohpm_select_batched(boxes, [torch.zeros(3), torch.tensor([0.0, float("nan")])], 2,
                               candidates=[torch.ones(3, dtype=torch.bool), torch.tensor([True, False])])
    assert kept[0].tolist() == ohpm_select(boxes[0], torch.zeros(3), 2).tolist() and kept[1].tolist() == [0]
    assert ohpm_select_batched([], [], 3) == []
    assert [x.numel() for x in ohpm_select_batched([torch.zeros(0, 4)] * 2, [torch.zeros(0)] * 2, 3)] == [0, 0]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 50), seed=st.integers(0, 2**31), thr=st.sampled_from([0.3, 0.7]), ties=st.booleans())
def test_ohpm_select_without_torchvision_is_identical(n, seed, thr, ties):
    """bbgen core must not need torchvision: the pure-torch NMS gives the same selection."""
    import sys

    boxes = _random_boxes(n, seed)
    losses = torch.rand(n, generator=torch.Generator().manual_seed(seed + 1))
    if ties:
        losses = (losses * 3).floor()
    with_tv = ohpm_select(boxes, losses, 20, nms_iou=thr)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "torchvision.ops", None)  # makes `from torchvision.ops import nms` fail
        without_tv = ohpm_select(boxes, losses, 20, nms_iou=thr)
    assert torch.equal(with_tv, without_tv)
