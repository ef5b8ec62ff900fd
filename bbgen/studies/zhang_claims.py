"""Zhang et al.'s statements about their simulations (§5.3, Fig. 7 and 8) checked against a run of
:func:`bbgen.studies.zhang_regression.run_setup`, and the claim tables of the README.

Each statement is tested with a named statistic: "converges faster" is a lower mean of E(t)/E(0) over
t = 0..T, "lower regression error" a lower E(T), "more high-quality boxes" a larger share of pairs with
IoU ≥ 0.9 at T. Focal-EIoU is checked twice: Eq. 10 differentiated as written, and with ``IoU^γ``
held constant (:data:`~bbgen.studies.zhang_regression.FOCAL_VARIANTS`).
"""
from __future__ import annotations

from typing import Sequence

from .claims import Claim
from .zhang_regression import FOCAL_VARIANTS, LOSSES, PAPER_LOSSES, READINGS, SetupResult

__all__ = ["check_claims", "claim_rows", "claims_markdown", "ratios_markdown"]

_OTHERS = ("IoU", "GIoU", "CIoU")


def _fmt(values: dict[str, float], names: Sequence[str]) -> str:
    return ", ".join(f"{n}={values[n]:.4g}" for n in names)


def check_claims(res: SetupResult, focal: str = "Focal-EIoU") -> list[Claim]:
    """Zhang et al.'s statements about Fig. 7 (setup 1) or Fig. 8 (setup 2), tested on ``res``.

    Parameters
    ----------
    res : SetupResult
        A run holding IoU, GIoU, CIoU, EIoU and ``focal``.
    focal : str
        Which variant stands for the paper's Focal-EIoU (a member of ``FOCAL_VARIANTS``).
    """
    if focal not in FOCAL_VARIANTS:
        raise ValueError(f"focal must be one of {FOCAL_VARIANTS}, got {focal!r}")
    names = [*PAPER_LOSSES[:-1], focal]
    missing = [n for n in names if n not in res.error]
    if missing:
        raise ValueError(f"res lacks the losses {missing}")
    final = {n: res.error[n][-1] for n in names}
    auc = {n: res.mean_ratio(n) for n in names}
    last = {n: res.iou_stats[n][-1] for n in names}
    share = {n: last[n]["frac_ge_0.9"] for n in names}
    if res.setup == 1:
        return [
            Claim("Fig. 7a", "EIoU converges faster than IoU, GIoU and CIoU",
                  all(auc["EIoU"] < auc[o] for o in _OTHERS), f"mean E(t)/E(0): {_fmt(auc, names[:4])}"),
            Claim("Fig. 7a", "EIoU reaches a lower regression error than IoU, GIoU and CIoU",
                  all(final["EIoU"] < final[o] for o in _OTHERS),
                  "E(T)/E(0): " + _fmt({n: res.final_ratio(n) for n in names}, names[:4])),
            Claim("Fig. 7a", "Focal-EIoU's regression error is larger than EIoU's", final[focal] > final["EIoU"],
                  f"E(T)/E(0): Focal={res.final_ratio(focal):.4g}, EIoU={res.final_ratio('EIoU'):.4g}"),
            Claim("Fig. 7b", "Focal-EIoU has the most high-quality boxes (IoU >= 0.9) of the five",
                  max(names, key=share.get) == focal, f"share IoU>=0.9 at T: {_fmt(share, names)}"),
        ]
    early = {n: res.iou_stats[n][1]["q75"] for n in names}  # first snapshot after t = 0
    return [
        Claim("Fig. 8a", "Focal-EIoU converges fastest of the five", min(names, key=auc.get) == focal,
              f"mean E(t)/E(0): {_fmt(auc, names)}"),
        Claim("Fig. 8a", "Focal-EIoU reaches the lowest regression error", min(names, key=final.get) == focal,
              "E(T)/E(0): " + _fmt({n: res.final_ratio(n) for n in names}, names)),
        Claim("Fig. 8b", f"Focal-EIoU improves high-quality boxes fastest (75th-percentile IoU at "
                         f"t={res.snapshots[1]})", max(names, key=early.get) == focal, f"q75: {_fmt(early, names)}"),
        Claim("Fig. 8b", "Focal-EIoU has a longer low-IoU tail than EIoU (5th percentile at T)",
              last[focal]["q05"] < last["EIoU"]["q05"],
              f"q05: Focal={last[focal]['q05']:.4g}, EIoU={last['EIoU']['q05']:.4g}"),
        Claim("Fig. 8b", "Focal-EIoU's mean IoU is higher than EIoU's", last[focal]["mean"] > last["EIoU"]["mean"],
              f"mean IoU: Focal={last[focal]['mean']:.4g}, EIoU={last['EIoU']['mean']:.4g}"),
    ]


def claim_rows(results: Sequence[SetupResult]) -> list[dict]:
    """Every claim of every run, for both Focal-EIoU variants, as flat rows (JSON / tables).

    Parameters
    ----------
    results : sequence of SetupResult
        Runs holding every loss of :data:`~bbgen.studies.zhang_regression.LOSSES`.
    """
    rows = []
    for res in results:
        for focal in FOCAL_VARIANTS:
            for c in check_claims(res, focal):
                rows.append(dict(setup=res.setup, reading=res.reading, param=res.param, step=res.step,
                                 focal=focal, **c.to_dict()))
    return rows


def _run_key(res: SetupResult) -> str:
    non_converging = "" if READINGS[res.reading].converges else " (non-converging)"
    return f"{res.reading}{non_converging} {res.param}" + ("" if res.step == "alg1" else f" ({res.step} step)")


def claims_markdown(results: Sequence[SetupResult]) -> str:
    """A markdown table: one row per claim, one column per (reading, parameterisation) run; a cell reads
    ``yes``/``no``, or ``Eq. 10 verdict / constant-weight verdict`` when the two Focal-EIoU variants differ.

    Parameters
    ----------
    results : sequence of SetupResult
        Runs of one or both set-ups.
    """
    keys = list(dict.fromkeys(_run_key(r) for r in results))
    table: dict[tuple[str, str], dict[str, list[str]]] = {}
    for res in results:
        for focal in FOCAL_VARIANTS:
            for c in check_claims(res, focal):
                verdicts = table.setdefault((c.figure, c.statement), {}).setdefault(_run_key(res), [])
                verdicts.append("yes" if c.agrees else "no")
    lines = ["| claim | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for (figure, statement), by_run in table.items():
        cells = [_cell(by_run.get(k, [])) for k in keys]
        lines.append(f"| {figure}: {statement} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(verdicts: list[str]) -> str:
    if not verdicts:
        return "–"
    return verdicts[0] if len(set(verdicts)) == 1 else " / ".join(verdicts)


def ratios_markdown(results: Sequence[SetupResult]) -> str:
    """A markdown table of E(T)/E(0) (and, in brackets, the mean of E(t)/E(0)) per loss and run, with the
    share of disjoint starts and of pairs with IoU ≥ 0.9 at T.

    Parameters
    ----------
    results : sequence of SetupResult
        Runs holding the losses of :data:`~bbgen.studies.zhang_regression.LOSSES`.
    """
    names = [n for n in LOSSES if all(n in r.error for r in results)]
    head = ["setup", "reading", "param", "disjoint at t=0", *names, "share IoU≥0.9 at T (EIoU / Focal / const.)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        ratios = [f"{r.final_ratio(n):.4f} ({r.mean_ratio(n):.3f})" for n in names]
        share = " / ".join(f"{r.iou_stats[n][-1]['frac_ge_0.9']:.3f}" for n in ("EIoU", *FOCAL_VARIANTS)
                           if n in r.iou_stats)
        reading = r.reading + ("" if r.step == "alg1" else f" ({r.step} step)")
        lines.append(f"| {r.setup} | {reading} | {r.param} | {r.disjoint_share:.3f} | " + " | ".join(ratios)
                     + f" | {share} |")
    return "\n".join(lines)
