"""Benchmark of the data-side imbalance profiler (issue 5) on real annotations and on 1 M boxes.

For each dataset it measures, in one process:

* ``load``: reading the annotation file (or drawing the synthetic dataset);
* ``profile``: :func:`bbgen.imbalance.profile_dataset` (class, batch, scale, location), with a
  per-profiler breakdown;
* baseline: the same per-box work done one box at a time (the library's ``fpn_level`` /
  ``size_category`` on single boxes plus Python dict counting), timed on a subset of boxes and
  extrapolated per box; the table shows the vectorised speed-up against it.

Targets on this machine: load + profile <= 5 s for a real annotation file and <= 30 s for a
1 M-box synthetic dataset. Datasets: TACO (original COCO json) and COCO val2017 (assembled from
the torchcv list + official image sizes) from ``../shared/data`` when present, and synthetic data.

Usage::

    .venv/bin/python analysis/bench_profile.py [--quick] [--repeat N] [--out results/bench_profile.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from bbgen.datasets import Annotations, load, synthetic, write_coco_from_torchcv
from bbgen.imbalance import (batch_class_profile, class_profile, fpn_level, location_profile, profile_dataset,
                             scale_profile, size_category)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET_REAL_S = 5.0
TARGET_SYNTHETIC_S = 30.0
BASELINE_SUBSET = 20_000
BASELINE_SUBSET_QUICK = 2_000


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Fastest wall time of ``repeat`` calls of ``fn`` and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def per_box_baseline(ann: Annotations, limit: int) -> tuple[float, int]:
    """Seconds per box of a one-box-at-a-time loop over the first ``limit`` boxes, and boxes timed."""
    m = min(ann.num_boxes, limit)
    boxes, labels, img, sizes = ann.boxes[:m], ann.labels[:m].tolist(), ann.box_image[:m].tolist(), ann.image_sizes
    t0 = time.perf_counter()
    per_class: dict[int, int] = {}
    per_image: dict[int, int] = {}
    levels: dict[int, int] = {}
    bands: dict[int, int] = {}
    cells: dict[tuple[int, int], int] = {}
    for b, c, i in zip(boxes, labels, img):
        per_class[c] = per_class.get(c, 0) + 1
        per_image[i] = per_image.get(i, 0) + 1
        k = int(fpn_level(b))
        levels[k] = levels.get(k, 0) + 1
        s = int(size_category(b))
        bands[s] = bands.get(s, 0) + 1
        w, h = sizes[i]
        cell = (min(int((b[0] + b[2]) / 2 / w * 32), 31), min(int((b[1] + b[3]) / 2 / h * 32), 31))
        cells[cell] = cells.get(cell, 0) + 1
    return (time.perf_counter() - t0) / max(m, 1), m


def stage_times(ann: Annotations, repeat: int) -> dict[str, float]:
    stages = {"classes": lambda: class_profile(ann), "batch": lambda: batch_class_profile(ann),
              "scale": lambda: scale_profile(ann), "location": lambda: location_profile(ann)}
    return {k: best_time(fn, repeat)[0] for k, fn in stages.items()}


def bench_dataset(name: str, loader: Callable[[], Annotations], target: float, repeat: int,
                  subset: int = BASELINE_SUBSET) -> dict:
    load_s, ann = best_time(loader, repeat)
    profile_s, _ = best_time(lambda: profile_dataset(ann), repeat)
    per_box, timed = per_box_baseline(ann, subset)
    baseline_s = per_box * ann.num_boxes
    total = load_s + profile_s
    return {"dataset": name, "images": ann.num_images, "boxes": ann.num_boxes, "load_s": load_s,
            "profile_s": profile_s, "total_s": total, "stages_s": stage_times(ann, repeat), "target_s": target,
            "target_met": bool(total <= target), "baseline_s_extrapolated": baseline_s,
            "baseline_boxes_timed": timed, "speedup_vs_baseline": baseline_s / profile_s}


def datasets(quick: bool, tmp: Path) -> list[tuple[str, Callable[[], Annotations], float]]:
    out = []
    taco = SHARED / "taco" / "annotations.json"
    if taco.is_file():
        out.append(("TACO (COCO json)", lambda: load(taco), TARGET_REAL_S))
    coco = SHARED / "coco2017_val_torchcv"
    if not quick and coco.is_dir():
        path = write_coco_from_torchcv(coco / "coco17_val.txt", coco / "image_sizes.json", coco / "labels.txt",
                                       tmp / "instances_val2017.json")
        out.append(("COCO val2017 (json)", lambda: load(path), TARGET_REAL_S))
    images = 2_740 if quick else 137_000  # ~7.3 boxes per image: ~20 k / ~1 M boxes
    out.append((f"synthetic {images} images", lambda: synthetic(images, generator=0), TARGET_SYNTHETIC_S))
    return out


def print_table(rows: list[dict]) -> None:
    head = (f"{'dataset':<26}{'boxes':>10}{'load s':>9}{'profile s':>11}{'total s':>9}{'target':>8}"
            f"{'met':>5}{'loop s*':>10}{'speedup':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['dataset']:<26}{r['boxes']:>10,}{r['load_s']:>9.3f}{r['profile_s']:>11.3f}{r['total_s']:>9.3f}"
              f"{r['target_s']:>8.0f}{'yes' if r['target_met'] else 'NO':>5}{r['baseline_s_extrapolated']:>10.2f}"
              f"{r['speedup_vs_baseline']:>8.0f}x")
    print(f"* per-box loop baseline, timed on the first {rows[0]['baseline_boxes_timed']:,} boxes (fewer if the "
          "dataset is smaller) and extrapolated to all boxes; speedup = loop / profile")
    print("stages (s): " + "; ".join(f"{r['dataset']}: " + ", ".join(f"{k} {v:.3f}" for k, v in r["stages_s"].items())
                                     for r in rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (~20 k synthetic boxes, TACO only)")
    p.add_argument("--repeat", type=int, default=None, help="timed repeats, best kept (default 3, quick 1)")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "bench_profile.json", help="JSON output file")
    args = p.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        print("bench_profile: error: --repeat must be >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        jobs = datasets(args.quick, Path(tmp))
        subset = BASELINE_SUBSET_QUICK if args.quick else BASELINE_SUBSET
        rows = [bench_dataset(name, fn, target, repeat, subset) for name, fn, target in tqdm(jobs, desc="datasets")]
    print_table(rows)
    result = {"quick": args.quick, "repeat": repeat, "python": platform.python_version(),
              "numpy": np.__version__, "machine": platform.machine(),
              "targets_s": {"real": TARGET_REAL_S, "synthetic_1M": TARGET_SYNTHETIC_S}, "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
