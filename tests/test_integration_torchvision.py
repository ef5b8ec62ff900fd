"""bbgen.integrations.torchvision on a real torchvision Faster R-CNN (CPU, tiny images)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

tv_det = pytest.importorskip("torchvision.models.detection")
from torchvision.ops import box_iou  # noqa: E402

from bbgen.integrations.torchvision import (record_samples, restore, roi_losses, use_ofb,  # noqa: E402
                                            use_proi)
from bbgen.roi.distributions import PRESETS  # noqa: E402
from bbgen.roi.proi import generate_prois  # noqa: E402
from bbgen.integrations.iou_balanced import use_iou_balanced  # noqa: E402
from bbgen.integrations.ohem import use_ohem  # noqa: E402
from bbgen.roi.samplers import OFBSampler  # noqa: E402
from frcnn_testkit import capture_roi_inputs, tiny_batch, tiny_model  # noqa: E402

NUM_CLASSES = 4  # background + 3
_model, _batch, _capture_roi_inputs = tiny_model, tiny_batch, capture_roi_inputs


def _heads_state(heads):
    return (sorted(heads.__dict__), heads.fg_bg_sampler, dict(heads._forward_hooks),
            dict(heads._forward_pre_hooks), type(heads).select_training_samples)


MODES = {
    "stock": lambda m, g: None,
    "ofb": lambda m, g: use_ofb(m, generator=g),
    "ofb_hard": lambda m, g: use_ofb(m, negative="hard", generator=g),
    "proi": lambda m, g: use_proi(m, num_rois=32, generator=g),
    "proi_ohpm": lambda m, g: use_proi(m, num_rois=64, ohpm=True, generator=g),
    "ohem": lambda m, g: use_ohem(m, batch_size_per_image=32, generator=g),
    "iou_balanced": lambda m, g: use_iou_balanced(m, floor_thr=0.1, floor_fraction=0.2, generator=g),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_training_steps_have_finite_losses_and_restore_cleanly(mode):
    model = _model()
    heads = model.roi_heads
    before = _heads_state(heads)
    images, targets = _batch()
    targets.append({"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)})  # background image
    images.append(torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(9)))
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
    handle = MODES[mode](model, torch.Generator().manual_seed(0))
    model.train()
    with record_samples(model) as log:
        for _ in range(2):
            losses = model(images, targets)
            assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
            assert all(math.isfinite(v.item()) for v in losses.values())
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
    assert len(log) == 2 and all(int((lab > 0).sum()) > 0 for lab in log[-1]["labels"][:2])
    if handle is not None:
        assert heads.__dict__.get("_bbgen_integration") is handle
        handle.restore()
    assert _heads_state(heads) == before
    assert restore(model) is False


def test_eval_output_unchanged_by_integrations():
    model = _model()
    images, _ = _batch()
    model.eval()
    with torch.no_grad():
        ref = model(images)
    assert sum(r["boxes"].shape[0] for r in ref) > 0  # the comparison below is not vacuous
    for install in (lambda: use_ofb(model, negative="hard"), lambda: use_proi(model, ohpm=True),
                    lambda: use_ohem(model), lambda: use_iou_balanced(model)):
        with install():
            with torch.no_grad():
                out = model(images)
        for a, b in zip(ref, out):
            for k in a:
                assert torch.equal(a[k], b[k])


def test_proi_positives_iou_lower_bound_class_balance_and_targets():
    model = _model()
    images, targets = _batch()
    features, proposals, image_shapes, tgts = _capture_roi_inputs(model, images, targets)
    heads = model.roi_heads
    with use_proi(model, num_rois=60, iou_dist="left_skew", generator=torch.Generator().manual_seed(1)), \
            record_samples(model) as log:
        heads(features, proposals, image_shapes, tgts)
    rec = log[0]
    batch = heads.fg_bg_sampler.batch_size_per_image
    for i, t in enumerate(tgts):
        props, labels, match = rec["proposals"][i], rec["labels"][i], rec["matched_idxs"][i]
        pos = labels > 0
        assert int(pos.sum()) == 60 and int((~pos).sum()) <= batch - int(batch * 0.25)
        # positives: IoU >= 0.5 (lowest bin base) with their own GT, labels from that GT
        ious = box_iou(props[pos], t["boxes"])[torch.arange(int(pos.sum())), match[pos]]
        assert bool((ious >= 0.5 - 1e-5).all())
        assert torch.equal(labels[pos], t["labels"][match[pos]])
        # fgBalancedRoIAlloc: equal number of RoIs per class present
        counts = torch.bincount(labels[pos], minlength=NUM_CLASSES)[1:]
        assert set(counts[counts > 0].tolist()) == {60 // len(t["labels"].unique())}
        # negatives: RPN proposals with max IoU in [0.1, 0.5): no RPN positive survives
        neg_iou = box_iou(t["boxes"], props[~pos]).amax(0)
        assert bool(((neg_iou >= 0.1) & (neg_iou < 0.5)).all())
        # boxes stay in the (resized) image; targets decode back to the matched GT (torchvision's coder)
        h, w = image_shapes[i]
        assert bool((props[pos][:, 2] <= w + 1e-3).all() and (props[pos][:, 3] <= h + 1e-3).all())
        decoded = heads.box_coder.decode_single(rec["regression_targets"][i][pos], props[pos])
        torch.testing.assert_close(decoded, t["boxes"][match[pos]], atol=1e-3, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["right_skew", "uniform"])
def test_proi_positive_iou_histogram_matches_preset(preset):
    """exact=True: the IoU histogram of the positives used equals the preset's weights (chi-square)."""
    model = _model()
    heads = model.roi_heads
    _, targets = _batch()
    g = torch.Generator().manual_seed(2)
    proposals = [torch.rand(200, 2, generator=g).mul(60).repeat(1, 2) + torch.tensor([0., 0., 20., 20.])
                 for _ in targets]
    model.train()
    with use_proi(model, num_rois=1000, iou_dist=preset, exact=True, generator=g), record_samples(model) as log:
        heads.select_training_samples(proposals, targets)
    rec = log[0]
    ious = torch.cat([box_iou(p[lab > 0], t["boxes"])[torch.arange(int((lab > 0).sum())), m[lab > 0]]
                      for p, lab, m, t in zip(rec["proposals"], rec["labels"], rec["matched_idxs"], targets)])
    dist = PRESETS[preset]
    edges = np.array(list(dist.bases) + [dist.top])
    observed = np.histogram(ious.numpy(), bins=edges)[0]
    assert observed.sum() == 2000
    expected = np.array(dist.weights) / sum(dist.weights) * observed.sum()
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # and the threshold mode (the paper's) is the generator's own distribution, passed through unchanged
    with use_proi(model, num_rois=1000, iou_dist=preset, generator=g), record_samples(model) as log:
        heads.select_training_samples(proposals, targets)
    used = torch.cat([box_iou(p[lab > 0], t["boxes"])[torch.arange(int((lab > 0).sum())), m[lab > 0]]
                      for p, lab, m, t in zip(log[0]["proposals"], log[0]["labels"], log[0]["matched_idxs"], targets)])
    fresh = generate_prois([t["boxes"] for t in targets], [t["labels"] for t in targets], 1000, iou_dist=preset,
                           generator=torch.Generator().manual_seed(5)).ious
    assert stats.ks_2samp(used.numpy(), fresh.numpy()).pvalue > 1e-3


def test_ohpm_keeps_harder_positives_than_random_selection():
    model = _model()
    heads = model.roi_heads
    images, targets = _batch()
    features, proposals, image_shapes, tgts = _capture_roi_inputs(model, images, targets)
    num_fg = int(heads.fg_bg_sampler.batch_size_per_image * 0.25)
    model.train()
    with use_proi(model, num_rois=128, ohpm=True, generator=torch.Generator().manual_seed(3)), \
            record_samples(model) as log, torch.no_grad():
        heads(features, proposals, image_shapes, tgts)
    # the same candidates: generate_prois is the first consumer of the same-seeded generator
    sizes = [(w, h) for h, w in image_shapes]
    cand = generate_prois([t["boxes"] for t in tgts], [t["labels"] for t in tgts], 128, image_sizes=sizes,
                          generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(0)
    for i, t in enumerate(tgts):
        rec_pos = log[0]["labels"][i] > 0
        chosen = log[0]["proposals"][i][rec_pos]
        boxes = cand.boxes[cand.image_index == i]
        match = cand.gt_index[cand.image_index == i]
        assert 0 < chosen.shape[0] <= num_fg
        # every chosen box is one of the candidates
        gap = (chosen[:, None] - boxes[None]).abs().amax(-1)  # [K, R] max coordinate difference
        assert bool((gap.amin(1) == 0).all())
        labels = t["labels"][match]
        reg = heads.box_coder.encode_single(t["boxes"][match], boxes)
        loss = roi_losses(heads, features, [boxes], [image_shapes[i]], [labels], [reg])[0]
        chosen_idx = gap.argmin(1)
        picked = loss[chosen_idx].mean()
        random_means = torch.stack([loss[torch.randperm(boxes.shape[0], generator=g)[:chosen.shape[0]]].mean()
                                    for _ in range(200)])
        assert picked > torch.quantile(random_means, 0.99)


def test_use_ofb_installs_sampler_with_model_settings():
    model = _model()
    original = model.roi_heads.fg_bg_sampler
    with use_ofb(model, generator=torch.Generator().manual_seed(0)) as h:
        s = model.roi_heads.fg_bg_sampler
        assert isinstance(s, OFBSampler) and h.mode == "ofb"
        assert (s.batch_size_per_image, s.positive_fraction) == (original.batch_size_per_image,
                                                                 original.positive_fraction)
        later = use_ofb(model, positive_fraction=0.5)  # re-installing replaces, defaults still from the model
        assert model.roi_heads.fg_bg_sampler.positive_fraction == 0.5
        assert model.roi_heads.fg_bg_sampler.batch_size_per_image == original.batch_size_per_image
        h.restore()  # the replaced handle no longer owns the model: no-op
        assert model.roi_heads.fg_bg_sampler.positive_fraction == 0.5
        later.restore()
    assert model.roi_heads.fg_bg_sampler is original


def test_ohpm_without_forward_context_is_a_clear_error():
    model = _model()
    _, targets = _batch()
    model.train()
    with use_proi(model, ohpm=True):
        with pytest.raises(RuntimeError, match="features"):
            model.roi_heads.select_training_samples([torch.rand(10, 4) * 50 + torch.tensor([0, 0, 50, 50])] * 2,
                                                    targets)


def test_nan_target_is_a_clear_error():
    """torchvision lets NaN boxes through its training checks; the pRoI selection names them."""
    model = _model()
    _, targets = _batch()
    targets[1]["boxes"][1, 2] = float("nan")
    model.train()
    with use_proi(model):
        with pytest.raises(ValueError, match=r"targets\[1\]\['boxes'\]\[1\].*NaN"):
            model.roi_heads.select_training_samples([torch.rand(10, 4) * 50 + torch.tensor([0, 0, 50, 50])] * 2,
                                                    targets)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(num_rois=0), ValueError, "num_rois"),
    (dict(proposal="gaussian"), ValueError, "proposal"),
    (dict(positive_fraction=0.0), ValueError, "positive_fraction"),
    (dict(neg_iou_range=(0.5, 0.1)), ValueError, "neg_iou_range"),
    (dict(neg_iou_range=0.3), TypeError, "neg_iou_range"),
    (dict(iou_dist="gaussian"), ValueError, "iou_dist"),
    (dict(generator=3), TypeError, "generator"),
    (dict(nms_iou=2.0), ValueError, "nms_iou"),
])
def test_use_proi_bad_arguments(kwargs, exc, match):
    model = _model()
    before = _heads_state(model.roi_heads)
    with pytest.raises(exc, match=match):
        use_proi(model, **kwargs)
    assert _heads_state(model.roi_heads) == before


def test_not_a_faster_rcnn():
    with pytest.raises(TypeError, match="FasterRCNN"):
        use_ofb(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="negative"):
        use_ofb(_model(), negative="focal")
