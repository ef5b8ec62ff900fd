"""OHEM and IoU-balanced negative sampling on a real torchvision Faster R-CNN (CPU, tiny images)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

pytest.importorskip("torchvision")
from torchvision.ops import box_iou, nms  # noqa: E402

from bbgen.integrations.iou_balanced import use_iou_balanced  # noqa: E402
from bbgen.integrations.ohem import use_ohem  # noqa: E402
from bbgen.integrations.torchvision import record_samples  # noqa: E402
from bbgen.roi.iou_balanced import IoUBalancedSampler  # noqa: E402
from frcnn_testkit import capture_roi_inputs, tiny_batch, tiny_model  # noqa: E402


def _independent_losses(heads, features, boxes, image_shape, gt_boxes, gt_labels):
    """Fast R-CNN loss per RoI, written out here (torchvision's fastrcnn_loss terms, not bbgen's roi_losses)."""
    iou = box_iou(gt_boxes, boxes)
    best, idx = iou.max(0)
    labels = torch.where(best >= 0.5, gt_labels[idx], torch.zeros_like(idx))
    with torch.no_grad():
        logits, deltas = heads.box_predictor(heads.box_head(heads.box_roi_pool(features, [boxes], [image_shape])))
    targets = heads.box_coder.encode_single(gt_boxes[idx], boxes)
    ce = F.cross_entropy(logits, labels, reduction="none")
    d = deltas.reshape(len(boxes), -1, 4)[torch.arange(len(boxes)), labels]
    sl1 = F.smooth_l1_loss(d, targets, beta=1 / 9, reduction="none").sum(1)
    return ce + (labels > 0) * sl1


@pytest.mark.parametrize("batch", [16, 200])
def test_ohem_keeps_the_highest_loss_rois_after_nms(batch):
    model = tiny_model()
    heads = model.roi_heads
    images, targets = tiny_batch()
    features, proposals, image_shapes, tgts = capture_roi_inputs(model, images, targets)
    model.train()
    with use_ohem(model, batch_size_per_image=batch), record_samples(model) as log, torch.no_grad():
        heads(features, proposals, image_shapes, tgts)
    for i, t in enumerate(tgts):
        boxes = torch.cat([proposals[i], t["boxes"]])  # torchvision appends the GTs to the proposals
        feats = {k: v[i:i + 1] for k, v in features.items()}
        loss = _independent_losses(heads, feats, boxes, image_shapes[i], t["boxes"], t["labels"])
        expected = nms(boxes, loss, 0.7)[:batch]  # NMS by loss, then the B hardest
        assert 0 < len(expected) <= batch and (batch < len(boxes) or len(expected) < len(boxes))
        kept = log[0]["proposals"][i]
        assert kept.shape[0] == len(expected)
        torch.testing.assert_close(kept, boxes[expected], rtol=0, atol=0)  # same RoIs, hardest first
        # labels and regression targets are torchvision's for the kept RoIs
        iou = box_iou(t["boxes"], kept).max(0)
        lab = torch.where(iou.values >= 0.5, t["labels"][iou.indices], 0)
        assert torch.equal(log[0]["labels"][i], lab)
        pos = lab > 0
        decoded = heads.box_coder.decode_single(log[0]["regression_targets"][i][pos], kept[pos])
        torch.testing.assert_close(decoded, t["boxes"][iou.indices[pos]], atol=1e-3, rtol=1e-4)
        # harder than a random choice of the same size (the test above is not vacuous)
        assert loss[expected].mean() > loss.mean()


def test_ohem_generator_breaks_ties_reproducibly():
    model = tiny_model()
    images, targets = tiny_batch()
    features, proposals, image_shapes, tgts = capture_roi_inputs(model, images, targets)
    runs = []
    for seed in (3, 3):
        with use_ohem(model, batch_size_per_image=16, generator=torch.Generator().manual_seed(seed)), \
                record_samples(model) as log, torch.no_grad():
            model.roi_heads(features, proposals, image_shapes, tgts)
        runs.append(log[0]["proposals"])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def _bin_counts(sampler, ious):
    b = sampler.bin_index(ious)
    return np.bincount((b + 1).numpy(), minlength=sampler.num_bins + 1)  # [below floor, bin 0..K-1]


def test_iou_balanced_negatives_spread_over_bins_as_specified():
    """Exact per-bin quotas, uniform fills: chi-square of the fills against the expected counts."""
    g = torch.Generator().manual_seed(0)
    # negatives' max IoUs: below floor 300 (half at 0), bins of [0.1, 0.5): 200, 10, 50, 100
    parts = [torch.zeros(150), torch.rand(150, generator=g) * 0.1] + \
        [0.1 + 0.1 * k + torch.rand(n, generator=g) * 0.1 for k, n in enumerate((200, 10, 50, 100))]
    ious = torch.cat(parts)
    labels = torch.zeros(ious.numel(), dtype=torch.int64)
    s = IoUBalancedSampler(120, 0.25, floor_thr=0.1, num_bins=4, floor_fraction=0.25, generator=g)
    available = _bin_counts(s, ious)
    assert available.tolist() == [300, 200, 10, 50, 100]
    trials, fills, below_zero = 300, np.zeros(5), 0
    for _ in range(trials):
        pos, neg = s([labels], [ious])
        assert int(pos[0].sum()) == 0 and int(neg[0].sum()) == 120
        picked = ious[neg[0].bool()]
        got = _bin_counts(s, picked)
        # n_iou = 90: 22 per bin or all of it (bin 1: 10); the 14 missing come from the bins above the floor,
        # the other 30 from below the floor
        assert got[0] == 30 and got[2] == 10 and got[1:].sum() == 90
        assert all(got[k] >= 22 for k in (1, 3, 4))
        fills += got - np.array([30, 22, 10, 22, 22])
        below_zero += int((picked == 0).sum())
    left = available[[1, 3, 4]] - np.array([22, 22, 22])  # free after the quotas: 178, 28, 78
    expected = 14 * trials * left / left.sum()
    assert stats.chisquare(fills[[1, 3, 4]], expected).pvalue > 1e-3
    # below the floor: uniform over the 300 (half have IoU 0)
    assert stats.binomtest(below_zero, 30 * trials, 0.5).pvalue > 1e-3
    # and a wrong rule would be caught: the uniform draw over all negatives gives other counts
    uniform = 120 * trials * available / available.sum()
    total = fills + trials * np.array([30, 22, 10, 22, 22])
    assert stats.chisquare(total, uniform).pvalue < 1e-6


def test_iou_balanced_on_the_model_balances_the_negatives():
    model = tiny_model(box_batch_size_per_image=128)
    images, targets = tiny_batch()
    features, proposals, image_shapes, tgts = capture_roi_inputs(model, images, targets)
    with use_iou_balanced(model, num_bins=5, generator=torch.Generator().manual_seed(1)) as h, \
            record_samples(model) as log, torch.no_grad():
        model.roi_heads(features, proposals, image_shapes, tgts)
        sampler = model.roi_heads.fg_bg_sampler
        assert isinstance(sampler, IoUBalancedSampler) and h.mode == "iou_balanced" and sampler.max_iou == 0.5
    underfull = []
    for i, t in enumerate(tgts):
        all_iou = box_iou(t["boxes"], torch.cat([proposals[i], t["boxes"]])).amax(0)
        available = _bin_counts(sampler, all_iou[all_iou < 0.5])  # the negatives torchvision's matcher makes
        lab = log[0]["labels"][i]
        num_pos = int((lab > 0).sum())
        got = _bin_counts(sampler, box_iou(t["boxes"], log[0]["proposals"][i]).amax(0)[lab == 0])
        quota = (128 - num_pos) // 5  # bins of width 0.1 in [0, 0.5)
        assert got.sum() == min(128 - num_pos, available.sum())
        assert all(got[1:] >= np.minimum(quota, available[1:]))
        underfull.append(bool((available[1:] < quota).any() and (got[1:] > quota).any()))
    assert any(underfull)  # not vacuous: some bins hold fewer than their quota, others get more (the fill)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_bins=0), "num_bins"), (dict(floor_thr=0.5), "floor_thr"), (dict(floor_thr=-0.1), "floor_thr"),
    (dict(floor_fraction=1.5), "floor_fraction"), (dict(generator=1), "generator"),
])
def test_iou_balanced_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        use_iou_balanced(tiny_model(), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size_per_image=0), "batch_size_per_image"), (dict(nms_iou=1.5), "nms_iou"),
    (dict(generator="x"), "generator"),
])
def test_ohem_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        use_ohem(tiny_model(), **kwargs)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), num=st.integers(0, 400), bins=st.integers(1, 6),
       floor_thr=st.sampled_from([0.0, 0.05, 0.2]), floor_fraction=st.sampled_from([0.0, 0.3, 1.0]),
       seed=st.integers(0, 2 ** 31))
def test_iou_balanced_negatives_properties(n, num, bins, floor_thr, floor_fraction, seed):
    g = torch.Generator().manual_seed(seed)
    ious = torch.rand(n, generator=g) ** 2 * 0.5  # more mass at low IoU, as RPN negatives
    s = IoUBalancedSampler(512, 0.25, floor_thr=floor_thr, num_bins=bins, floor_fraction=floor_fraction,
                           generator=g)
    picked = s.negatives(ious, num)
    k = min(num, n)
    assert picked.numel() == k and picked.unique().numel() == k  # exactly min(num, N), no repeats
    available, got = _bin_counts(s, ious), _bin_counts(s, ious[picked])
    n_iou = int(k * (1 - floor_fraction))
    assert (got[1:] >= np.minimum(available[1:], n_iou // bins)).all()  # every bin its quota or all of it
    above = min(int(available[1:].sum()), n_iou)  # steps 1-2 fill n_iou from above the floor when they can
    assert got[1:].sum() >= above
    assert got[0] == min(int(available[0]), k - above)  # step 3: the rest from below the floor, if it has them
