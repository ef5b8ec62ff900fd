"""bbgen.losses: agreement with torchvision, gradcheck, finiteness and argument validation."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision.ops as tvops
from hypothesis import given, settings
from hypothesis import strategies as st

import bbgen.losses as L

BOX_LOSSES = L.BOX_LOSSES


def random_boxes(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 10
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 5 + 0.5
    return torch.cat([xy, xy + wh], dim=-1)


# identical, touching, disjoint, nested, zero-area (both, one), far apart
SPECIAL_PAIRS = torch.tensor(
    [
        [[0, 0, 1, 1], [0, 0, 1, 1]],
        [[0, 0, 1, 1], [1, 0, 2, 1]],
        [[0, 0, 1, 1], [1, 1, 2, 2]],
        [[0, 0, 1, 1], [3, 2, 4, 5]],
        [[0, 0, 4, 4], [1, 1, 2, 2]],
        [[1, 1, 2, 2], [0, 0, 4, 4]],
        [[1, 1, 1, 1], [1, 1, 1, 1]],
        [[1, 1, 1, 3], [0, 0, 2, 2]],
        [[0, 0, 2, 2], [1, 1, 3, 1]],
        [[0, 0, 0, 0], [5, 5, 6, 6]],
    ],
    dtype=torch.float64,
)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (L.giou_loss, tvops.generalized_box_iou_loss),
        (L.diou_loss, tvops.distance_box_iou_loss),
        (L.ciou_loss, tvops.complete_box_iou_loss),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torchvision_values_and_gradients(ours, theirs, dtype):
    pred, target = random_boxes(500, 0, dtype), random_boxes(500, 1, dtype)
    pred = torch.cat([pred, SPECIAL_PAIRS[:6, 0].to(dtype)])
    target = torch.cat([target, SPECIAL_PAIRS[:6, 1].to(dtype)])
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    a, b = ours(p1, target), theirs(p2, target)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad, atol=1e-5, rtol=1e-5)
    for red in ("mean", "sum"):
        torch.testing.assert_close(ours(pred, target, reduction=red), theirs(pred, target, reduction=red),
                                   atol=1e-5, rtol=1e-6)


def test_lp_losses_match_torch_and_closed_forms():
    pred, target = random_boxes(200, 2), random_boxes(200, 3)
    d = pred - target
    torch.testing.assert_close(L.l1_loss(pred, target), d.abs().sum(-1))
    torch.testing.assert_close(L.l2_loss(pred, target), (d**2).sum(-1))
    for beta in (0.11, 1.0, 3.0):
        ref = torch.nn.functional.smooth_l1_loss(pred, target, beta=beta, reduction="none").sum(-1)
        torch.testing.assert_close(L.smooth_l1_loss(pred, target, beta=beta), ref)


def test_thesis_fig_3_11_l1_l2_columns():
    # Fig. 3.11: the L1 and L2 columns are sums over the four corner-coordinate errors.
    gt = torch.tensor([0.0, 0.0, 10.0, 10.0])
    pred = torch.tensor([[1.0, 1.0, 11.0, 12.0], [0.0, 0.0, 10.0, 10.0]])
    torch.testing.assert_close(L.l1_loss(pred, gt), torch.tensor([5.0, 0.0]))
    torch.testing.assert_close(L.l2_loss(pred, gt), torch.tensor([7.0, 0.0]))


def test_balanced_l1_gradient_is_thesis_eq_3_7():
    alpha, gamma, beta = 0.5, 1.5, 1.0
    kappa = math.expm1(gamma / alpha)
    b = torch.tensor([0.05, 0.3, 0.7, 0.99, 1.2, 4.0], dtype=torch.float64, requires_grad=True)
    zeros = torch.zeros(6, 3, dtype=torch.float64)
    pred = torch.cat([b[:, None], zeros], -1)
    L.balanced_l1_loss(pred, torch.zeros_like(pred), alpha=alpha, gamma=gamma, beta=beta).sum().backward()
    expected = torch.where(b < 1, alpha * torch.log1p(kappa * b), torch.full_like(b, gamma))
    torch.testing.assert_close(b.grad, expected.detach())
    # continuity at |b| = beta
    near = torch.tensor([[1 - 1e-9, 0, 0, 0], [1 + 1e-9, 0, 0, 0]], dtype=torch.float64)
    v = L.balanced_l1_loss(near, torch.zeros_like(near))
    assert abs(float(v[0] - v[1])) < 1e-7


def _gradcheck_inputs(seed: int):
    # generic overlapping / disjoint pairs away from kinks (ties of max/min, |x| = 0 ...)
    pred = random_boxes(6, seed) + 0.013
    target = random_boxes(6, seed + 100)
    return pred.requires_grad_(), target


GRADCHECK_CASES = {
    "l1": lambda p, t: L.l1_loss(p, t),
    "l2": lambda p, t: L.l2_loss(p, t),
    "smooth_l1": lambda p, t: L.smooth_l1_loss(p, t, beta=1.0),
    "balanced_l1": lambda p, t: L.balanced_l1_loss(p, t),
    "iou": lambda p, t: L.iou_loss(p, t),
    "iou_log": lambda p, t: L.iou_loss(p, t, mode="log"),
    "bounded_iou": lambda p, t: L.bounded_iou_loss(p, t),
    "giou": lambda p, t: L.giou_loss(p, t),
    "diou": lambda p, t: L.diou_loss(p, t),
    "ciou_full": lambda p, t: L.ciou_loss(p, t, detach_alpha=False),
    "eiou": lambda p, t: L.efficient_iou_loss(p, t),
    "focal_l1": lambda p, t: L.focal_l1_loss(p / 10, t / 10),
    "focal_eiou": lambda p, t: L.focal_eiou_loss(p, t, gamma=0.5),
    "focal_eiou_norm": lambda p, t: L.focal_eiou_loss_normalized(p, t, gamma=0.5),
    "extended_iou": lambda p, t: L.extended_iou(p, t),
    "smooth_extended_iou": lambda p, t: L.extended_iou_loss(p, t),
    "smooth_extended_iou_p15": lambda p, t: L.extended_iou_loss(p, t, power=1.5),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_gradcheck_float64(name):
    fn = GRADCHECK_CASES[name]
    for seed in (0, 1):
        pred, target = _gradcheck_inputs(seed)
        if name in ("iou", "iou_log", "focal_eiou", "focal_eiou_norm"):
            target = pred.detach() + 0.3  # these have zero/clamped gradient on disjoint pairs
        assert torch.autograd.gradcheck(lambda p: fn(p, target), (pred,), eps=1e-6, atol=1e-5)


def test_gradcheck_gfl():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, dtype=torch.float64, generator=g, requires_grad=True)
    score = torch.rand(5, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda x: L.quality_focal_loss(x, score), (logits,))
    dist = torch.randn(5, 8, dtype=torch.float64, generator=g, requires_grad=True)
    target = torch.rand(5, dtype=torch.float64, generator=g) * 7
    assert torch.autograd.gradcheck(lambda x: L.distribution_focal_loss(x, target), (dist,))
    assert torch.autograd.gradcheck(L.integral_decode, (dist,))


@pytest.mark.parametrize("name", sorted(BOX_LOSSES))
def test_finite_values_and_gradients_on_special_pairs(name):
    fn = BOX_LOSSES[name]
    for dtype in (torch.float32, torch.float64):
        pred = SPECIAL_PAIRS[:, 0].to(dtype).requires_grad_()
        target = SPECIAL_PAIRS[:, 1].to(dtype)
        loss = fn(pred, target)
        assert loss.shape == (len(SPECIAL_PAIRS),)
        assert torch.isfinite(loss).all(), loss
        loss.sum().backward()
        assert torch.isfinite(pred.grad).all(), pred.grad


@pytest.mark.parametrize("name", sorted(BOX_LOSSES))
def test_identical_boxes_give_the_minimum(name):
    fn = BOX_LOSSES[name]
    boxes = random_boxes(50, 7)
    at_min = fn(boxes, boxes)
    other = fn(boxes + torch.tensor([0.3, -0.2, 0.1, 0.4], dtype=boxes.dtype), boxes)
    assert (at_min < other).all()
    torch.testing.assert_close(at_min, torch.zeros_like(at_min), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(BOX_LOSSES))
def test_reductions_broadcasting_dtype(name):
    fn = BOX_LOSSES[name]
    pred = random_boxes(12, 3, torch.float32).reshape(3, 4, 4)
    target = random_boxes(4, 4, torch.float32)  # broadcasts over the leading 3
    none = fn(pred, target)
    assert none.shape == (3, 4) and none.dtype == torch.float32
    torch.testing.assert_close(fn(pred, target, reduction="sum"), none.sum())
    torch.testing.assert_close(fn(pred, target, reduction="mean"), none.mean())
    empty = fn(torch.zeros(0, 4), torch.zeros(0, 4), reduction="mean")
    assert float(empty) == 0.0


@pytest.mark.parametrize("name", sorted(BOX_LOSSES))
def test_bad_arguments_raise_clear_errors(name):
    fn = BOX_LOSSES[name]
    good = torch.tensor([[0.0, 0, 1, 1]])
    with pytest.raises(ValueError, match="reduction"):
        fn(good, good, reduction="avg")
    with pytest.raises(ValueError, match="pred"):
        fn(torch.zeros(2, 3), good)
    with pytest.raises(TypeError, match="pred"):
        fn([[0, 0, 1, 1]], good)
    with pytest.raises(TypeError, match="target"):
        fn(good, torch.tensor([[0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="broadcast"):
        fn(torch.zeros(2, 4), torch.zeros(3, 4))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda b: L.smooth_l1_loss(b, b, beta=0), "beta"),
        (lambda b: L.smooth_l1_loss(b, b, beta=float("nan")), "beta"),
        (lambda b: L.balanced_l1_loss(b, b, alpha=-1), "alpha"),
        (lambda b: L.focal_l1_loss(b, b, beta=0.2), "beta"),
        (lambda b: L.focal_eiou_loss(b, b, gamma=-0.5), "gamma"),
        (lambda b: L.extended_iou_loss(b, b, power=1.0), "power"),
        (lambda b: L.iou_loss(b, b, mode="square"), "mode"),
        (lambda b: L.giou_loss(b, b, eps=0), "eps"),
        (lambda b: L.bounded_iou_loss(b, b, beta="x"), "beta"),
        (lambda b: L.sot_step(b, b, b, lr=-1), "lr"),
        (lambda b: L.sot_step(b, b, b[:, :2], lr=0.1), "grad"),
        (lambda b: L.quality_focal_loss(b, b.clamp(0, 1) + 2), "score"),
        (lambda b: L.distribution_focal_loss(b, torch.full((1,), 9.0)), "target"),
        (lambda b: L.distribution_focal_loss(b, torch.zeros(2)), "target"),
        (lambda b: L.integral_decode(torch.zeros(3, 1)), "logits"),
        (lambda b: L.focal_eiou_loss_normalized(b, b, mask=torch.ones(2, dtype=torch.bool)), "mask"),
    ],
)
def test_parameter_validation(call, match):
    boxes = torch.tensor([[0.0, 0, 1, 1]])
    with pytest.raises((ValueError, TypeError), match=match):
        call(boxes)


coord = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
size = st.one_of(st.just(0.0), st.floats(0, 500, allow_nan=False, allow_subnormal=False))


@st.composite
def box(draw):
    x, y, w, h = draw(coord), draw(coord), draw(size), draw(size)
    return [x, y, x + w, y + h]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(box(), box()), min_size=1, max_size=8))
def test_property_finite_loss_and_gradient(pairs):
    pred = torch.tensor([p for p, _ in pairs], dtype=torch.float64)
    target = torch.tensor([t for _, t in pairs], dtype=torch.float64)
    for name, fn in BOX_LOSSES.items():
        p = pred.clone().requires_grad_()
        loss = fn(p, target)
        loss.sum().backward()
        assert torch.isfinite(loss).all(), (name, loss)
        assert torch.isfinite(p.grad).all(), (name, p.grad)
        assert (loss >= -1e-9).all(), (name, loss)
    e = L.extended_iou(pred, target)
    assert ((e > -1 - 1e-9) & (e <= 1 + 1e-9)).all()


@pytest.mark.parametrize("call, match", [
    (lambda b: L.quality_focal_loss(torch.zeros(3), torch.tensor([0.5, 1.5, 0.2])), r"score must lie in \[0, 1\], got 1.5"),
    (lambda b: L.quality_focal_loss(torch.zeros(2), torch.tensor([0.5, math.nan])), r"score must lie in \[0, 1\], got nan"),
    (lambda b: L.distribution_focal_loss(torch.zeros(2, 5), torch.tensor([1.0, 7.25])),
     r"target must lie in \[0, 4\] \(the bin range of logits\), got 7.25"),
    (lambda b: L.distribution_focal_loss(torch.zeros(1, 5), torch.tensor([-0.5])), r"got -0.5"),
])
def test_gfl_range_errors_show_the_bad_value(call, match):
    with pytest.raises(ValueError, match=match):  # the message had no value
        call(None)


@pytest.mark.parametrize("call, name", [
    (lambda p, t, v: L.extended_iou_grad(p, t, as_published=v), "as_published"),
    (lambda p, t, v: L.smooth_extended_iou_grad(p, t, as_published=v), "as_published"),
    (lambda p, t, v: L.focal_eiou_loss(p, t, detach_weight=v), "detach_weight"),
    (lambda p, t, v: L.focal_eiou_loss_normalized(p, t, detach_weight=v), "detach_weight"),
    (lambda p, t, v: L.ciou_loss(p, t, detach_alpha=v), "detach_alpha"),
])
@pytest.mark.parametrize("value", ["yes", "no", 1, None])
def test_bool_switches_refuse_non_bools(call, name, value):
    pred, target = torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 2, 2]])
    with pytest.raises(TypeError, match=f"{name} must be True or False, got {value!r}"):
        call(pred, target, value)  # "yes" (and "no") were taken as True
    assert torch.equal(call(pred, target, True), call(pred, target, __import__("numpy").bool_(True)))
