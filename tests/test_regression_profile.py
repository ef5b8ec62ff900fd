"""bbgen.imbalance.regression_loss_profile: thesis Fig. 3.11 quantified with the generator."""
from __future__ import annotations

import json
import math

import pytest
import torch

from bbgen.imbalance import IOU_BINS, RPN_LIKE_WEIGHTS, RegressionLossProfile, regression_loss_profile
from bbgen.imbalance.regression_profile import synthetic_gts
from bbgen.losses import iou_loss


@pytest.fixture(scope="module")
def profile() -> RegressionLossProfile:
    return regression_loss_profile(num_synthetic=48, boxes_per_gt=8, generator=torch.Generator().manual_seed(0))


def test_boxes_land_in_their_bins(profile):
    assert profile.bins == list(IOU_BINS)
    assert profile.boxes_per_bin == [48 * 8] * 5
    for (lo, hi), m in zip(profile.bins, profile.mean_iou):
        assert lo <= m < hi


def test_shares_are_distributions_and_weights_documented(profile):
    assert set(profile.weights) == {"uniform", "rpn_like"}
    assert profile.weights["rpn_like"] == pytest.approx(list(RPN_LIKE_WEIGHTS))
    assert sum(RPN_LIKE_WEIGHTS) == pytest.approx(1.0)
    assert all(a > b for a, b in zip(RPN_LIKE_WEIGHTS, RPN_LIKE_WEIGHTS[1:]))  # skewed to 0.5
    for kind in (profile.loss_share, profile.grad_share):
        for dist, per_loss in kind.items():
            for name, shares in per_loss.items():
                assert sum(shares) == pytest.approx(1.0), (dist, name)
                assert all(s >= 0 for s in shares)


def test_uniform_share_is_proportional_to_the_bin_mean(profile):
    m = profile.mean_loss["l2"]
    assert profile.loss_share["uniform"]["l2"] == pytest.approx([v / sum(m) for v in m])


def test_l1_gradient_norm_is_constant_in_the_unit_frame(profile):
    # d|b|/db = ±1 on each of the four coordinates -> ||grad|| = 2 for every box
    assert profile.mean_grad_norm["l1"] == pytest.approx([2.0] * 5, abs=1e-9)


def test_fig_3_11_l2_is_dominated_by_hard_examples_more_than_l1(profile):
    # thesis §3.4.1: the low-IoU (hard) box dominates the L2 loss; L1 spreads the loss more evenly
    for dist in ("uniform", "rpn_like"):
        l1, l2 = profile.loss_share[dist]["l1"], profile.loss_share[dist]["l2"]
        assert l2[0] > l1[0] and l2[-1] < l1[-1]
    # every loss decreases with IoU
    for name, v in profile.mean_loss.items():
        assert all(a > b for a, b in zip(v, v[1:])), name


def test_iou_losses_put_larger_gradients_on_easier_boxes_unlike_l2(profile):
    # 1 - IoU has a gradient norm that grows with IoU in the unit frame; L2's shrinks.
    g_iou, g_l2 = profile.mean_grad_norm["iou"], profile.mean_grad_norm["l2"]
    assert g_iou[-1] > g_iou[0]
    assert g_l2[-1] < g_l2[0]
    # the RPN-like skew moves the gradient share towards the 0.5 bin for every loss
    for name in profile.grad_share["uniform"]:
        assert profile.grad_share["rpn_like"][name][0] > profile.grad_share["uniform"][name][0]


def test_to_dict_is_json_serialisable(profile):
    d = json.loads(json.dumps(profile.to_dict()))
    assert d["frame"] == "unit" and len(d["mean_loss"]["giou"]) == 5


def test_image_frame_and_custom_losses_bins_weights():
    gts = torch.tensor([[10.0, 20.0, 110.0, 70.0], [0.0, 0.0, 30.0, 90.0]])
    p = regression_loss_profile(gts, losses=["l1", "giou"], bins=[(0.5, 0.75), (0.75, 1.0)], boxes_per_gt=6,
                                weights={"flat": [1, 1], "top": [0, 3]}, frame="image",
                                generator=torch.Generator().manual_seed(1))
    assert set(p.mean_loss) == {"l1", "giou"}
    assert p.weights == {"flat": [0.5, 0.5], "top": [0.0, 1.0]}
    assert p.loss_share["top"]["l1"] == [0.0, 1.0]
    # pixel-frame L1 is larger than in the unit frame for these 30–100 px boxes
    q = regression_loss_profile(gts, losses=["l1"], bins=[(0.5, 0.75), (0.75, 1.0)], boxes_per_gt=6,
                                generator=torch.Generator().manual_seed(1))
    assert p.mean_loss["l1"][0] > 10 * q.mean_loss["l1"][0]
    custom = regression_loss_profile(gts, losses={"squared_iou": lambda a, b: iou_loss(a, b) ** 2},
                                     boxes_per_gt=2, generator=torch.Generator().manual_seed(2))
    assert len(custom.mean_loss["squared_iou"]) == 5


def test_reproducible_with_generator():
    a = regression_loss_profile(num_synthetic=8, boxes_per_gt=2, losses=["giou"], generator=torch.Generator().manual_seed(3))
    b = regression_loss_profile(num_synthetic=8, boxes_per_gt=2, losses=["giou"], generator=torch.Generator().manual_seed(3))
    assert a.to_dict() == b.to_dict()


def test_synthetic_gts_are_valid():
    g = synthetic_gts(200, generator=torch.Generator().manual_seed(0))
    wh = g[:, 2:] - g[:, :2]
    assert (wh >= 16 - 1e-9).all() and (wh <= 512 + 1e-9).all()
    assert (g[:, :2] >= 0).all() and (g[:, 2:] <= 1000).all()


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(losses=["nope"]), ValueError, "unknown loss"),
        (dict(losses="giou"), TypeError, "losses"),
        (dict(losses={"x": 3}), TypeError, "callables"),
        (dict(bins=[(0.6, 0.5)]), ValueError, "bin"),
        (dict(bins=[]), ValueError, "bins"),
        (dict(weights={"w": [1, 2]}), ValueError, "weights"),
        (dict(weights={"w": [-1, 1, 1, 1, 1]}), ValueError, "weights"),
        (dict(frame="pixels"), ValueError, "frame"),
        (dict(boxes_per_gt=0), ValueError, "boxes_per_gt"),
        (dict(gt_boxes=torch.zeros(3, 3)), ValueError, "gt_boxes"),
        (dict(gt_boxes=torch.tensor([[0.0, 0, 0, 5]])), ValueError, "gt_boxes"),
        (dict(num_synthetic=0), ValueError, "num"),
    ],
)
def test_validation(kwargs, err, match):
    with pytest.raises(err, match=match):
        regression_loss_profile(**kwargs)


def test_real_ground_truths(shared_data):
    from bbgen.datasets import load

    candidates = sorted((shared_data / "raccoon").rglob("*.json")) + sorted((shared_data / "voc2007").rglob("*.json"))
    if not candidates:
        pytest.skip("no json annotation file in shared data")
    ann = load(candidates[0])
    boxes = torch.as_tensor(ann.boxes[~ann.crowd][:40], dtype=torch.float64)
    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    p = regression_loss_profile(boxes, losses=["l1", "l2", "iou", "eiou"], boxes_per_gt=4,
                                generator=torch.Generator().manual_seed(0))
    for (lo, hi), m in zip(p.bins, p.mean_iou):
        assert lo <= m < hi
    assert all(math.isfinite(v) for vals in p.mean_grad_norm.values() for v in vals)


def test_plots_return_axes_and_validate(profile):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    from bbgen.plot.losses import (plot_convergence, plot_iou_boxplots, plot_loss_shares, plot_per_bin,
                                   plot_regression_errors)

    fig, axes = plt.subplots(1, 5)
    assert isinstance(plot_per_bin(profile.mean_loss, profile.bins, ax=axes[0]), Axes)
    assert isinstance(plot_loss_shares(profile.loss_share["uniform"], profile.bins, ax=axes[1]), Axes)
    assert len(axes[1].patches) == 5 * len(profile.loss_share["uniform"])
    assert isinstance(plot_regression_errors({"a": [3.0, 2.0, 1.0]}, ax=axes[2]), Axes)
    assert isinstance(plot_convergence({"a": [0.1, 0.5]}, ax=axes[3]), Axes)
    stat = dict(q05=0.1, q25=0.2, q50=0.3, q75=0.4, q95=0.5, mean=0.3)
    assert isinstance(plot_iou_boxplots({"a": [stat, stat]}, [0, 10], ax=axes[4]), Axes)
    with pytest.raises(ValueError, match="snapshots"):
        plot_iou_boxplots({"a": [stat]}, [0, 10], ax=axes[4])
    with pytest.raises(ValueError, match="bins"):
        plot_per_bin({"a": [1.0]}, profile.bins, ax=axes[0])
    with pytest.raises(ValueError, match="mapping"):
        plot_loss_shares({}, profile.bins, ax=axes[1])
    with pytest.raises(TypeError, match="ax"):
        plot_convergence({"a": [1.0]}, ax="not an axes")
    plt.close(fig)
