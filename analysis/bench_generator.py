"""Benchmark of the compiled Bounding Box Generator and pRoI generator (issue #13), as ratios against baselines
run in the same process.

Targets and baselines (rounds interleaved, so load drift on a shared machine hits all alike; median and best
of N reported, targets judged on the best run):

(a) ``generate_boxes`` on 1000 float32 reference boxes x 1000 boxes, T uniform in [0.5, 0.9]: >= 10 M boxes/s
    with 1 thread, >= 18 M with 2 (``--threads``); >= 1 G boxes/s on a GPU;
(b) ``generate_boxes`` on 1e6 reference boxes x 1 box (same T): >= 8x the numpy yardstick;
(c) ``generate_prois``, 128 RoIs, 3 GTs of 2 classes, 640x480 image bounds: <= 0.15 ms for one image,
    <= 0.05 ms per image in a batch of 16 (GPU: <= 0.02 ms per image).

Baselines: the torch backend (``backend="torch"``, the tensor-op reference path) and a naive numpy yardstick
that draws the TL corner by rejection in its rectangle for all boxes at once, then the BR corner given it; on
CUDA also the Triton kernel with one box per lane and no refill (``triton_lockstep``, the kernel of the H200 run).

Optional: ``--cold-start`` times the first call in fresh processes (numba cache empty, then cached);
``--violations 1e8`` generates that many boxes (aspect up to 1:1000, coordinates up to 1e5, float32, threshold
and interval modes, with and without image bounds) and counts IoU / image violations with an independent
float64 IoU on the same device. JSON to ``--out`` (default ``results/bench_generator.json``); no timing is asserted in tests.

Usage::

    python analysis/bench_generator.py [--quick] [--threads 1|2] [--device cpu|cuda] [--rounds 7]
                                       [--cold-start] [--violations 1e8] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from bbgen.generator.batched import generate_boxes
from bbgen.roi.proi import generate_prois

TARGETS = {"boxes_per_s_1_thread": 10e6, "boxes_per_s_2_threads": 18e6, "boxes_per_s_gpu": 1e9,
           "speedup_vs_numpy": 8.0, "ms_one_image": 0.15, "ms_per_image_batch16": 0.05, "ms_per_image_gpu": 0.02}
GTS = [[40.0, 60.0, 200.0, 300.0], [220.0, 80.0, 330.0, 210.0], [350.0, 40.0, 420.0, 120.0]]
LABELS = [1, 1, 5]


def numpy_yardstick(ref: np.ndarray, T: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Naive vectorised Alg. 1: TL by rejection in ``[1 - 1/T, 1 - T]^2`` for all boxes, then BR in its Table B.2
    rectangle given TL, accepted by the IoU in the unit frame; ``[N, 4]`` float64 boxes."""
    n = len(T)
    tl = np.empty((n, 2))
    todo = np.arange(n)
    while todo.size:
        t = T[todo]
        u = rng.uniform(1 - 1 / t[:, None], (1 - t)[:, None], (todo.size, 2))
        inter = np.prod(np.minimum(1 - u, 1), 1)
        ok = inter * (1 + t) >= (np.prod(1 - u, 1) + 1) * t
        tl[todo[ok]] = u[ok]
        todo = todo[~ok]
    br = np.empty((n, 2))
    todo = np.arange(n)
    while todo.size:
        t, a = T[todo], tl[todo]
        p = np.maximum(a, 0)
        i0 = np.prod(1 - p, 1)
        hi = a + (i0 / t + i0 - 1)[:, None] / (1 - a[:, ::-1])
        lo = (t[:, None] - t[:, None] * a * (1 - a[:, ::-1]) + p * (t[:, None] + 1) * (1 - p[:, ::-1])) / (
            (t[:, None] + 1) * (1 - p[:, ::-1]) - t[:, None] * (1 - a[:, ::-1]))
        c = rng.uniform(lo, hi)
        inter = np.prod(np.clip(np.minimum(c, 1) - p, 0, None), 1)
        ok = inter * (1 + t) >= (np.prod(c - a, 1) + 1) * t
        br[todo[ok]] = c[ok]
        todo = todo[~ok]
    wh = ref[:, 2:] - ref[:, :2]
    return np.concatenate([ref[:, :2] + tl * wh, ref[:, :2] + br * wh], 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each function, one call each per round (after one warm-up call each)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


def _summary(times: dict[str, list[float]], work: float, unit: str) -> dict:
    """Per function: median and best as ``work / s`` (rate) or ``s / work`` in ms (``unit="ms"``), and the
    paired ratios of each baseline's time to the first function's (median over rounds, and best to best)."""
    first = next(iter(times))
    out = {}
    for name, ts in times.items():
        med, best = statistics.median(ts), min(ts)
        row = ({"median_ms": 1e3 * med / work, "best_ms": 1e3 * best / work} if unit == "ms"
               else {"median_per_s": work / med, "best_per_s": work / best})
        if name != first:
            row["ratio_median"] = statistics.median(b / a for a, b in zip(times[first], ts))
            row["ratio_best"] = best / min(times[first])
        out[name] = row
    return out


def refs_and_thresholds(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 800
    ref = torch.cat([xy, xy + 8 + torch.rand(n, 2, generator=g) * 192], 1)
    return ref, 0.5 + 0.4 * torch.rand(n, generator=g, dtype=torch.float64)


def lockstep(ref: torch.Tensor, T: torch.Tensor, num: int, seed: int) -> Callable[[], object]:
    """The Triton kernel as it ran on the H200 of 2026-12-04: each program's lanes take one box each
    (``per_program=BLOCK``), none refilled."""
    from bbgen.generator.fused_gpu import BLOCK, generate_triton
    from bbgen.generator.proposals import get_proposal

    prop = get_proposal("uniform")
    return lambda: generate_triton(ref, T[:, None], None, None, num, "random", prop, seed, 0, per_program=BLOCK)


def bench_boxes(n: int, num: int, rounds: int, device: torch.device, seed: int, torch_too: bool) -> dict:
    """(a)/(b): compiled backend vs the torch backend vs the numpy yardstick, boxes per second."""
    ref, T = refs_and_thresholds(n, seed)
    ref_np, T_np = ref.double().numpy().repeat(num, 0), T.numpy().repeat(num)
    ref, T = ref.to(device), T.to(device)
    rng = np.random.default_rng(seed)
    fns = {"bbgen": lambda: generate_boxes(ref, T, num=num, generator=seed)}
    if torch_too:
        fns["torch_backend"] = lambda: generate_boxes(ref, T, num=num, generator=seed, backend="torch")
    if device.type == "cuda":  # the same kernel with one box per lane (no refill): what the lane refill buys
        fns["triton_lockstep"] = lockstep(ref, T, num, seed)
    fns["numpy_yardstick"] = lambda: numpy_yardstick(ref_np, T_np, rng)
    return {"refs": n, "boxes_per_ref": num, "rounds": rounds,
            **_summary(interleaved(fns, rounds, device), n * num, "rate")}


def bench_prois(batch: int, rounds: int, device: torch.device, seed: int) -> dict:
    """(c): 128 pRoIs per image, compiled backend vs torch backend, ms per image."""
    boxes = torch.tensor(GTS, device=device)
    labels = torch.tensor(LABELS, device=device)
    args = (boxes, labels) if batch == 1 else ([boxes] * batch, [labels] * batch)
    g = torch.Generator(device=device).manual_seed(seed)
    fns = {"bbgen": lambda: generate_prois(*args, 128, image_sizes=(640, 480), generator=g),
           "torch_backend": lambda: generate_prois(*args, 128, image_sizes=(640, 480), generator=g, backend="torch")}
    return {"images": batch, "rois_per_image": 128, "rounds": rounds,
            **_summary(interleaved(fns, rounds, device), batch, "ms")}


_COLD = """import time, sys
t0 = time.perf_counter()
import torch
from bbgen.generator.batched import generate_boxes
from bbgen.roi.proi import generate_prois
t1 = time.perf_counter()
generate_boxes(torch.tensor([[0., 0., 10., 20.]] * 5000), 0.7, num=2, generator=0, backend=sys.argv[1])
t2 = time.perf_counter()
generate_prois(torch.tensor([[0., 0., 10., 20.]]), torch.tensor([1]), 128, generator=0, backend=sys.argv[1])
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def cold_start() -> dict:
    """First-call latency in fresh processes: numba with an empty cache (compiles), then cached; torch backend."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for name, backend in (("numba_cold", "numba"), ("numba_cached", "numba"), ("torch_backend", "torch")):
            proc = subprocess.run([sys.executable, "-c", _COLD, backend], capture_output=True, text=True, env=env,
                                  check=True)
            imp, boxes, prois = (float(x) for x in proc.stdout.split())
            out[name] = {"import_s": imp, "first_generate_boxes_s": boxes, "first_generate_prois_s": prois}
    return out


def violations(total: int, seed: int, device: torch.device | str = "cpu", chunk: int = 1_000_000) -> dict:
    """Generate ``total`` float32 boxes on ``device`` over random hard cases; count constraint / image violations
    with an independent float64 IoU (torch ops on the same device, so a GPU run checks 1e9 boxes in seconds)."""
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    bad = done = 0
    per_ref = 500
    with tqdm(total=total, desc="violations", unit="box", unit_scale=True) as bar:
        while done < total:
            n = max(1, min(chunk, total - done) // per_ref)
            side = 10 ** rng.uniform(0, 5, n)
            w, h = side, side * 10 ** rng.uniform(-3, 0, n)  # aspect up to 1:1000
            w, h = np.maximum(np.where(rng.random(n) < .5, h, w), 1.2), np.maximum(np.where(rng.random(n) < .5, w, h), 1.2)
            x, y = rng.uniform(0, 1e5 - w), rng.uniform(0, 1e5 - h)
            ref = torch.tensor(np.stack([x, y, x + w, y + h], 1), dtype=torch.float32, device=device)
            T = rng.uniform(0.01, 0.98, n)
            hi = np.minimum(T + rng.uniform(0.01, 0.3, n), 1.0) if rng.random() < 0.5 else None
            r = ref.double().numpy(force=True)
            image = np.maximum(r[:, 2:] * rng.uniform(1.0, 1.2, (n, 2)), r[:, 2:]) if rng.random() < 0.5 else None
            T_t = torch.from_numpy(T).to(device)
            hi_t = None if hi is None else torch.from_numpy(hi).to(device)
            image_t = None if image is None else torch.from_numpy(image).to(device)
            b = generate_boxes(ref, T_t, num=per_ref, max_iou=hi_t, image_size=image_t,
                               generator=int(rng.integers(1 << 62))).double()
            r = ref.double()[:, None]
            inter = ((torch.minimum(b[..., 2], r[..., 2]) - torch.maximum(b[..., 0], r[..., 0])).clamp(min=0)
                     * (torch.minimum(b[..., 3], r[..., 3]) - torch.maximum(b[..., 1], r[..., 1])).clamp(min=0))
            area = lambda q: (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])  # noqa: E731
            iou = inter / (area(b) + area(r) - inter)
            wrong = ~(iou >= T_t[:, None])  # NaN counts as wrong
            if hi_t is not None:
                wrong |= iou >= hi_t[:, None]
            if image_t is not None:
                wrong |= ((b[..., :2] < 0).any(-1) | (b[..., 2] > image_t[:, None, 0])
                          | (b[..., 3] > image_t[:, None, 1]))
            bad += int(wrong.sum())
            done += n * per_ref
            bar.update(n * per_ref)
    return {"boxes": done, "violations": bad, "dtype": "float32", "device": device.type}


def verdicts(result: dict) -> dict:
    a, b = result["boxes_1000x1000"]["bbgen"], result["boxes_1e6x1"]
    key = "boxes_per_s_gpu" if result["device_type"] == "cuda" else (
        "boxes_per_s_1_thread" if result["threads"] == 1 else "boxes_per_s_2_threads")
    one, batch = result["prois_1_image"]["bbgen"], result["prois_16_images"]["bbgen"]
    ms_batch = "ms_per_image_gpu" if result["device_type"] == "cuda" else "ms_per_image_batch16"
    return {key: a["best_per_s"] >= TARGETS[key],
            "speedup_vs_numpy": b["numpy_yardstick"]["ratio_best"] >= TARGETS["speedup_vs_numpy"],
            "ms_one_image": one["best_ms"] <= TARGETS["ms_one_image"],
            ms_batch: batch["best_ms"] <= TARGETS[ms_batch]}


def print_report(res: dict) -> None:
    print(f"\nbbgen generator benchmark: {res['device']}, {res['threads']} thread(s), torch {res['torch']}, "
          f"load average {res['load_average_1min']:.1f}{' (quick)' if res['quick'] else ''}")
    for key in ("boxes_1000x1000", "boxes_1e6x1"):
        r = res[key]
        print(f"({'a' if key.endswith('1000') else 'b'}) {r['refs']} refs x {r['boxes_per_ref']} boxes: "
              + "; ".join(f"{k} {v['median_per_s'] / 1e6:.2f} M/s median, {v['best_per_s'] / 1e6:.2f} best"
                          + (f" (bbgen {v['ratio_median']:.1f}x median, {v['ratio_best']:.1f}x best)"
                             if "ratio_best" in v else "") for k, v in r.items() if isinstance(v, dict)))
    for key in ("prois_1_image", "prois_16_images"):
        r = res[key]
        print(f"(c) generate_prois, {r['images']} image(s) x 128 RoIs: " + "; ".join(
            f"{k} {v['median_ms']:.3f} ms/image median, {v['best_ms']:.3f} best"
            + (f" (bbgen {v['ratio_median']:.1f}x median)" if "ratio_best" in v else "")
            for k, v in r.items() if isinstance(v, dict)))
    print("targets met (best run): " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in res["verdicts"].items()))
    if "cold_start" in res:
        for k, v in res["cold_start"].items():
            print(f"cold start {k}: import {v['import_s']:.2f} s, first generate_boxes {v['first_generate_boxes_s']:.2f} s, "
                  f"first generate_prois {v['first_generate_prois_s']:.2f} s")
    if "violations" in res:
        v = res["violations"]
        print(f"violations: {v['violations']} in {v['boxes']:,} {v['dtype']} boxes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="small smoke run (few boxes, 2 rounds)")
    parser.add_argument("--threads", type=int, default=1, help="torch (and numba) CPU threads, default 1")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (best of N)")
    parser.add_argument("--cold-start", action="store_true", help="first-call latency in fresh processes")
    parser.add_argument("--violations", type=float, default=0, help="count violations in this many boxes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/bench_generator.json"))
    args = parser.parse_args(argv)
    if args.threads < 1 or args.rounds < 1:
        print("error: --threads and --rounds must be >= 1", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds = 2 if args.quick else args.rounds
    big_n, grid = (10_000, (100, 100)) if args.quick else (1_000_000, (1000, 1000))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    res = {"device": name, "device_type": device.type, "torch": torch.__version__, "threads": args.threads,
           "quick": args.quick, "load_average_1min": os.getloadavg()[0], "targets": TARGETS,
           "boxes_1000x1000": bench_boxes(*grid, rounds, device, args.seed, torch_too=True),
           "boxes_1e6x1": bench_boxes(big_n, 1, rounds, device, args.seed, torch_too=True),
           "prois_1_image": bench_prois(1, 10 * rounds, device, args.seed),
           "prois_16_images": bench_prois(16, 5 * rounds, device, args.seed)}
    res["verdicts"] = verdicts(res)
    if args.cold_start:
        res["cold_start"] = cold_start()
    if args.violations:
        res["violations"] = violations(int(args.violations), args.seed, device,
                                      chunk=20_000_000 if device.type == "cuda" else 1_000_000)
    print_report(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
