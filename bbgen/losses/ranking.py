"""Ranking-based classification losses with the Identity Update (thesis Ch. 6–8).

* :func:`ap_loss` — AP Loss with error-driven update (Chen et al.; thesis §6.1, §6.3, Eq. 6.2–6.16);
* :func:`alrp_loss` — aLRP Loss (thesis Ch. 7, Eq. 7.2–7.7), classification and localisation
  components, with :class:`SelfBalance` for the localisation weight (§7.3.2);
* :func:`rank_sort_loss` — Rank & Sort Loss (thesis Ch. 8, Eq. 8.2–8.8).

Each is a ``torch.autograd.Function`` whose backward returns the Identity-Update gradient
``∂L/∂s_i = (Σ_j L_ji − Σ_j L_ij) / Z`` (Eq. 6.24, primary terms Eq. 6.18, update Δx_ij = L_ij of
Eq. 6.23), not the derivative of the smoothed loss. Positives and negatives are batched: sums over
negatives bucket them between the positives' sorted window edges and use prefix sums (:mod:`.rank_sums`;
the N negatives are never sorted), so memory is O(P + N) for AP and aLRP and O(P·min(P, chunk) + N)
for RS (its sorting term needs positive pairs), never O(P·N). Negatives
more than δ below every positive are skipped, as in the authors' code (they get no error).

Conventions follow the authors' code (kemaloksuz/aLRPLoss ``ap_loss.py`` / ``alrp_loss.py``,
kemaloksuz/RankSortLoss ``ranking_losses.py``): ``logits`` and ``targets`` have any common shape
(flattened; e.g. ``[anchors, classes]``); AP/aLRP: target 1 = positive, 0 = negative, anything else
ignored; RS: target in (0, 1] = positive with that continuous label (e.g. IoU), 0 = negative,
negative values ignored. The gradient is divided by the number of positives. With no positive the
loss is 0 with zero gradient (the authors' code fails). Everything is computed in float64 on the
logits' device (RS's positive-pair block runs in float32 for float32/half logits); loss and gradient
come back in the logits' dtype, so **float64 logits give the exact float64 path** used by the tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch.autograd.function import FunctionCtx

import torch
from torch import Tensor

from .rank_sums import StepSums, smoothed_step, sums_above

__all__ = ["ap_loss", "alrp_loss", "rank_sort_loss", "APLossFunction", "ALRPLossFunction",
           "RankSortLossFunction", "ALRPLossOutput", "RankSortLossOutput", "SelfBalance"]

_CHUNK = 4_000_000  # positive pairs per block of the RS sorting term


def _check(logits: Any, targets: Any, delta: float) -> tuple[Tensor, Tensor]:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got {type(logits).__name__}"
                        + (f" of dtype {logits.dtype}" if isinstance(logits, Tensor) else ""))
    if not isinstance(targets, Tensor) or targets.shape != logits.shape:
        got = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"targets must be a tensor of the logits' shape {tuple(logits.shape)}, got {got}")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 <= delta < float("inf"):
        raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")
    s = logits.detach().reshape(-1).to(torch.float64)
    if not bool(torch.isfinite(s).all()):
        raise ValueError("logits hold NaN or inf")
    return s, targets.detach().reshape(-1).to(device=s.device, dtype=torch.float64)


def _self_h(delta: float) -> float:
    """H(0): the contribution of an example to its own rank (0.5 smoothed, 1 for the unit step)."""
    return float(smoothed_step(torch.zeros(()), delta))


class _IdentityUpdate(torch.autograd.Function):
    """Shared backward: the saved Identity-Update gradient times the incoming gradient of output 0."""

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor, *unused: Tensor) -> tuple:
        (g,) = ctx.saved_tensors
        return (g * grad_out,) + (None,) * ctx.num_extra_inputs


def _save(ctx: Any, logits: Tensor, grad: Tensor, num_extra_inputs: int) -> None:
    ctx.save_for_backward(grad.to(logits.dtype).reshape(logits.shape))
    ctx.num_extra_inputs = num_extra_inputs


# --------------------------------------------------------------------------------------------- AP Loss
def _ap_core(s: Tensor, t: Tensor, delta: float, variant: str) -> tuple[Tensor, Tensor]:
    pos, neg = t == 1, t == 0
    grad = torch.zeros_like(s)
    sp, sn = s[pos], s[neg]
    if len(sp) == 0:
        return s.new_zeros(()), grad
    sp, sn = sp - sp.mean(), sn - s[pos].mean()
    h0 = _self_h(delta)
    # rank⁺(i), rank(i) (Eq. 6.4, 6.6): the code counts i itself as 1, the thesis (Eq. 6.4 footnote) as H(0)
    rank_pos = StepSums(sp, delta).above(sp) + ((1.0 - h0) if variant == "code" else 0.0)
    n_fp = sums_above(sn, sp, delta)
    rank = rank_pos + n_fp
    prec = rank_pos / rank
    if variant == "code":  # interpolated AP, positives in ascending score order (authors' APLoss)
        order = torch.argsort(sp, stable=True)
        cur = prec[order]
        best = torch.cummax(cur, 0).values
        before = torch.cat([cur.new_zeros(1), best[:-1]])
        c_sorted = torch.where(before <= cur, 1.0 / rank[order], (1 - best) / (1 - cur) / rank[order])
        coef, used = torch.empty_like(cur), torch.empty_like(cur)
        coef[order], used[order] = c_sorted, best
    else:  # Eq. 6.2 without interpolation: L_ij = H(x_ij) / rank(i) (Eq. 6.13)
        coef, used = 1.0 / rank, prec
    p = len(sp)
    grad[pos] = -(1 - used) / p
    grad[neg] = StepSums(sp, delta, coef).below(sn) / p
    return 1 - used.mean(), grad


class APLossFunction(_IdentityUpdate):
    """AP Loss (thesis Eq. 6.2) with the error-driven / Identity Update (Eq. 6.16, 6.23).

    Parameters
    ----------
    logits, targets, delta, variant
        As :func:`ap_loss` (call ``APLossFunction.apply(logits, targets, delta, variant)``).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, logits: Tensor, targets: Tensor, delta: float = 1.0, variant: str = "code") -> Tensor:
        loss, grad = _ap_core(*_check(logits, targets, delta), float(delta), variant)
        _save(ctx, logits, grad, 3)
        return loss.to(logits.dtype)


def ap_loss(logits: Tensor, targets: Tensor, delta: float = 1.0, variant: str = "code") -> Tensor:
    """AP Loss ``1 − AP`` over positives (thesis Eq. 6.2) with its error-driven update.

    Parameters
    ----------
    logits : Tensor[...]
        Classification logits (any shape, flattened).
    targets : Tensor[...]
        Same shape: 1 positive, 0 negative, other values ignored.
    delta : float
        Smoothing δ of H (Eq. 6.5); 1.0 in the authors' code.
    variant : {"code", "paper"}
        ``"code"`` (authors' ``APLoss``): interpolated precision (running maximum over positives of
        lower score) and rank counting the example itself as 1. ``"paper"``: Eq. 6.2 as written,
        no interpolation, the example counted by H(0) (Eq. 6.4), primary terms Eq. 6.13.

    Returns
    -------
    Tensor[] scalar loss in the logits' dtype; its gradient is the update of Eq. 6.15/6.16.
    """
    if variant not in ("code", "paper"):
        raise ValueError(f"variant must be 'code' or 'paper', got {variant!r}")
    return APLossFunction.apply(logits, targets, delta, variant)


# ------------------------------------------------------------------------------------------- aLRP Loss
def _alrp_core(s: Tensor, t: Tensor, loc: Tensor, delta: float, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    pos, neg = t == 1, t == 0
    grad = torch.zeros_like(s)
    sp, sn = s[pos], s[neg]
    if len(sp) == 0:
        return s.new_zeros(()), grad, s.new_zeros(0)
    if loc.shape != sp.shape:
        raise ValueError(f"loc_losses must hold one value per positive, shape {tuple(sp.shape)}, "
                         f"got {tuple(loc.shape)}")
    sp, sn = sp - sp.mean(), sn - s[pos].mean()
    h0 = _self_h(delta)
    rank_pos = 1.0 + StepSums(sp, delta).above(sp) - h0  # 1 + Σ_{j∈P, j≠i} H(x_ij)
    loc_above = StepSums(sp, delta, loc).above(sp) - h0 * loc  # Σ_{k∈P, k≠i} E_loc(k) H(x_ik)
    n_fp = sums_above(sn, sp, delta)
    rank = rank_pos + n_fp
    has_fp = n_fp > eps
    # primary terms (Eq. 7.7): (N_FP(i) + Σ_k E_loc(k) H(x_ik)) / rank(i) · H(x_ij) / N_FP(i)
    err = torch.where(has_fp, (loc_above + n_fp) / rank, torch.zeros_like(rank))
    p = len(sp)
    grad[pos] = -err / p
    grad[neg] = StepSums(sp, delta, torch.where(has_fp, err / n_fp, torch.zeros_like(err))).below(sn) / p
    return (n_fp / rank).mean(), grad, rank  # L_cls = mean N_FP / rank (Eq. 7.4) = 1 − mean precision


class ALRPLossFunction(_IdentityUpdate):
    """Classification component of aLRP Loss (Eq. 7.4) with the update of Eq. 7.7; also returns rank(i).

    Parameters
    ----------
    logits, targets, loc_losses, delta, eps
        As :func:`alrp_loss` (``ALRPLossFunction.apply(...)`` returns ``(cls, rank [P])``).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, logits: Tensor, targets: Tensor, loc_losses: Tensor, delta: float = 1.0,
                eps: float = 1e-5) -> tuple[Tensor, Tensor]:
        s, t = _check(logits, targets, delta)
        loss, grad, rank = _alrp_core(s, t, loc_losses.detach().reshape(-1).to(s), float(delta), float(eps))
        _save(ctx, logits, grad, 4)
        ctx.mark_non_differentiable(rank)
        return loss.to(logits.dtype), rank.to(logits.dtype)


@dataclass(frozen=True)
class ALRPLossOutput:
    """aLRP Loss parts. ``total(w) = cls + w · loc`` with the self-balancing weight w (§7.3.2).

    Attributes
    ----------
    cls : Tensor[]
        Classification component (Eq. 7.4), gradient by Identity Update (Eq. 7.7).
    loc : Tensor[]
        Localisation component (Eq. 7.5), differentiable w.r.t. ``loc_losses``.
    rank : Tensor[P]
        rank(i) of every positive (detached).
    """

    cls: Tensor
    loc: Tensor
    rank: Tensor

    def total(self, loc_weight: float = 1.0) -> Tensor:
        return self.cls + loc_weight * self.loc


def alrp_loss(logits: Tensor, targets: Tensor, loc_losses: Tensor, delta: float = 1.0, eps: float = 1e-5,
              variant: str = "code") -> ALRPLossOutput:
    """aLRP Loss (thesis Eq. 7.2): the average LRP error of positives, split into cls + loc (Eq. 7.4–7.5).

    Parameters
    ----------
    logits : Tensor[...]
    targets : Tensor[...]
        1 positive, 0 negative, other values ignored.
    loc_losses : Tensor[P]
        E_loc of each positive in [0, 1], in the order positives appear in the flattened targets
        (the authors use ``1 − GIoU`` = GIoU Loss / 2 / (1 − τ) with τ = 0.5); gradients flow to it
        through the localisation component.
    delta : float
        Smoothing δ of H (1.0 in the authors' code).
    eps : float
        A positive with N_FP(i) <= eps gets no classification update (authors' code: 1e-5).
    variant : {"code", "paper"}
        Localisation component: ``"code"`` (authors' head) sums E_loc over the positives ranked at
        or above i by hard score order; ``"paper"`` uses E_loc(i) + Σ_{k≠i} E_loc(k) H(x_ik) (Eq. 7.5).
        Both divide by the smoothed rank(i) (detached).
    """
    if variant not in ("code", "paper"):
        raise ValueError(f"variant must be 'code' or 'paper', got {variant!r}")
    if not isinstance(loc_losses, Tensor):
        raise TypeError(f"loc_losses must be a tensor, got {type(loc_losses).__name__}")
    cls, rank = ALRPLossFunction.apply(logits, targets, loc_losses, delta, eps)
    pos = (targets.reshape(-1) == 1)
    if rank.numel() == 0:
        return ALRPLossOutput(cls, loc_losses.sum() * 0, rank)
    sp = logits.detach().reshape(-1)[pos]
    loc = loc_losses.reshape(-1)
    if variant == "code":
        order = torch.argsort(sp, descending=True, stable=True)
        loc_term = (torch.cumsum(loc[order], 0) / rank[order]).mean()
    else:
        h = smoothed_step(sp[None, :] - sp[:, None], float(delta)).to(loc.dtype)
        h.fill_diagonal_(1.0)
        loc_term = ((h @ loc) / rank.to(loc.dtype)).mean()
    return ALRPLossOutput(cls, loc_term, rank)


class SelfBalance:
    """Self-balancing weight of aLRP's localisation component (thesis §7.3.2, authors' head).

    ``weight`` multiplies the localisation loss; every ``period`` updates (one epoch in the paper)
    it becomes ``(mean L_loc + mean L_cls) / mean L_loc`` = mean L^aLRP / mean L_loc of that period.

    Parameters
    ----------
    period : int
        Iterations per update (the authors: 3665, one COCO epoch at batch 32).
    initial : float
        Weight before the first update (50 in the authors' code).
    """

    def __init__(self, period: int, initial: float = 50.0) -> None:
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ValueError(f"period must be a positive integer, got {period!r}")
        self.period, self.weight = period, float(initial)
        self._cls: list[float] = []
        self._loc: list[float] = []

    def update(self, output: ALRPLossOutput) -> float:
        """Record one iteration's components; returns the weight to use for this iteration."""
        self._cls.append(float(output.cls.detach()))
        self._loc.append(float(output.loc.detach()))
        if len(self._cls) == self.period:
            mean_loc = sum(self._loc) / self.period
            if mean_loc > 0:
                self.weight = (mean_loc + sum(self._cls) / self.period) / mean_loc
            self._cls.clear(), self._loc.clear()
        return self.weight


# -------------------------------------------------------------------------------------- Rank & Sort
def _rs_core(s: Tensor, t: Tensor, delta: float, eps: float, block_dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    pos = t > 0
    grad = torch.zeros_like(s)
    sp, y = s[pos], t[pos]
    p = len(sp)
    if p == 0:
        return s.new_zeros(()), s.new_zeros(()), grad
    neg = (t == 0) & (s >= sp.min() - delta)  # negatives below every positive's window get no error
    sn = s[neg] - sp.mean()
    sp = sp - sp.mean()
    n_fp = sums_above(sn, sp, delta)
    # positive pairs in blocks of rows, in the logits' precision (float64 in, float64 throughout)
    spb, yb = sp.to(block_dtype), y.to(block_dtype)
    inv_y = 1 - yb
    scale = 1 / (2 * delta) if delta > 0 else 1.0
    fg_grad = torch.zeros_like(spb)
    rank_pos, sort_err = torch.empty_like(spb), torch.empty_like(spb)
    step = max(1, _CHUNK // p)
    for a in range(0, p, step):
        b = min(p, a + step)
        if delta > 0:  # rel[i, j] = H(x_ij), j ∈ P, i itself included (H(0) = 0.5)
            rel = torch.clamp_(spb[None, :] * scale - (spb[a:b, None] * scale - 0.5), 0.0, 1.0)
        else:
            rel = (spb[None, :] >= spb[a:b, None]).to(block_dtype)
        rp = rel.sum(1)
        rank_pos[a:b] = rp
        target_rel = rel * (yb[None, :] >= yb[a:b, None])
        t_rank = target_rel.sum(1)
        current = (rel @ inv_y) / rp  # ℓ_S(i), Eq. 8.3
        target = (target_rel @ inv_y) / t_rank  # ℓ*_S(i), Eq. 8.4
        err = current - target
        sort_err[a:b] = err
        missorted = rel - target_rel  # H(x_ij)[y_j < y_i], exact zeros where y_j >= y_i
        denom = missorted.sum(1)  # normaliser of p_S(j|i) (Eq. 8.6)
        ok = denom > eps
        share = torch.where(ok, err / torch.where(ok, denom, 1), 0)
        fg_grad[a:b] -= torch.where(ok, err, 0)
        fg_grad += share @ missorted
    rank_pos, fg_grad = rank_pos.to(s.dtype), fg_grad.to(s.dtype)
    rank_err = n_fp / (rank_pos + n_fp)  # ℓ_R(i), Eq. 8.3
    has_fp = n_fp > eps
    fg_grad -= torch.where(has_fp, rank_err, 0)
    grad[pos] = fg_grad / p
    grad[neg] = StepSums(sp, delta, torch.where(has_fp, rank_err / n_fp, 0)).below(sn) / p
    return rank_err.mean(), sort_err.to(s.dtype).mean(), grad


class RankSortLossFunction(_IdentityUpdate):
    """RS Loss (Eq. 8.2) with Identity Update (Eq. 8.7–8.8); returns (total, ranking, sorting).

    Parameters
    ----------
    logits, targets, delta, eps
        As :func:`rank_sort_loss` (``RankSortLossFunction.apply(logits, targets, delta, eps)``).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, logits: Tensor, targets: Tensor, delta: float = 0.5,
                eps: float = 1e-10) -> tuple[Tensor, Tensor, Tensor]:
        s, t = _check(logits, targets, delta)
        if bool((t > 1).any()):
            raise ValueError(f"RS Loss targets must be <= 1 (continuous labels such as IoU), got {float(t.max())}")
        block = torch.float64 if logits.dtype == torch.float64 else torch.float32
        ranking, sorting, grad = _rs_core(s, t, float(delta), float(eps), block)
        _save(ctx, logits, grad, 3)
        parts = ranking.to(logits.dtype), sorting.to(logits.dtype)
        ctx.mark_non_differentiable(*parts)
        return (ranking + sorting).to(logits.dtype), *parts


@dataclass(frozen=True)
class RankSortLossOutput:
    """RS Loss value (differentiable) and its ranking and sorting parts (detached).

    Attributes
    ----------
    loss : Tensor[]
        Ranking + sorting error; backward gives the Identity Update of both (Eq. 8.7–8.8).
    ranking, sorting : Tensor[]
        Mean ranking error ℓ_R and sorting error ℓ_S − ℓ*_S over positives (Eq. 8.3–8.4).
    """

    loss: Tensor
    ranking: Tensor
    sorting: Tensor


def rank_sort_loss(logits: Tensor, targets: Tensor, delta: float = 0.5, eps: float = 1e-10) -> RankSortLossOutput:
    """Rank & Sort Loss (thesis Eq. 8.2–8.6) with its Identity-Update gradient (Eq. 8.7–8.8).

    Parameters
    ----------
    logits : Tensor[...]
    targets : Tensor[...]
        Same shape: continuous label in (0, 1] for positives (e.g. IoU with the ground truth),
        0 for negatives, < 0 ignored.
    delta : float
        δ_RS of H (0.5 in the thesis and the authors' code; 0 = unit step).
    eps : float
        A positive with N_FP(i) <= eps (or no mis-sorted positive) gets no ranking (sorting) update.

    Returns
    -------
    RankSortLossOutput
        ``loss`` = ranking + sorting error (backward gives the Identity Update of both),
        ``ranking`` and ``sorting`` detached.
    """
    loss, ranking, sorting = RankSortLossFunction.apply(logits, targets, delta, eps)
    return RankSortLossOutput(loss, ranking, sorting)
