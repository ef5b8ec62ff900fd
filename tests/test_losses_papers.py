"""bbgen.losses against the statements of the source papers (Peng & Yu, Zhang et al., Li et al.)."""
from __future__ import annotations

import math

import pytest
import torch

import bbgen.losses as L

F64 = torch.float64


def _box(*xyxy):
    return torch.tensor(xyxy, dtype=F64)


def generic_pairs(n: int, seed: int):
    """Random pairs covering overlap and all three disjoint configurations, with no coordinate ties."""
    g = torch.Generator().manual_seed(seed)
    target = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=F64).expand(n, 4)
    xy = torch.rand(n, 2, generator=g, dtype=F64) * 6 - 3
    wh = torch.rand(n, 2, generator=g, dtype=F64) * 2 + 0.1
    return torch.cat([xy, xy + wh], -1), target


# --- Peng & Yu: extended IoU (Eq. 16–22) --------------------------------------------------

def test_extended_iou_equals_standard_iou_on_overlapping_boxes():
    pred, target = generic_pairs(4000, 0)
    g_iou = 1 - L.iou_loss(pred, target, eps=1e-12)
    overlapping = g_iou > 0
    assert overlapping.sum() > 300
    e = L.extended_iou(pred, target, eps=1e-12)
    torch.testing.assert_close(e[overlapping], g_iou[overlapping])


def test_extended_iou_is_exact_on_touching_boxes():
    # "When two boxes are attached, EIoU exactly equivalent to the standard IoU" (= 0 when touching)
    e = L.extended_iou(_box(1, 0, 2, 1), _box(0, 0, 1, 1))
    assert abs(float(e)) < 1e-12


@pytest.mark.parametrize("direction", [(1, 0), (0, 1), (1, 1), (-1, 0), (0, -1), (-1, -1), (1, -0.5)])
def test_extended_iou_negative_and_decreasing_with_distance_on_disjoint_boxes(direction):
    target = _box(0, 0, 1, 1)
    dx, dy = direction
    steps = torch.linspace(1.05, 6, 40, dtype=F64)
    preds = torch.stack([torch.stack([s * dx, s * dy, s * dx + 1, s * dy + 1]) for s in steps])
    e = L.extended_iou(preds, target)
    assert (e < 0).all()
    assert (e.diff() < 0).all()


def test_extended_iou_is_negative_on_every_disjoint_random_pair():
    pred, target = generic_pairs(4000, 1)
    px1, py1, px2, py2 = pred.unbind(-1)
    disjoint = (px1 > 1) | (px2 < 0) | (py1 > 1) | (py2 < 0)
    assert disjoint.sum() > 1000
    assert (L.extended_iou(pred, target)[disjoint] < 0).all()


def test_analytic_gradients_equal_autograd():
    pred, target = generic_pairs(3000, 2)
    p = pred.clone().requires_grad_()
    L.extended_iou(p, target).sum().backward()
    torch.testing.assert_close(L.extended_iou_grad(pred, target), p.grad)
    p.grad = None
    L.extended_iou_loss(p, target).sum().backward()
    torch.testing.assert_close(L.smooth_extended_iou_grad(pred, target), p.grad)
    p.grad = None
    L.extended_iou_loss(p, target, power=1.5).sum().backward()
    torch.testing.assert_close(L.smooth_extended_iou_grad(pred, target, power=1.5), p.grad)


def test_published_eq_25_27_equal_autograd_where_their_case_analysis_applies():
    pred, target = generic_pairs(3000, 3)
    p = pred.clone().requires_grad_()
    L.extended_iou_loss(p, target).sum().backward()
    published = L.smooth_extended_iou_grad(pred, target, as_published=True)
    px1, py1, px2, py2 = pred.unbind(-1)
    y_disjoint = (py1 > 1) | (py2 < 0)
    x_disjoint = (px1 > 1) | (px2 < 0)
    # Eq. 33's third case (x1p < x1t -> 0) misses the dependence through x0 when the boxes are
    # disjoint in y; likewise Eq. 34 for y1p when they are disjoint in x.
    bad_x1 = (px1 < 0) & y_disjoint
    bad_y1 = (py1 < 0) & x_disjoint
    ok = ~(bad_x1 | bad_y1)
    torch.testing.assert_close(published[ok], p.grad[ok])
    # columns not affected by the omission are right everywhere
    torch.testing.assert_close(published[:, 2:], p.grad[:, 2:])
    # ... and the omission is real: the published x1 derivative differs where it applies
    assert bad_x1.sum() > 50
    assert ((published[bad_x1, 0] - p.grad[bad_x1, 0]).abs() > 1e-6).all()


def test_smooth_extended_iou_gradient_vanishes_at_the_minimum_but_minus_eiou_does_not():
    # Peng & Yu §III-C: CT makes the gradient at the minimum zero; -EIoU's is non-zero (Fig. 4a-b)
    t = _box(0, 0, 1, 1)
    near = _box(0.0, 0.0, 1 - 1e-6, 1 - 1e-6)
    assert L.smooth_extended_iou_grad(near, t).abs().max() < 1e-5
    assert (-L.extended_iou_grad(near, t)).abs().max() > 0.5


def test_sot_update_is_scale_invariant():
    # Eq. 28: with SOT the relative step does not depend on the box size (Fig. 5a)
    t = _box(0, 0, 1, 1)
    p = _box(0, 0, 0.5, 0.5)
    for s in (2.0, 4.0, 10.0):
        step_small = L.sot_step(p, t, L.smooth_extended_iou_grad(p, t), lr=0.1)
        step_big = L.sot_step(p * s, t * s, L.smooth_extended_iou_grad(p * s, t * s), lr=0.1)
        torch.testing.assert_close(step_big, step_small * s)
        # plain gradient steps shrink with the size instead (grad ∝ 1/s)
        torch.testing.assert_close(L.smooth_extended_iou_grad(p * s, t * s), L.smooth_extended_iou_grad(p, t) / s)


def test_peng_fig3_giou_counter_example():
    # Fig. 3: GIoU of the overlapping pair (a) is below that of the touching pair (b); EIoU is not.
    a, b = _box(0, 0, 1, 1), _box(0.5, 0.5, 1.5, 1.5)
    giou_a = 1 - L.giou_loss(a, b, eps=1e-12)
    assert abs(float(giou_a) - (-5 / 63)) < 1e-9
    touch = _box(1, 0, 2, 1)
    assert float(giou_a) < float(1 - L.giou_loss(a, touch))
    assert float(L.extended_iou(a, b)) > float(L.extended_iou(a, touch))


# --- Zhang et al.: EIoU (Eq. 7), FocalL1 (Eq. 8-9), Focal-EIoU (Eq. 10-11) -------------------

def test_efficient_iou_equals_its_three_terms():
    pred, target = generic_pairs(200, 4)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    px1, py1, px2, py2 = pred.unbind(-1)
    cw = torch.maximum(px2, tx2) - torch.minimum(px1, tx1)
    ch = torch.maximum(py2, ty2) - torch.minimum(py1, ty1)
    rho2 = ((px1 + px2 - tx1 - tx2) / 2) ** 2 + ((py1 + py2 - ty1 - ty2) / 2) ** 2
    expected = (L.iou_loss(pred, target, eps=1e-12) + rho2 / (cw**2 + ch**2)
                + ((px2 - px1) - (tx2 - tx1)) ** 2 / cw**2 + ((py2 - py1) - (ty2 - ty1)) ** 2 / ch**2)
    torch.testing.assert_close(L.efficient_iou_loss(pred, target, eps=1e-12), expected)
    assert L.eiou_loss is L.efficient_iou_loss


def test_efficient_iou_keeps_gradient_where_giou_ciou_degrade():
    # Zhang §3.2 / Fig. 3b: a box nested in the target with equal aspect ratio and centre: GIoU and
    # CIoU reduce to the IoU loss, EIoU adds a size term with a larger gradient.
    t = _box(0, 0, 4, 4)
    p = _box(1, 1, 3, 3).requires_grad_()
    grads = {}
    for name, fn in (("iou", L.iou_loss), ("giou", L.giou_loss), ("ciou", L.ciou_loss), ("eiou", L.eiou_loss)):
        p.grad = None
        fn(p, t).backward()
        grads[name] = p.grad.norm().item()
    assert grads["giou"] == pytest.approx(grads["iou"]) and grads["ciou"] == pytest.approx(grads["iou"])
    assert grads["eiou"] > 1.5 * grads["iou"]


def _grad_norm(fn, p0, t):
    p = torch.tensor(p0, dtype=F64, requires_grad=True)
    fn(p, t).backward()
    return p.grad.norm().item()


def test_efficient_iou_on_disjoint_boxes_with_equal_aspect_ratio():
    # Zhang §3.2 / Fig. 3a says EIoU gives "much larger gradients" than GIoU/CIoU for disjoint boxes
    # with similar aspect ratios. Finding: for boxes of *equal size* the width/height terms vanish,
    # EIoU = DIoU = CIoU there and GIoU's gradient can even be larger; EIoU only gains when sizes differ.
    t = _box(0, 0, 1, 1)
    same = (1.5, 0.0, 2.5, 1.0)
    assert _grad_norm(L.eiou_loss, same, t) == pytest.approx(_grad_norm(L.ciou_loss, same, t))
    assert _grad_norm(L.giou_loss, same, t) > _grad_norm(L.eiou_loss, same, t)
    bigger = (0.0, 3.0, 1.2, 4.2)
    assert _grad_norm(L.eiou_loss, bigger, t) > 1.5 * _grad_norm(L.ciou_loss, bigger, t)


def test_ciou_does_not_shrink_scaled_boxes_but_eiou_does():
    # Zhang §3.1.3: all boxes (k w_gt, k h_gt) have v = 0; EIoU's width/height terms do not vanish.
    t = _box(0, 0, 1, 1)
    p = _box(-0.5, -0.5, 1.5, 1.5)
    ciou_minus_diou = L.ciou_loss(p, t) - L.diou_loss(p, t)
    eiou_minus_diou = L.eiou_loss(p, t) - L.diou_loss(p, t)
    assert abs(float(ciou_minus_diou)) < 1e-12
    assert float(eiou_minus_diou) == pytest.approx(2 * (1 / 2) ** 2, rel=1e-6)


def test_focal_l1_gradient_is_eq_8():
    beta = 0.8
    alpha = math.e * beta
    x = torch.tensor([0.01, 0.2, 1 / (math.e * beta), 0.9, 1.5, 3.0], dtype=F64, requires_grad=True)
    pred = torch.cat([x[:, None], torch.zeros(6, 3, dtype=F64)], -1)
    L.focal_l1_loss(pred, torch.zeros_like(pred), beta=beta).sum().backward()
    expected = torch.where(x <= 1, -alpha * x * torch.log(beta * x), torch.full_like(x, -alpha * math.log(beta)))
    torch.testing.assert_close(x.grad, expected.detach())
    # Property 4: the gradient peaks at x* = 1/(eβ) with value 1
    assert float(x.grad[2]) == pytest.approx(1.0)
    near = torch.tensor([[1 - 1e-9, 0, 0, 0], [1 + 1e-9, 0, 0, 0]], dtype=F64)
    v = L.focal_l1_loss(near, torch.zeros_like(near), beta=beta)
    assert abs(float(v[0] - v[1])) < 1e-7  # continuity (the constant C)


def test_focal_eiou_is_iou_power_times_eiou_and_normalised_form():
    pred, target = generic_pairs(300, 5)
    iou = 1 - L.iou_loss(pred, target)
    e = L.eiou_loss(pred, target)
    torch.testing.assert_close(L.focal_eiou_loss(pred, target, gamma=0.5), iou.clamp(min=1e-7) ** 0.5 * e)
    torch.testing.assert_close(L.focal_eiou_loss(pred, target, gamma=0.0), e)
    w = iou.clamp(min=1e-7) ** 0.5
    torch.testing.assert_close(L.focal_eiou_loss_normalized(pred, target), (w * e).sum() / (w.sum() + 1e-7))
    # the reweighting favours high-IoU pairs: the weight ratio grows with IoU
    hi, lo = _box(0.05, 0, 1.05, 1), _box(0.6, 0, 1.6, 1)
    t = _box(0, 0, 1, 1)
    ratio = lambda p: float(L.focal_eiou_loss(p, t) / L.eiou_loss(p, t))  # noqa: E731
    assert ratio(hi) > ratio(lo)


def test_focal_eiou_detached_weight_changes_only_the_gradient():
    pred, target = generic_pairs(50, 6)
    a = pred.clone().requires_grad_()
    b = pred.clone().requires_grad_()
    la = L.focal_eiou_loss(a, target)
    lb = L.focal_eiou_loss(b, target, detach_weight=True)
    torch.testing.assert_close(la, lb)
    la.sum().backward()
    lb.sum().backward()
    assert not torch.allclose(a.grad, b.grad)


# --- Li et al.: QFL (Eq. 2), DFL (Eq. 6), integral (Eq. 5) -------------------------------------

@pytest.mark.parametrize("y", [0.0, 0.13, 0.5, 0.87, 1.0])
def test_qfl_minimum_is_at_sigma_equals_y(y):
    sigma = torch.linspace(1e-4, 1 - 1e-4, 20001, dtype=F64)
    logits = torch.logit(sigma)
    loss = L.quality_focal_loss(logits, torch.full_like(logits, y), beta=2.0)
    assert abs(float(sigma[loss.argmin()]) - y) < 2e-4
    # literal Eq. 2 on probabilities
    ref = -(y - sigma).abs() ** 2 * ((1 - y) * torch.log1p(-sigma) + y * torch.log(sigma))
    torch.testing.assert_close(loss, ref)


@pytest.mark.parametrize("y", [0.0, 2.3, 4.5, 6.99, 7.0])
def test_dfl_minimum_is_the_two_bin_split_that_integrates_to_y(y):
    n_bins = 8
    target = torch.tensor([y], dtype=F64)
    logits = torch.zeros(1, n_bins, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = L.distribution_focal_loss(logits, target).sum()
        loss.backward()
        return loss

    opt.step(closure)
    p = logits.detach().softmax(-1)[0]
    i = min(int(math.floor(y)), n_bins - 2)
    expected = torch.zeros(n_bins, dtype=F64)
    expected[i], expected[i + 1] = (i + 1) - y, y - i
    torch.testing.assert_close(p, expected, atol=2e-3, rtol=0)
    assert float(L.integral_decode(logits.detach())[0]) == pytest.approx(y, abs=2e-2)


def test_integral_decode_is_expectation():
    logits = torch.log(torch.tensor([[0.0, 0.25, 0.75, 0.0]], dtype=F64).clamp(min=1e-300))
    assert float(L.integral_decode(logits)) == pytest.approx(1.75)
