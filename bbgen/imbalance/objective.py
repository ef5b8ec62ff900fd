"""Objective imbalance monitor (thesis §3.5): per loss term, its value, weight and gradient norm.

Objective imbalance is one task's loss — or its gradient on the shared parameters — dominating the
others' (thesis §3.5; e.g. classification vs box regression). :func:`monitor_objectives` records,
every ``interval`` training steps, for each term k of the loss dict a detector returns
(torchvision: ``loss_classifier``, ``loss_box_reg``, ``loss_objectness``, ``loss_rpn_box_reg``):

* ``value``: L_k, the term as returned (before its weight);
* ``weight``: w_k (1 unless given), the factor the caller applies in ``Σ_k w_k L_k``;
* ``grad_norm``: ‖∂(w_k L_k)/∂θ_shared‖₂ over the shared parameters (default: ``model.backbone``, the
  backbone + FPN of torchvision's detectors), one ``torch.autograd.grad`` per term on the step's graph.

Under ``torch.distributed`` the values and norms of a measured step are averaged over the ranks
(one ``all_reduce``), so every rank holds the same record. Numbers only; the figure is
:func:`bbgen.plot.objective.plot_objective_shares`, the report section
:func:`bbgen.report.training_section.training_section`.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional, Union

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    import pandas

__all__ = ["ObjectiveMonitor", "ObjectiveRecord", "monitor_objectives", "objective_shares", "load_objective_log",
           "DEFAULT_INTERVAL"]

JSONDict = dict[str, Any]  # JSON-plain numbers
DEFAULT_INTERVAL = 200  # measured every 200th step: ~4 extra partial backward passes, <= 2 % of training time
_COLUMNS = ("step", "term", "value", "weight", "grad_norm")


@dataclass
class ObjectiveRecord:
    """Columnar record of the measured steps (one row per step and term) and the monitor's own cost.

    Parameters
    ----------
    interval : int
        every how many steps the monitor measures.
    world_size : int
        processes averaged over.
    num_shared_params : int
        scalars in the shared parameters.
    steps_seen : int
        training steps observed (measured or not).
    columns : dict[str, list]
        ``step``, ``term``, ``value``, ``weight``, ``grad_norm`` (lists of one length).
    cost : dict[str, list]
        ``step`` and ``seconds`` the monitor spent on each measured step.
    """

    interval: int
    world_size: int = 1
    num_shared_params: int = 0
    steps_seen: int = 0
    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in _COLUMNS})
    cost: dict[str, list] = field(default_factory=lambda: {"step": [], "seconds": []})

    @property
    def terms(self) -> list[str]:
        """Loss terms in order of first appearance."""
        return list(dict.fromkeys(self.columns["term"]))

    def to_dict(self) -> JSONDict:
        """JSON-plain dict (what :meth:`save` writes)."""
        return {"interval": self.interval, "world_size": self.world_size, "num_shared_params": self.num_shared_params,
                "steps_seen": self.steps_seen, "columns": self.columns, "cost": self.cost}

    def to_frame(self) -> "pandas.DataFrame":
        """The rows as a ``pandas.DataFrame`` (ImportError without pandas; :attr:`columns` has the same data)."""
        import pandas as pd

        return pd.DataFrame(self.columns)

    def save(self, path: Union[str, Path]) -> Path:
        """Write the record as JSON to ``path`` (read back with :func:`load_objective_log`).

        Parameters
        ----------
        path : str or Path
            the JSON file to write (parent folders are created).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), allow_nan=False))
        return path


def load_objective_log(path: Union[str, Path]) -> ObjectiveRecord:
    """Read a record written by :meth:`ObjectiveRecord.save`; ValueError naming ``path`` if malformed.

    Parameters
    ----------
    path : str or Path
        the JSON file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        rec = ObjectiveRecord(int(data["interval"]), int(data["world_size"]), int(data["num_shared_params"]),
                              int(data["steps_seen"]), {c: list(data["columns"][c]) for c in _COLUMNS},
                              {c: list(data["cost"][c]) for c in ("step", "seconds")})
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"training log {str(path)!r} is not an objective-monitor log ({exc})") from None
    if len({len(v) for v in rec.columns.values()}) > 1:
        raise ValueError(f"training log {str(path)!r}: columns of different lengths")
    return rec


def _shared_params(model: nn.Module, params: Optional[Iterable[Tensor]]) -> list[Tensor]:
    if params is None:
        inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        if not isinstance(getattr(inner, "backbone", None), nn.Module):
            raise TypeError(f"params must be given for a model without a .backbone, got {type(inner).__name__}")
        params = inner.backbone.parameters()
    if isinstance(params, Tensor):
        raise TypeError("params must be an iterable of parameters, got a single Tensor")
    out = [p for p in params if isinstance(p, Tensor) and p.requires_grad]
    if not out:
        raise ValueError("params must contain at least one tensor that requires grad, got none")
    return out


class ObjectiveMonitor:
    """Records loss values, weights and per-term gradient norms every ``interval`` steps.

    Call :meth:`observe` with each step's loss dict *before* ``backward`` (the graph must still be
    alive), or let :func:`monitor_objectives` do it from a forward hook.

    Parameters
    ----------
    model : nn.Module
        the detector (or a DDP wrapper around it); only used to find the default shared parameters.
    params : iterable of Tensor, optional
        shared parameters θ_shared; default ``model.backbone.parameters()`` that require grad.
    interval : int
        measure every ``interval``-th observed step (the first step is measured).
    weights : mapping of str to float, optional
        w_k per term (default 1).
    distributed : bool, optional
        average over ranks with ``all_reduce``; default: when ``torch.distributed`` is initialised.
    """

    def __init__(self, model: nn.Module, params: Optional[Iterable[Tensor]] = None, *,
                 interval: int = DEFAULT_INTERVAL, weights: Optional[Mapping[str, float]] = None,
                 distributed: Optional[bool] = None) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be a positive int, got {interval!r}")
        weights = dict(weights or {})
        bad = {k: w for k, w in weights.items()
               if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w)}
        if bad:
            raise ValueError(f"weights must be finite numbers, got {bad}")
        self.params = _shared_params(model, params)
        dist = torch.distributed
        if distributed is None:
            distributed = dist.is_available() and dist.is_initialized()
        self.distributed = bool(distributed)
        self.weights = {k: float(w) for k, w in weights.items()}
        self.record = ObjectiveRecord(interval, dist.get_world_size() if self.distributed else 1,
                                      sum(p.numel() for p in self.params))

    def observe(self, losses: Mapping[str, Tensor]) -> bool:
        """Count one step; on measured steps record every term. Returns whether this step was measured.

        Parameters
        ----------
        losses : mapping of str to Tensor[]
            the step's scalar loss terms, still attached to their graph.
        """
        rec = self.record
        step, rec.steps_seen = rec.steps_seen, rec.steps_seen + 1
        if step % rec.interval:
            return False
        t0 = time.perf_counter()
        names = list(losses)
        values, norms = [], []
        for name in names:
            loss = losses[name]
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise ValueError(f"losses[{name!r}] must be a scalar tensor, got {type(loss).__name__}")
            w = self.weights.get(name, 1.0)
            values.append(loss.detach().double().reshape(()))
            if loss.requires_grad:
                grads = torch.autograd.grad(w * loss, self.params, retain_graph=True, allow_unused=True)
                sq = [g.double().pow(2).sum() for g in grads if g is not None]
                norms.append(torch.stack(sq).sum().sqrt() if sq else values[-1].new_zeros(()))
            else:
                norms.append(values[-1].new_zeros(()))
        both = torch.stack(values + norms)
        if self.distributed:
            both = both.to(self.params[0].device)
            torch.distributed.all_reduce(both)
            both = both / torch.distributed.get_world_size()
        both = both.cpu().tolist()
        for k, name in enumerate(names):
            for col, v in zip(_COLUMNS, (step, name, both[k], self.weights.get(name, 1.0), both[len(names) + k])):
                rec.columns[col].append(v)
        rec.cost["step"].append(step)
        rec.cost["seconds"].append(time.perf_counter() - t0)
        return True


@contextmanager
def monitor_objectives(model: nn.Module, params: Optional[Iterable[Tensor]] = None, *,
                       interval: int = DEFAULT_INTERVAL, weights: Optional[Mapping[str, float]] = None,
                       distributed: Optional[bool] = None) -> Iterator[ObjectiveRecord]:
    """Monitor a detector's loss terms during training (thesis §3.5); yields the growing record.

    A forward hook on ``model`` passes every training-mode output that is a dict of tensors (the
    torchvision detectors' loss dict) to :meth:`ObjectiveMonitor.observe`; eval-mode outputs are
    ignored. The hook is removed on exit. Arguments as :class:`ObjectiveMonitor`.

    Parameters
    ----------
    model : nn.Module
        a torchvision detector (or a DDP wrapper around one), or any module returning a loss dict.
    params : iterable of Tensor, optional
        shared parameters; default ``model.backbone``'s.
    interval : int
        measure every ``interval``-th training forward (default :data:`DEFAULT_INTERVAL`).
    weights : mapping of str to float, optional
        w_k per term (default 1).
    distributed : bool, optional
        average over ranks (default: when ``torch.distributed`` is initialised).

    Examples
    --------
    >>> with monitor_objectives(model, interval=50) as rec:     # doctest: +SKIP
    ...     train(model)
    >>> rec.save("objective_log.json")                         # doctest: +SKIP
    """
    monitor = ObjectiveMonitor(model, params, interval=interval, weights=weights, distributed=distributed)

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        if module.training and isinstance(output, Mapping) and output \
                and all(isinstance(v, Tensor) for v in output.values()):
            monitor.observe(output)

    handle = model.register_forward_hook(hook)
    try:
        yield monitor.record
    finally:
        handle.remove()


def objective_shares(record: ObjectiveRecord) -> JSONDict:
    """Loss and gradient shares per measured step and their means (numbers for plots and reports).

    The loss share of term k is w_k L_k / Σ_j w_j L_j, its gradient share g_k / Σ_j g_j (g = gradient norm).

    Parameters
    ----------
    record : ObjectiveRecord
        a monitor's record.

    Returns
    -------
    dict
        ``steps`` [S]; ``terms``; ``loss_share`` and ``grad_share``: term -> [S]; ``mean_loss_share``,
        ``mean_grad_share``, ``mean_grad_norm``: term -> float; ``dominant_grad_term``; ``grad_norm_ratio``
        (largest / smallest mean gradient norm, None if one is 0).
    """
    cols, terms = record.columns, record.terms
    steps = sorted(set(cols["step"]))
    pos = {s: i for i, s in enumerate(steps)}
    table = {key: {t: [0.0] * len(steps) for t in terms} for key in ("loss", "grad")}
    for s, t, v, w, g in zip(*(cols[c] for c in _COLUMNS)):
        table["loss"][t][pos[s]] = w * v
        table["grad"][t][pos[s]] = g
    out: dict[str, Any] = {"steps": steps, "terms": terms}
    for key in ("loss", "grad"):
        totals = [sum(table[key][t][i] for t in terms) for i in range(len(steps))]
        share = {t: [x / tot if tot > 0 else 0.0 for x, tot in zip(table[key][t], totals)] for t in terms}
        out[f"{key}_share"] = share
        out[f"mean_{key}_share"] = {t: sum(v) / len(v) if v else 0.0 for t, v in share.items()}
    mean_norm = {t: sum(v) / len(v) if v else 0.0 for t, v in table["grad"].items()}
    out["mean_grad_norm"] = mean_norm
    out["dominant_grad_term"] = max(terms, key=lambda t: out["mean_grad_share"][t]) if terms else None
    lo = min(mean_norm.values(), default=0.0)
    out["grad_norm_ratio"] = max(mean_norm.values()) / lo if lo > 0 else None
    return out
