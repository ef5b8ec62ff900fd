"""Benchmark of LRP evaluation and the ranking losses (issue 17).

Measures, in one process:

(a) :func:`bbgen.evaluation.evaluate_lrp` (reading the results list, matching, AP, oLRP) on a
    COCO-val-sized synthetic evaluation (5,000 images x 100 detections, 80 classes); baseline:
    pycocotools' ``evaluate + accumulate`` on the first ``--baseline-images`` images of the same data,
    against which bbgen runs on the same subset (ratio). Target: <= 30 s for the full size.
(b) :func:`bbgen.losses.ranking.rank_sort_loss` forward + backward, 1,000 positives x N negatives for
    growing N, at 1 and 2 torch threads; the growth exponent is the slope of log(time) on log(N)
    (1 = linear). Baseline: the loop form of the authors' ``RankSort.forward`` (one positive at a time,
    as kemaloksuz/RankSortLoss) at the smallest N. Targets: <= 100 ms at N = 100 k, slope ~ 1.

Prints a table and writes JSON (``--out``, default ``results/bench_lrp.json``).

Usage::

    .venv/bin/python analysis/bench_lrp.py [--quick] [--baseline-images N] [--out FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bbgen.evaluation import evaluate_lrp
from bbgen.evaluation.synthetic import synthetic_evaluation_data
from bbgen.losses.ranking import rank_sort_loss

TARGET_EVAL_S, TARGET_RS_MS = 30.0, 100.0


def _subset(gt: dict, dets: list, n_images: int) -> tuple[dict, list]:
    keep = {im["id"] for im in gt["images"][:n_images]}
    return ({"images": gt["images"][:n_images], "categories": gt["categories"],
             "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]},
            [d for d in dets if d["image_id"] in keep])


def _pycocotools_seconds(gt: dict, dets: list) -> float | None:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        res = c.loadRes(copy.deepcopy(dets))
        t0 = time.perf_counter()
        e = COCOeval(c, res, "bbox")
        e.evaluate()
        e.accumulate()
        return time.perf_counter() - t0


def bench_eval(n_images: int, baseline_images: int) -> dict:
    gt, dets = synthetic_evaluation_data(n_images, 100, 80, generator=0)
    t0 = time.perf_counter()
    r = evaluate_lrp(gt, dets, progress=True)
    full = time.perf_counter() - t0
    sub_gt, sub_dets = _subset(gt, dets, baseline_images)
    t0 = time.perf_counter()
    evaluate_lrp(sub_gt, sub_dets)
    ours_sub = time.perf_counter() - t0
    base = _pycocotools_seconds(sub_gt, sub_dets)
    return {"images": n_images, "detections": len(dets), "seconds": full, "target_s": TARGET_EVAL_S,
            "target_met": full <= TARGET_EVAL_S, "moLRP": r.stats["moLRP"], "AP": r.stats["AP"],
            "baseline_images": baseline_images, "bbgen_subset_s": ours_sub, "pycocotools_subset_s": base,
            "speedup_vs_pycocotools": None if base is None else base / ours_sub}


def _authors_rs_loop(logits: torch.Tensor, targets: torch.Tensor, delta: float = 0.5) -> torch.Tensor:
    """Baseline: the authors' RankSort.forward loop (one positive per iteration), gradient only."""
    fg = targets > 0
    fl, ft = logits[fg], targets[fg]
    bgm = (targets == 0) & (logits >= fl.min() - delta)
    bl = logits[bgm]
    bg_grad, fg_grad = torch.zeros_like(bl), torch.zeros_like(fl)
    for ii in torch.argsort(fl):
        fr = torch.clamp((fl - fl[ii]) / (2 * delta) + 0.5, 0, 1)
        br = torch.clamp((bl - fl[ii]) / (2 * delta) + 0.5, 0, 1)
        rank_pos, n_fp = fr.sum(), br.sum()
        r_err = n_fp / (rank_pos + n_fp)
        rel = ft >= ft[ii]
        tso = rel * fr
        s_err = (fr * (1 - ft)).sum() / rank_pos - (tso * (1 - ft)).sum() / tso.sum()
        if n_fp > 1e-10:
            fg_grad[ii] -= r_err
            bg_grad += br * (r_err / n_fp)
        mis = (~rel) * fr
        if mis.sum() > 1e-10:
            fg_grad[ii] -= s_err
            fg_grad += mis * (s_err / mis.sum())
    return fg_grad


def _time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_rs(sizes: list[int], threads: int, repeats: int, positives: int = 1000) -> dict:
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n in sizes:
        x = torch.randn(positives + n, generator=gen)
        t = torch.zeros(positives + n)
        t[:positives] = torch.rand(positives, generator=gen) * 0.9 + 0.1
        x.requires_grad_(True)

        def step():
            x.grad = None
            rank_sort_loss(x, t).loss.backward()

        rows.append({"negatives": n, "ms": 1e3 * _time(step, repeats)})
    slope = float(np.polyfit(np.log([r["negatives"] for r in rows]), np.log([r["ms"] for r in rows]), 1)[0])
    x = torch.randn(positives + sizes[0], generator=gen)
    t = torch.zeros(positives + sizes[0])
    t[:positives] = torch.rand(positives, generator=gen) * 0.9 + 0.1
    base_ms = 1e3 * _time(lambda: _authors_rs_loop(x, t), 1)
    at_100k = next((r["ms"] for r in rows if r["negatives"] == 100_000), None)
    return {"threads": threads, "positives": positives, "rows": rows, "growth_exponent": slope,
            "authors_loop_ms_at_smallest": base_ms, "speedup_vs_authors_loop": base_ms / rows[0]["ms"],
            "ms_at_100k": at_100k, "target_ms": TARGET_RS_MS,
            "target_met": None if at_100k is None else at_100k <= TARGET_RS_MS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--baseline-images", type=int, default=500,
                        help="images of the pycocotools comparison (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_lrp.json"))
    args = parser.parse_args(argv)
    if args.baseline_images < 1:
        parser.error(f"--baseline-images must be >= 1, got {args.baseline_images}")
    n_images = 200 if args.quick else 5000
    sizes = [3_000, 10_000, 30_000] if args.quick else [10_000, 30_000, 100_000, 300_000, 1_000_000]
    ev = bench_eval(n_images, min(args.baseline_images, n_images))
    print(f"(a) evaluate_lrp, {ev['images']} images x 100 dets: {ev['seconds']:.2f} s "
          f"(target <= {TARGET_EVAL_S:.0f} s: {'met' if ev['target_met'] else 'NOT met'})")
    if ev["pycocotools_subset_s"] is not None:
        print(f"    {ev['baseline_images']} images: bbgen {ev['bbgen_subset_s']:.2f} s, pycocotools evaluate+accumulate "
              f"{ev['pycocotools_subset_s']:.2f} s -> {ev['speedup_vs_pycocotools']:.1f}x")
    rs = [bench_rs(sizes, th, 2 if args.quick else 3) for th in (1, 2)]
    print("(b) RS Loss forward+backward, 1000 positives")
    print("    threads " + " ".join(f"{n:>10,}" for n in sizes) + "   slope  vs authors' loop")
    for r in rs:
        print(f"    {r['threads']:>7} " + " ".join(f"{row['ms']:>8.1f}ms" for row in r["rows"])
              + f"   {r['growth_exponent']:.2f}  {r['speedup_vs_authors_loop']:.0f}x at N={sizes[0]:,}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"quick": args.quick, "machine": platform.processor() or platform.machine(),
                   "torch": torch.__version__, "evaluation": ev, "rank_sort": rs}, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
