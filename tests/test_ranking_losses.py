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
