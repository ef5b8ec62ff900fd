"""Benchmark: cost of OFB / pRoI / pRoI+OHPM inside a torchvision Faster R-CNN training step.

In one process, for each mode (stock torchvision, OFB, pRoI-uniform, pRoI-uniform + OHPM):
(a) ``roi_heads.select_training_samples`` for 2 images x 2000 RPN-like proposals x 7 GTs of 3
    classes, timed inside the real ``roi_heads`` forward (so OHPM sees the real features);
(b) a full training step (forward, backward, SGD step) of ``fasterrcnn_mobilenet_v3_large_320_fpn``.
Modes are interleaved round by round so that load drift on a shared machine hits all of them alike;
medians are reported, with ratios to stock. Thesis Table 4.5 reports 0.97 s vs 0.23 s per
iteration (4.2x) for the authors' implementation with RoINum = 128.

    python analysis/bench_training.py [--quick] [--device cpu|cuda] [--rounds 100] [--step-rounds 10]
                                      [--out results/bench_training.json]

Targets (issue #16): OHEM <= 2.5x and IoU-balanced <= 1.3x stock select; the objective monitor's cost per
measured step (paired with plain steps) <= 2 % of training time at its default interval.
Targets (issue #4): pRoI <= 2x and OFB <= 1.2x stock ``select_training_samples``; whole-step overhead
<= 2 %. Judged on the median of per-round paired ratios (modes are interleaved round by round, so this
cancels load drift); the ratios of medians and of minima are printed beside it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable

import torch

MODES = ("stock", "ofb", "proi", "proi+ohpm", "ohem", "iou_balanced")


def _install(model: Any, mode: str, generator: torch.Generator) -> Any:
    from bbgen.integrations.iou_balanced import use_iou_balanced
    from bbgen.integrations.ohem import use_ohem
    from bbgen.integrations.torchvision import use_ofb, use_proi

    if mode == "ohem":
        return use_ohem(model, generator=generator)
    if mode == "iou_balanced":
        return use_iou_balanced(model, generator=generator)
    if mode == "ofb":
        return use_ofb(model, generator=generator)
    if mode == "proi":
        return use_proi(model, num_rois=128, iou_dist="uniform", generator=generator)
    if mode == "proi+ohpm":
        return use_proi(model, num_rois=128, iou_dist="uniform", ohpm=True, generator=generator)
    return None


def _scene(num_images: int, size: int, num_props: int, device: torch.device, g: torch.Generator):
    """Images, 7 GTs of 3 classes per image and ``num_props`` RPN-like proposals (a third near GTs)."""
    images, targets, proposals = [], [], []
    for _ in range(num_images):
        images.append(torch.rand(3, size, size, generator=g).to(device))
        xy = torch.rand(7, 2, generator=g) * size * 0.6
        wh = torch.rand(7, 2, generator=g) * size * 0.3 + size * 0.08
        gts = torch.cat([xy, xy + wh], 1)
        targets.append({"boxes": gts.to(device), "labels": torch.tensor([1, 1, 1, 1, 2, 2, 3], device=device)})
        near = gts[torch.randint(0, 7, (num_props // 3,), generator=g)]
        near = near + torch.randn(near.shape, generator=g) * wh.mean() * 0.15
        xy = torch.rand(num_props - near.shape[0], 2, generator=g) * size * 0.8
        far = torch.cat([xy, xy + torch.rand(xy.shape, generator=g) * size * 0.3 + 4], 1)
        props = torch.cat([near, far])
        x1y1 = props[:, :2].clamp(0, size - 2)
        proposals.append(torch.cat([x1y1, torch.maximum(props[:, 2:], x1y1 + 1).clamp(max=size)], 1).to(device))
    return images, targets, proposals


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_select(model: Any, device: torch.device, sink: list[float], counts: list[tuple[int, int]]
                  ) -> Callable[[], None]:
    """Wrap the (possibly integrated) ``select_training_samples`` with a timer; returns the undo.

    ``sink`` receives seconds per call, ``counts`` the (positives, negatives) it returned.
    """
    heads = model.roi_heads
    had_own = "select_training_samples" in heads.__dict__
    inner = heads.select_training_samples

    def timed(self: Any, proposals: Any, targets: Any) -> Any:
        _sync(device)
        t0 = time.perf_counter()
        out = inner(proposals, targets)
        _sync(device)
        sink.append(time.perf_counter() - t0)
        labels = torch.cat(out[2])
        counts.append((int((labels > 0).sum()), int((labels == 0).sum())))
        return out

    heads.select_training_samples = types.MethodType(timed, heads)

    def undo() -> None:
        if had_own:
            heads.select_training_samples = inner
        else:
            heads.__dict__.pop("select_training_samples", None)

    return undo


def bench_select(model: Any, images: list, targets: list, proposals: list, rounds: int, device: torch.device,
                 seed: int) -> tuple[dict[str, list[float]], dict[str, list[tuple[int, int]]]]:
    """Seconds per ``select_training_samples`` call and the (positives, negatives) it returned, per mode.

    Timed inside the real ``roi_heads`` forward, so that OHPM scores with the real features.
    """
    model.train()
    with torch.no_grad():
        image_list, tgts = model.transform(images, [dict(t) for t in targets])
        features = model.backbone(image_list.tensors)
    # the proposals are in the original image frame; resize them like the transform resized the GTs
    scale = [torch.tensor([w2 / im.shape[-1], h2 / im.shape[-2]] * 2, device=device)
             for im, (h2, w2) in zip(images, image_list.image_sizes)]
    props = [p * s for p, s in zip(proposals, scale)]
    times: dict[str, list[float]] = {m: [] for m in MODES}
    counts: dict[str, list[tuple[int, int]]] = {m: [] for m in MODES}
    for r in range(rounds + 1):  # round 0 warms up
        for mode in MODES:
            handle = _install(model, mode, torch.Generator(device=device).manual_seed(seed + r))
            sink: list[float] = []
            undo = _timed_select(model, device, sink, counts[mode])
            try:
                with torch.no_grad():
                    model.roi_heads(features, props, image_list.image_sizes, tgts)
            finally:
                undo()
                if handle is not None:
                    handle.restore()
            if r:
                times[mode] += sink
    return times, counts


def bench_generate(targets: list, rounds: int, device: torch.device, seed: int, size: int) -> list[float]:
    """Seconds per ``generate_prois`` call for the same images (RoINum 128), the pRoI mode's main cost."""
    from bbgen.roi.proi import generate_prois

    g = torch.Generator(device=device).manual_seed(seed)
    boxes, labels = [t["boxes"] for t in targets], [t["labels"] for t in targets]
    out = []
    for r in range(rounds + 1):
        _sync(device)
        t0 = time.perf_counter()
        generate_prois(boxes, labels, 128, image_sizes=(size, size), generator=g)
        _sync(device)
        if r:
            out.append(time.perf_counter() - t0)
    return out


def bench_step(make_model: Callable[[], Any], images: list, targets: list, rounds: int, device: torch.device,
               seed: int, warmup: bool = True) -> dict[str, list[float]]:
    """Seconds per full training step (forward + backward + SGD step), per mode, same initial weights."""
    models = {m: make_model() for m in MODES}
    opts = {m: torch.optim.SGD(models[m].parameters(), lr=1e-3, momentum=0.9) for m in MODES}
    for m in MODES:
        models[m].train()
        _install(models[m], m, torch.Generator(device=device).manual_seed(seed))
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(int(not warmup), rounds + 1):
        for mode in MODES:
            model, opt = models[mode], opts[mode]
            _sync(device)
            t0 = time.perf_counter()
            losses = model(images, targets)
            opt.zero_grad(set_to_none=True)
            sum(losses.values()).backward()
            opt.step()
            _sync(device)
            if r:
                times[mode].append(time.perf_counter() - t0)
    return times


def bench_monitor(make_model: Callable[[], Any], images: list, targets: list, rounds: int, device: torch.device,
                  warmup: bool = True) -> dict[str, Any]:
    """Training steps without and with the objective monitor measuring (interval 1), interleaved step by step.

    The cost per measured step is the median of the paired differences; the share of training time at the
    default interval is that cost over ``DEFAULT_INTERVAL`` plain steps. The monitor's own timing (its
    ``cost`` column: the per-term ``autograd.grad`` calls) is reported beside it.
    """
    from bbgen.imbalance.objective import DEFAULT_INTERVAL, ObjectiveMonitor

    model = make_model()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    monitor = ObjectiveMonitor(model, interval=1)
    plain: list[float] = []
    measured: list[float] = []
    for r in range(int(not warmup), rounds + 1):
        for use in (False, True):
            _sync(device)
            t0 = time.perf_counter()
            losses = model(images, targets)
            if use:
                monitor.observe(losses)
            opt.zero_grad(set_to_none=True)
            sum(losses.values()).backward()
            opt.step()
            _sync(device)
            if r:
                (measured if use else plain).append(time.perf_counter() - t0)
    cost = statistics.median(m - p for m, p in zip(measured, plain))
    own = statistics.median(monitor.record.cost["seconds"][-len(measured):])
    step = statistics.median(plain)
    return {"interval": DEFAULT_INTERVAL, "step_median_s": step, "measured_step_median_s": statistics.median(measured),
            "cost_per_measured_step_s": cost, "monitor_own_s": own, "cost_per_measured_step_ratio": cost / step,
            "share_at_default_interval": cost / (DEFAULT_INTERVAL * step),
            "own_share_at_default_interval": own / (DEFAULT_INTERVAL * step), "n": len(plain)}


def summarise(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Median and minimum per mode, their ratios to stock, and the paired ratio.

    Modes run interleaved round by round, so ``t_mode[r] / t_stock[r]`` compares runs made moments apart:
    its median over rounds (``paired_ratio``) cancels the load drift of a shared machine and is the
    estimate the targets are judged on. The ratio of medians and the ratio of minima (the least disturbed
    runs, as ``timeit`` recommends) are reported beside it.
    """
    med, low, base = statistics.median(times["stock"]), min(times["stock"]), times["stock"]
    return {m: {"median_s": statistics.median(v), "min_s": min(v), "n": len(v),
                "ratio_to_stock": statistics.median(v) / med, "min_ratio_to_stock": min(v) / low,
                "paired_ratio": statistics.median(a / b for a, b in zip(v, base))}
            for m, v in times.items()}


def verdicts(sel: dict[str, dict[str, float]], step: dict[str, dict[str, float]],
             monitor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issues #4 and #16's targets, judged on the paired ratio to stock (see :func:`summarise`).

    The whole-step overhead is the per-iteration time against stock, which is how the paper compares
    (Table 4.5); ``select_share`` — the selection's extra time as a share of a stock step — is reported
    beside it, because a mode can train on fewer RoIs than stock (OHPM's NMS) and so be faster per step.
    """
    out = {"proi_select": {"ratio": sel["proi"]["paired_ratio"], "target": 2.0},
           "ofb_select": {"ratio": sel["ofb"]["paired_ratio"], "target": 1.2},
           "ohem_select": {"ratio": sel["ohem"]["paired_ratio"], "target": 2.5},
           "iou_balanced_select": {"ratio": sel["iou_balanced"]["paired_ratio"], "target": 1.3},
           "monitor_overhead": {"ratio": monitor["share_at_default_interval"], "target": 0.02}}
    for m in MODES[1:]:
        out[f"{m}_step_overhead"] = {"ratio": step[m]["paired_ratio"] - 1.0, "target": 0.02,
                                     "select_share": step[m]["select_overhead_share"]}
    for v in out.values():
        v["met"] = v["ratio"] <= v["target"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke run (few rounds, small images)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--rounds", type=int, default=None, help="timed select rounds per mode (default 100)")
    p.add_argument("--step-rounds", type=int, default=None, help="timed training steps per mode (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/bench_training.json"))
    args = p.parse_args(argv)
    from _cli import parse_device, require_torchvision  # analysis/ is on sys.path when a script runs

    device = parse_device(p, args.device)
    if args.threads < 1 or any(r is not None and r < 1 for r in (args.rounds, args.step_rounds)):
        print("error: --threads, --rounds and --step-rounds must be >= 1", file=sys.stderr)
        return 2
    require_torchvision(p, "this benchmark")
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn
    torch.set_num_threads(args.threads)
    # --quick: tiny images, fewer RPN proposals and RoIs, so that the smoke test takes seconds
    size, num_props = (64, 300) if args.quick else (320, 2000)
    small = dict(rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=200, box_batch_size_per_image=128)
    select_rounds = args.rounds or (1 if args.quick else 100)
    step_rounds = args.step_rounds or (1 if args.quick else 10)

    def make_model() -> Any:
        torch.manual_seed(args.seed)  # torchvision initialises weights from the global RNG
        return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=4,
                                                     min_size=size, max_size=size,
                                                     **(small if args.quick else {})).to(device)

    g = torch.Generator().manual_seed(args.seed)
    images, targets, proposals = _scene(2, size, num_props, device, g)
    sel_times, counts = bench_select(make_model(), images, targets, proposals, select_rounds, device, args.seed)
    sel = summarise(sel_times)
    for m in MODES:
        sel[m]["mean_positives_per_image"] = statistics.mean(c[0] for c in counts[m]) / 2
        sel[m]["mean_negatives_per_image"] = statistics.mean(c[1] for c in counts[m]) / 2
    gen = bench_generate(targets, select_rounds, device, args.seed, size)
    step = summarise(bench_step(make_model, images, targets, step_rounds, device, args.seed, warmup=not args.quick))
    for m in MODES:  # the selection's extra time as a share of a stock step (robust to step-time noise)
        step[m]["select_overhead_share"] = (sel[m]["min_s"] - sel["stock"]["min_s"]) / step["stock"]["min_s"]

    print(f"device={device} threads={args.threads} images=2 size={size} proposals={num_props}/image "
          "GTs=7 (3 classes) RoINum=128")
    print("select_training_samples (ms; median and min over rounds) and full training step (ms)")
    print(f"{'mode':<12} {'pos/neg':>9} {'sel med':>8} {'x':>6} {'sel min':>8} {'x':>6} {'paired':>7} "
          f"{'step med':>9} {'x':>6} {'step min':>9} {'x':>6} {'paired':>7} {'sel/step':>9}")
    for m in MODES:
        s, t = sel[m], step[m]
        pn = f"{s['mean_positives_per_image']:.0f}/{s['mean_negatives_per_image']:.0f}"
        print(f"{m:<12} {pn:>9} {1e3 * s['median_s']:>8.2f} {s['ratio_to_stock']:>6.2f} {1e3 * s['min_s']:>8.2f} "
              f"{s['min_ratio_to_stock']:>6.2f} {s['paired_ratio']:>7.2f} {1e3 * t['median_s']:>9.1f} "
              f"{t['ratio_to_stock']:>6.3f} {1e3 * t['min_s']:>9.1f} {t['min_ratio_to_stock']:>6.3f} "
              f"{t['paired_ratio']:>7.3f} {100 * t['select_overhead_share']:>8.2f}%")
    print(f"generate_prois alone (2 images x 128 RoIs): median {1e3 * statistics.median(gen):.2f} ms, "
          f"min {1e3 * min(gen):.2f} ms")
    print("sel/step: extra select_training_samples time (min) over stock, as a share of the stock step (min)")
    mon = bench_monitor(make_model, images, targets, step_rounds, device, warmup=not args.quick)
    print(f"objective monitor (stock model): step {1e3 * mon['step_median_s']:.1f} ms, measured step "
          f"{1e3 * mon['measured_step_median_s']:.1f} ms -> {1e3 * mon['cost_per_measured_step_s']:.1f} ms per measured "
          f"step ({mon['cost_per_measured_step_ratio']:.2f} steps; its own timing {1e3 * mon['monitor_own_s']:.1f} ms); "
          f"at the default interval {mon['interval']}: {100 * mon['share_at_default_interval']:.2f} % of training time")
    targets = verdicts(sel, step, mon)
    print("targets (median of per-round paired ratios to stock):")
    for name, v in targets.items():
        shown = f"{100 * v['ratio']:+.1f} %" if "overhead" in name else f"{v['ratio']:.2f}x"
        limit = f"{100 * v['target']:.0f} %" if "overhead" in name else f"{v['target']}x"
        extra = f" (selection alone: {100 * v['select_share']:.2f} % of a stock step)" if "select_share" in v else ""
        print(f"  {name:<26} {shown:>8}  target <= {limit:<6} {'met' if v['met'] else 'MISSED'}{extra}")
    result = {"config": {"device": str(device), "threads": args.threads, "quick": args.quick, "image_size": size,
                         "num_images": 2, "proposals_per_image": num_props, "gts_per_image": 7, "num_rois": 128,
                         "model": "fasterrcnn_mobilenet_v3_large_320_fpn", "torch": torch.__version__,
                         "select_rounds": select_rounds, "step_rounds": step_rounds},
              "select_training_samples": sel, "train_step": step, "objective_monitor": mon, "targets": targets,
              "generate_prois": {"median_s": statistics.median(gen), "min_s": min(gen), "n": len(gen)},
              "paper_table_4_5": {"stock_s": 0.23, "proi_128_s": 0.97, "ratio": 0.97 / 0.23}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
