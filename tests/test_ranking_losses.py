"""Ranking-based losses (thesis Ch. 6–8): agreement with loop-form references that follow the authors'
code (kemaloksuz/aLRPLoss, kemaloksuz/RankSortLoss), Identity-Update properties, brute-force pairwise
gradients, finite differences where they must agree, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bbgen.losses.ranking import SelfBalance, alrp_loss, ap_loss, rank_sort_loss
from bbgen.losses.rank_sums import StepSums, smoothed_step


# ---------------------------------------------------------------- references: the authors' loops, float64
def _h(x, delta):
    return torch.clamp(x / (2 * delta) + 0.5, 0, 1) if delta > 0 else (x >= 0).double()


def ref_ap(logits, targets, delta=1.0):
    """Loop form of the authors' APLoss.forward (interpolated AP, error-driven update)."""
    g = torch.zeros_like(logits)
    fg = targets == 1
    fl = logits[fg]
    thr = fl.min() - delta
    bgm = (targets == 0) & (logits >= thr)
    bl = logits[bgm]
    bg_grad = torch.zeros_like(bl)
    fg_grad = torch.zeros_like(fl)
    prec = torch.zeros_like(fl)
    max_prec = 0.0
    for ii in torch.argsort(fl):
        fr = _h(fl - fl[ii], delta)
        fr[ii] = 0
        br = _h(bl - fl[ii], delta)
        rank_pos = 1 + fr.sum()
        rank = rank_pos + br.sum()
        cur = rank_pos / rank
        if max_prec <= cur:
            max_prec = cur
            bg_grad += br / rank
        else:
            bg_grad += br / rank * ((1 - max_prec) / (1 - cur))
        fg_grad[ii] = -(1 - max_prec)
        prec[ii] = max_prec
    g[fg], g[bgm] = fg_grad, bg_grad
    return 1 - prec.mean(), g / len(fl)


def ref_alrp(logits, targets, loc, delta=1.0, eps=1e-5):
    """Loop form of the authors' aLRPLoss.forward and the head's localisation component."""
    g = torch.zeros_like(logits)
    fg = targets == 1
    fl = logits[fg]
    bgm = (targets == 0) & (logits >= fl.min() - delta)
    bl = logits[bgm]
    bg_grad, fg_grad = torch.zeros_like(bl), torch.zeros_like(fl)
    rank, prec = torch.zeros_like(fl), torch.zeros_like(fl)
    order = torch.argsort(fl)
    for ii in order:
        fr = _h(fl - fl[ii], delta)
        fr[ii] = 0
        br = _h(bl - fl[ii], delta)
        rank_pos, n_fp = 1 + fr.sum(), br.sum()
        rank[ii] = rank_pos + n_fp
        prec[ii] = rank_pos / rank[ii]
        if n_fp > eps:
            fg_grad[ii] = -((fr * loc).sum() + n_fp) / rank[ii]
            bg_grad += br * (-fg_grad[ii] / n_fp)
    g[fg], g[bgm] = fg_grad, bg_grad
    loc_term = (torch.cumsum(loc[order].flip(0), 0) / rank[order].flip(0)).mean()
    return 1 - prec.mean(), g / len(fl), loc_term


def ref_rs(logits, targets, delta=0.5, eps=1e-10):
    """Loop form of the authors' RankSort.forward; returns ranking, sorting and the gradient."""
    g = torch.zeros_like(logits)
    fg = targets > 0
    fl, ft = logits[fg], targets[fg]
    bgm = (targets == 0) & (logits >= fl.min() - delta)
    bl = logits[bgm]
    bg_grad, fg_grad = torch.zeros_like(bl), torch.zeros_like(fl)
    r_err, s_err = torch.zeros_like(fl), torch.zeros_like(fl)
    for ii in torch.argsort(fl):
        fr, br = _h(fl - fl[ii], delta), _h(bl - fl[ii], delta)
        rank_pos, n_fp = fr.sum(), br.sum()
        r_err[ii] = n_fp / (rank_pos + n_fp)
        cur = (fr * (1 - ft)).sum() / rank_pos
        rel = ft >= ft[ii]
        tso = rel * fr
        s_err[ii] = cur - (tso * (1 - ft)).sum() / tso.sum()
        if n_fp > eps:
            fg_grad[ii] -= r_err[ii]
            bg_grad += br * (r_err[ii] / n_fp)
        mis = (~rel) * fr
        if mis.sum() > eps:
            fg_grad[ii] -= s_err[ii]
            fg_grad += mis * (s_err[ii] / mis.sum())
    g[fg], g[bgm] = fg_grad, bg_grad
    return r_err.mean(), s_err.mean(), g / len(fl)


def _data(seed, n=60, p=12, soft=False, ignored=3):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, generator=gen, dtype=torch.float64) * 1.5
    targets = torch.zeros(n, dtype=torch.float64)
    idx = torch.randperm(n, generator=gen)
    targets[idx[:p]] = torch.rand(p, generator=gen, dtype=torch.float64) * 0.9 + 0.1 if soft else 1.0
    targets[idx[p:p + ignored]] = -1.0
    return logits, targets


def _grad(loss_fn, logits, *args, **kw):
    x = logits.clone().requires_grad_(True)
    out = loss_fn(x, *args, **kw)
    value = out if isinstance(out, torch.Tensor) else getattr(out, "loss", None)
    if value is None:
        value = out.cls
    value.backward()
    return value.detach(), x.grad


# ------------------------------------------------------------------------------------------ the authors' code
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("delta", [1.0, 0.25])
def test_ap_loss_matches_authors_code(seed, delta):
    logits, targets = _data(seed)
    ref_loss, ref_g = ref_ap(logits, targets, delta)
    loss, g = _grad(ap_loss, logits, targets, delta)
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=1e-12)
    torch.testing.assert_close(g, ref_g, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_alrp_loss_matches_authors_code(seed):
    logits, targets = _data(seed, n=80, p=15)
    loc = torch.rand(15, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ref_cls, ref_g, ref_loc = ref_alrp(logits, targets, loc)
    x = logits.clone().requires_grad_(True)
    out = alrp_loss(x, targets, loc)
    out.cls.backward()
    torch.testing.assert_close(out.cls.detach(), ref_cls, rtol=0, atol=1e-12)
    torch.testing.assert_close(x.grad, ref_g, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.loc, ref_loc, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("delta", [0.5, 0.1, 0.0])
def test_rank_sort_loss_matches_authors_code(seed, delta):
    logits, targets = _data(seed, n=70, p=14, soft=True)
    r, s, ref_g = ref_rs(logits, targets, delta)
    x = logits.clone().requires_grad_(True)
    out = rank_sort_loss(x, targets, delta)
    out.loss.backward()
    torch.testing.assert_close(out.ranking, r, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.sorting, s, rtol=0, atol=1e-12)
    torch.testing.assert_close(x.grad, ref_g, rtol=0, atol=1e-12)


# -------------------------------------------------------------------------------- Identity Update properties
@pytest.mark.parametrize("name", ["ap", "ap_paper", "alrp", "rs"])
@pytest.mark.parametrize("seed", range(3))
def test_theorem_2_balanced_gradients(name, seed):
    """Thesis Theorem 2 (Eq. 6.35) and Eq. 6.37: positives' and negatives' gradients balance."""
    logits, targets = _data(seed, n=90, p=10, soft=name == "rs")
    x = logits.clone().requires_grad_(True)
    if name == "rs":
        rank_sort_loss(x, targets).loss.backward()
    elif name == "alrp":
        alrp_loss(x, targets, torch.rand(10, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
                  ).cls.backward()
    else:
        ap_loss(x, targets, variant="code" if name == "ap" else "paper").backward()
    g = x.grad
    pos, neg = targets > 0, targets == 0
    assert float(g[pos].sum()) < -1e-6  # something to balance
    torch.testing.assert_close(g[pos].sum(), -g[neg].sum(), rtol=1e-12, atol=1e-12)
    assert bool((g[targets < 0] == 0).all())  # ignored examples get nothing
    if name != "rs":  # errors only on positives, primary terms only towards negatives: Eq. 6.37
        torch.testing.assert_close(g[pos].abs().sum(), g[neg].abs().sum(), rtol=1e-12, atol=1e-12)


def test_rs_zero_when_ranked_and_sorted():
    """RS Loss is 0 with zero gradient when positives are above all negatives (by more than δ) and
    sorted by their labels (thesis §8.3)."""
    y = torch.tensor([0.9, 0.7, 0.5, 0.3], dtype=torch.float64)
    logits = torch.cat([torch.tensor([4.0, 3.0, 2.0, 1.5], dtype=torch.float64), torch.linspace(-3, 0.4, 50,
                                                                                               dtype=torch.float64)])
    targets = torch.cat([y, torch.zeros(50, dtype=torch.float64)])
    loss, g = _grad(rank_sort_loss, logits, targets)
    assert float(loss) == pytest.approx(0.0, abs=1e-15) and float(g.abs().max()) == 0.0
    # swap two positives' scores: sorting error appears, ranking error does not
    out = rank_sort_loss(logits[[1, 0, 2, 3] + list(range(4, 54))], targets)
    assert float(out.ranking) == 0.0 and float(out.sorting) > 0.01


def _primary_terms_rs(logits, targets, delta):
    """Brute force: the full (P ∪ N)² matrix of RS primary terms L_ij (Eq. 8.5–8.6) and Eq. 6.24."""
    n = len(logits)
    h = _h(logits[None, :] - logits[:, None], delta)  # h[i, j] = H(x_ij) = H(s_j - s_i)
    pos, neg = targets > 0, targets == 0
    y = targets
    big = torch.zeros(n, n, dtype=torch.float64)
    for i in torch.nonzero(pos).flatten().tolist():
        n_fp = (h[i] * neg).sum()
        rank_pos = (h[i] * pos).sum()
        l_r = n_fp / (rank_pos + n_fp)
        cur = (h[i] * pos * (1 - y)).sum() / rank_pos
        ge = pos & (y >= y[i])
        target = (h[i] * ge * (1 - y)).sum() / (h[i] * ge).sum()
        if n_fp > 1e-10:
            big[i] += l_r * h[i] * neg / n_fp
        mis = h[i] * pos * (y < y[i])
        if mis.sum() > 1e-10:
            big[i] += (cur - target) * mis / mis.sum()
    return (big.sum(0) - big.sum(1)) / int(pos.sum())


@given(seed=st.integers(0, 10_000), delta=st.sampled_from([0.5, 0.2, 1.0]))
@settings(max_examples=25, deadline=None)
def test_rs_gradient_equals_brute_force_primary_terms(seed, delta):
    logits, targets = _data(seed, n=40, p=9, soft=True)
    _, g = _grad(rank_sort_loss, logits, targets, delta)
    torch.testing.assert_close(g, _primary_terms_rs(logits, targets, delta), rtol=0, atol=1e-12)


@given(seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_ap_paper_gradient_equals_brute_force_primary_terms(seed):
    """AP Loss primary terms L_ij = H(x_ij) / rank(i) (Eq. 6.13), rank with H(0) for i itself (Eq. 6.4)."""
    logits, targets = _data(seed, n=40, p=7)
    h = _h(logits[None, :] - logits[:, None], 1.0)
    pos, neg = targets == 1, targets == 0
    rank = (h * (pos | neg)[None, :]).sum(1)
    big = torch.where(pos[:, None] & neg[None, :], h / rank[:, None], torch.zeros_like(h))
    expected = (big.sum(0) - big.sum(1)) / int(pos.sum())
    loss, g = _grad(ap_loss, logits, targets, variant="paper")
    torch.testing.assert_close(g, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(loss, big.sum() / int(pos.sum()), rtol=0, atol=1e-12)  # Theorem 1


# ------------------------------------------------------------------------------------ finite differences
def test_alrp_localisation_gradient_matches_finite_differences():
    """L_loc (Eq. 7.5) is differentiable in E_loc (§7.3.1): autograd equals finite differences, both variants."""
    logits, targets = _data(5, n=50, p=8)
    loc = torch.rand(8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    for variant in ("code", "paper"):
        assert torch.autograd.gradcheck(lambda e: alrp_loss(logits, targets, e, variant=variant).loc, (loc,))


@pytest.mark.parametrize("name", ["ap", "ap_paper", "alrp", "rs"])
def test_identity_update_is_a_descent_direction_of_the_smoothed_loss(name):
    """The update is not the derivative of the smoothed loss (thesis §6.1: primary terms are not
    differentiable in x_ij), but a small step against it lowers the smoothed loss."""
    for seed in range(5):
        logits, targets = _data(seed, n=60, p=10, soft=name == "rs")
        loc = torch.rand(10, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))

        def value(x):
            if name == "rs":
                return rank_sort_loss(x, targets).loss
            if name == "alrp":
                return alrp_loss(x, targets, loc).total()
            return ap_loss(x, targets, variant="code" if name == "ap" else "paper")

        x = logits.clone().requires_grad_(True)
        before = value(x)
        before.backward()
        after = value(logits - 1e-3 * x.grad / x.grad.norm())
        assert float(after) < float(before.detach())


# ---------------------------------------------------------------------------------------- the sums kernel
@given(seed=st.integers(0, 10_000), delta=st.sampled_from([0.0, 0.3, 1.0]), n=st.integers(1, 60))
@settings(max_examples=40, deadline=None)
def test_step_sums_equal_dense_sums(seed, delta, n):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(n, generator=gen, dtype=torch.float64).round(decimals=1)  # ties and window edges
    w = torch.rand(n, generator=gen, dtype=torch.float64)
    q = torch.cat([torch.randn(30, generator=gen, dtype=torch.float64), keys, keys + delta, keys - delta])
    sums = StepSums(keys, delta, w)
    above = (smoothed_step(keys[None, :] - q[:, None], delta) * w).sum(1)
    below = (smoothed_step(q[:, None] - keys[None, :], delta) * w).sum(1)
    torch.testing.assert_close(sums.above(q), above, rtol=0, atol=1e-12)
    torch.testing.assert_close(sums.below(q), below, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------- dtypes, edges
def test_float32_in_float32_out_and_shape_kept():
    logits, targets = _data(0, n=60, p=10, soft=True)
    x = logits.float().reshape(6, 10).requires_grad_(True)
    out = rank_sort_loss(x, targets.float().reshape(6, 10))
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and x.grad.dtype == torch.float32 and x.grad.shape == (6, 10)
    _, g64 = _grad(rank_sort_loss, logits, targets)
    torch.testing.assert_close(x.grad.reshape(-1).double(), g64, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fn", [ap_loss, lambda x, t: rank_sort_loss(x, t).loss,
                                lambda x, t: alrp_loss(x, t, torch.zeros(0)).cls])
def test_no_positive_gives_zero_loss_and_gradient(fn):
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    loss = fn(x, torch.zeros(20, dtype=torch.float64))
    loss.backward()
    assert float(loss.detach()) == 0.0 and float(x.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("call,match", [
    (lambda: ap_loss(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 0.0])), "NaN"),
    (lambda: ap_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0])), "targets must be a tensor"),
    (lambda: ap_loss(torch.tensor([1, 2]), torch.tensor([1, 0])), "floating-point"),
    (lambda: ap_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]), delta=-1), "delta"),
    (lambda: ap_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]), variant="x"), "variant"),
    (lambda: rank_sort_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 0.0])), "<= 1"),
    (lambda: alrp_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]), torch.zeros(3)), "one value per positive"),
    (lambda: SelfBalance(0), "period"),
])
def test_bad_input_raises(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_self_balance_weight_is_total_over_localisation():
    sb = SelfBalance(period=2, initial=50.0)
    out = alrp_loss(torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 1.0, 0.0]),
                    torch.tensor([0.2, 0.4], dtype=torch.float64))
    assert sb.update(out) == 50.0
    w = sb.update(out)
    assert w == pytest.approx(float(out.total()) / float(out.loc))


def test_alrp_paper_localisation_equals_eq_7_5():
    """variant="paper": L_loc = mean_i (E_loc(i) + Σ_{k≠i} E_loc(k) H(x_ik)) / rank(i) (Eq. 7.5)."""
    logits, targets = _data(7, n=50, p=9)
    loc = torch.rand(9, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = alrp_loss(logits, targets, loc, variant="paper")
    sp = logits[targets == 1]
    expected = 0.0
    for i in range(9):
        others = sum(float(loc[k] * _h(sp[k] - sp[i], 1.0)) for k in range(9) if k != i)
        expected += (float(loc[i]) + others) / float(out.rank[i])
    assert float(out.loc) == pytest.approx(expected / 9, rel=1e-12)
    _, _, ref_loc = ref_alrp(logits, targets, loc)  # the code variant differs once scores are within δ
    assert float(alrp_loss(logits, targets, loc).loc) == pytest.approx(float(ref_loc), rel=1e-12)


@given(seed=st.integers(0, 10_000), delta=st.sampled_from([0.0, 0.3, 1.0]), n=st.integers(0, 60))
@settings(max_examples=40, deadline=None)
def test_sums_above_equals_dense_sums(seed, delta, n):
    from bbgen.losses.rank_sums import sums_above

    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(n, generator=gen, dtype=torch.float64).round(decimals=1)
    q = torch.randn(12, generator=gen, dtype=torch.float64).round(decimals=1)  # ties with keys and windows
    q = torch.cat([q, keys[:5], keys[:5] + delta, keys[:5] - delta])
    w = torch.rand(n, generator=gen, dtype=torch.float64)
    dense = (smoothed_step(keys[None, :] - q[:, None], delta) * w).sum(1)
    torch.testing.assert_close(sums_above(keys, q, delta, w), dense, rtol=0, atol=1e-12)
