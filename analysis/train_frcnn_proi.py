"""Train a small torchvision Faster R-CNN with stock sampling, OFB, pRoI, pRoI + OHPM, OHEM and IoU-balanced sampling.

A synthetic shapes dataset (filled rectangles, filled ellipses and hollow rectangles — three classes
with deliberately imbalanced frequencies, 75/18/7 %) is drawn with numpy. Every mode starts from the
same weights and sees the same images in the same order; per step we log the losses and the positive
RoIs per class that the second stage actually trained on (thesis §4.5.2 fg–fg imbalance, Tables
4.1–4.4). The output is a JSON summary and a figure (loss curves, class mix of the positives,
held-out recall per class).

    python analysis/train_frcnn_proi.py [--steps 300] [--quick] [--out results/train_frcnn_proi]
    torchrun --nproc_per_node 2 analysis/train_frcnn_proi.py --method proi --steps 3 --device cpu

Under ``torchrun`` (DDP, gloo on CPU) each rank trains on its own share of every step's images and
samples from its own stream (seed + rank); rank 0 writes the summary and figure, every rank writes
``ranks/rank<r>.json`` (per-step digests of the RoIs it trained on, its losses, the objective log).
With ``--monitor-interval N`` the objective-imbalance monitor (thesis §3.5) records every N-th step and
rank 0 writes ``objective_<mode>.json`` (``bbgen report --training-log`` reads it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from bbgen.datasets.shapes import CLASS_FREQ, CLASS_NAMES, make_dataset  # the shapes dataset (75/18/7 %)

MODES = ("stock", "ofb", "proi", "proi+ohpm", "ohem", "iou_balanced")


# ------------------------------------------------------------------------------------- training

@dataclass
class RunLog:
    """What one training run recorded (per step) and measured (held-out recall)."""

    mode: str
    losses: dict[str, list[float]] = field(default_factory=dict)
    positives: list[list[int]] = field(default_factory=list)   # per step, per class 1..C
    negatives: list[int] = field(default_factory=list)
    # per step: mean over images whose GTs have >= 2 classes of min_c n_c / max_c n_c, n_c = positives
    # of class c in that image (1 = the image's classes are trained on equally; None: no such image)
    image_balance: list[Optional[float]] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)           # held-out recall@0.5 per class (rank 0)
    seconds: float = 0.0
    digests: list[str] = field(default_factory=list)            # per step: sha256 of the RoIs trained on
    objective: Optional[dict] = None                            # objective-monitor record (to_dict)
    weights_digest: str = ""                                    # sha256 of the trained weights (equal on all ranks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        pos = np.array(self.positives, float)
        bal = [b for b in self.image_balance if b is not None]
        d["summary"] = {
            "mean_positives_per_step": pos.sum(1).mean().item() if pos.size else 0.0,
            "class_share_of_positives": (pos.sum(0) / max(pos.sum(), 1)).tolist(),
            "within_image_balance": float(np.mean(bal)) if bal else None,
            "final_loss": {k: float(np.mean(v[-max(1, len(v) // 10):])) for k, v in self.losses.items()},
            "recall_at_0.5": self.recall,
        }
        return d


def build_model(size: int, seed: int) -> Any:
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(seed)  # torchvision initialises its weights from the global RNG
    # fg/bg 16/48 per image: the thesis's 32/96 (§4.4) halved for 128-px images with 2–5 objects, so
    # that the positives often exceed the quota and the positive sampler has a choice to make
    return fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=len(CLASS_NAMES) + 1, min_size=size, max_size=size,
        rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=300, box_batch_size_per_image=64,
        box_score_thresh=0.2)


def install(model: Any, mode: str, seed: int, device: torch.device) -> Optional[Any]:
    from bbgen.integrations.distributed import rank_generator
    from bbgen.integrations.iou_balanced import use_iou_balanced
    from bbgen.integrations.ohem import use_ohem
    from bbgen.integrations.torchvision import use_ofb, use_proi

    g = rank_generator(seed, device)  # seed + rank: each process draws from its own stream
    if mode == "ohem":      # Shrivastava et al.: all RoIs scored, NMS 0.7 by loss, the B hardest (B = 64 here)
        return use_ohem(model, generator=g)
    if mode == "iou_balanced":  # Libra R-CNN: negatives evenly over 3 IoU bins in [0, 0.5)
        return use_iou_balanced(model, num_bins=3, generator=g)
    if mode == "ofb":
        return use_ofb(model, generator=g)
    if mode == "proi":      # thesis Table 4.1 (RoINum = fg, uniform IoU, fg-balanced), halved like fg/bg
        return use_proi(model, num_rois=16, iou_dist="uniform", generator=g)
    if mode == "proi+ohpm":  # thesis Table 4.4 (RoINum 128 -> the 32 hardest), halved: 64 -> 16
        return use_proi(model, num_rois=64, iou_dist="uniform", ohpm=True, generator=g)
    return None


def recall_per_class(model: Any, data: list, device: torch.device, iou: float = 0.5) -> list[float]:
    """Fraction of held-out GTs of each class hit by a same-class detection with IoU >= ``iou``."""
    from torchvision.ops import box_iou

    hit, total = np.zeros(len(CLASS_NAMES)), np.zeros(len(CLASS_NAMES))
    model.eval()
    with torch.no_grad():
        for img, tgt in data:
            det = {k: v.cpu() for k, v in model([img.to(device)])[0].items()}
            for c in range(1, len(CLASS_NAMES) + 1):
                gts, dets = tgt["boxes"][tgt["labels"] == c], det["boxes"][det["labels"] == c]
                total[c - 1] += len(gts)
                if len(gts) and len(dets):
                    hit[c - 1] += int((box_iou(gts, dets).amax(1) >= iou).sum())
    return (hit / np.maximum(total, 1)).tolist()


def within_image_balance(sampled: list[torch.Tensor], gt_labels: list[torch.Tensor]) -> Optional[float]:
    """Mean over images with >= 2 GT classes of (fewest / most) positives among those classes."""
    ratios = []
    for lab, gt in zip(sampled, gt_labels):
        classes = gt.unique()
        if classes.numel() >= 2:
            n = torch.stack([(lab.cpu() == c).sum() for c in classes]).double()
            ratios.append(float(n.min() / n.max()) if n.max() > 0 else 0.0)
    return float(np.mean(ratios)) if ratios else None


def _digest(tensors: Any) -> str:
    """sha256 of a sequence of tensors (the RoIs a step trained on; the trained weights)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train(mode: str, train_data: list, test_data: list, steps: int, size: int, seed: int,
          device: torch.device, progress: bool = True, monitor_interval: int = 0) -> RunLog:
    from tqdm import tqdm

    from bbgen.imbalance.objective import monitor_objectives
    from bbgen.integrations.distributed import rank, rank_seed, world_size
    from bbgen.integrations.torchvision import record_samples

    model = build_model(size, seed).to(device)  # same initial weights on every rank
    log = RunLog(mode)
    handle = install(model, mode, seed, device)
    net = model if world_size() == 1 else torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)
    torch.manual_seed(rank_seed(seed))  # torchvision's own stock sampler and RPN sampler use the global RNG
    t0 = time.perf_counter()
    net.train()
    monitor = monitor_objectives(net, interval=monitor_interval) if monitor_interval else nullcontext()
    with record_samples(model) as rec, monitor as objective:
        for step in tqdm(range(steps), desc=mode, disable=not progress or rank() > 0, file=sys.stderr):
            first = 2 * (step * world_size() + rank())  # each rank its own 2 images of the step
            batch = [train_data[(first + i) % len(train_data)] for i in range(2)]
            losses = net([b[0].to(device) for b in batch],
                         [{k: v.to(device) for k, v in b[1].items()} for b in batch])
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            for k, v in losses.items():
                log.losses.setdefault(k, []).append(float(v.detach()))
            labels = torch.cat(rec[-1]["labels"]).cpu()
            log.positives.append(torch.bincount(labels.clamp(min=0), minlength=len(CLASS_NAMES) + 1)[1:].tolist())
            log.negatives.append(int((labels == 0).sum()))
            log.image_balance.append(within_image_balance(rec[-1]["labels"], [b[1]["labels"] for b in batch]))
            log.digests.append(_digest([t for key in ("proposals", "labels", "matched_idxs") for t in rec[-1][key]]))
    log.seconds = time.perf_counter() - t0
    if objective is not None:
        log.objective = objective.to_dict()
    log.weights_digest = _digest(model.parameters())  # (BatchNorm statistics are per rank until the next forward)
    if handle is not None:
        handle.restore()
    if rank() == 0:  # the inner model: no collective calls while rank 0 evaluates alone
        log.recall = recall_per_class(model, test_data, device)
    return log


# ------------------------------------------------------------------------------------- plots

def plot_losses(runs: dict[str, dict], ax: Any = None, key: str = "loss_classifier") -> Any:
    """Smoothed second-stage loss curve per mode."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for mode, run in runs.items():
        y = np.asarray(run["losses"][key])
        k = max(1, len(y) // 20)
        ax.plot(np.convolve(y, np.ones(k) / k, mode="valid"), label=mode)
    ax.set(xlabel="step", ylabel=key, title=f"{key} (moving average)")
    ax.legend()
    return ax


def plot_class_mix(runs: dict[str, dict], ax: Any = None) -> Any:
    """Share of each class among the positive RoIs trained on, per mode (stacked bars)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    bottom = np.zeros(len(runs))
    for c, name in enumerate(CLASS_NAMES):
        share = np.array([run["summary"]["class_share_of_positives"][c] for run in runs.values()])
        ax.bar(list(runs), share, bottom=bottom, label=f"{name} ({CLASS_FREQ[c]:.0%} of objects)")
        bottom += share
    for x, run in enumerate(runs.values()):
        b = run["summary"]["within_image_balance"]
        ax.text(x, 1.01, "n/a" if b is None else f"{b:.2f}", ha="center", va="bottom", fontsize="small")
    ax.set(ylabel="share of positive RoIs", ylim=(0, 1.1),
           title="class mix of the positives (above: within-image balance)")
    ax.legend(fontsize="small")
    return ax


def plot_recall(runs: dict[str, dict], ax: Any = None) -> Any:
    """Held-out recall@0.5 per class, per mode."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    width = 0.8 / len(runs)
    for i, (mode, run) in enumerate(runs.items()):
        ax.bar(np.arange(len(CLASS_NAMES)) + i * width, run["recall"], width, label=mode)
    ax.set_xticks(np.arange(len(CLASS_NAMES)) + 0.4 - width / 2, CLASS_NAMES)
    ax.set(ylabel="recall@0.5", ylim=(0, 1), title="held-out recall per class")
    ax.legend(fontsize="small")
    return ax


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="training steps per mode (2 images each)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 steps, tiny data")
    p.add_argument("--modes", "--method", dest="modes", default=",".join(MODES),
                   help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--test-images", type=int, default=40, help="held-out images for recall (0: no evaluation)")
    p.add_argument("--monitor-interval", type=int, default=0,
                   help="objective-imbalance monitor every N steps (default 0: off)")
    p.add_argument("--out", type=Path, default=Path("results/train_frcnn_proi"), help="output folder")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        print(f"error: --modes must be a subset of {','.join(MODES)}, got {args.modes!r}", file=sys.stderr)
        return 2
    if args.steps < 1 or args.size < 32 or args.threads < 1 or args.test_images < 0 or args.monitor_interval < 0:
        print("error: need --steps >= 1, --size >= 32, --threads >= 1, --test-images >= 0, --monitor-interval >= 0",
              file=sys.stderr)
        return 2
    from _cli import require_torchvision  # analysis/ is on sys.path when a script runs

    require_torchvision(p, "this example")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _cli import parse_device  # analysis/ is on sys.path when a script runs

    from bbgen.integrations.distributed import init_from_env, rank, world_size

    device = parse_device(p, args.device)
    if init_from_env(device) and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    torch.set_num_threads(args.threads)
    steps, size = (2, 64) if args.quick else (args.steps, args.size)
    train_data = make_dataset(4 if args.quick else min(400, 2 * steps * world_size()), size, args.seed)
    test_data = make_dataset(1 if args.quick else args.test_images, size, args.seed + 1)
    runs = {m: train(m, train_data, test_data, steps, size, args.seed, device,
                     monitor_interval=args.monitor_interval).to_dict() for m in modes}

    (args.out / "ranks").mkdir(parents=True, exist_ok=True)
    (args.out / "ranks" / f"rank{rank()}.json").write_text(json.dumps(
        {"rank": rank(), "world_size": world_size(), "seed": args.seed,
         "runs": {m: {k: r[k] for k in ("digests", "losses", "objective", "weights_digest")}
                  for m, r in runs.items()}}))
    if rank() > 0:
        return 0
    freq = np.bincount(np.concatenate([t["labels"].numpy() for _, t in train_data]), minlength=4)[1:]
    summary = {"config": {"steps": steps, "size": size, "seed": args.seed, "images_per_step": 2 * world_size(),
                          "world_size": world_size(),
                          "device": str(device), "torch": torch.__version__,
                          "class_names": CLASS_NAMES, "train_objects_per_class": freq.tolist(),
                          "model": "fasterrcnn_mobilenet_v3_large_320_fpn (from scratch)"},
               "runs": runs}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for m, r in runs.items():  # monitor logs, for: bbgen report --training-log OUT/objective_<mode>.json
        if r["objective"] is not None:
            (args.out / f"objective_{m.replace('+', '_')}.json").write_text(json.dumps(r["objective"]))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    plot_losses(runs, axes[0])
    plot_class_mix(runs, axes[1])
    plot_recall(runs, axes[2])
    fig.tight_layout()
    fig.savefig(args.out / "train_frcnn_proi.png", dpi=110)
    plt.close(fig)

    print(f"objects per class in the training set: {dict(zip(CLASS_NAMES, freq.tolist()))}")
    print(f"{'mode':<10} {'pos/step':>8} {'class share of positives':>25} {'in-image balance':>16} "
          f"{'loss_cls':>9} {'loss_box':>9} {'recall@0.5 per class':>21} {'s':>5}")
    for m, r in runs.items():
        s = r["summary"]
        share = "/".join(f"{x:.2f}" for x in s["class_share_of_positives"])
        rec = "/".join(f"{x:.2f}" for x in s["recall_at_0.5"])
        bal = "n/a" if s["within_image_balance"] is None else f"{s['within_image_balance']:.2f}"
        print(f"{m:<10} {s['mean_positives_per_step']:>8.1f} {share:>25} {bal:>16} "
              f"{s['final_loss']['loss_classifier']:>9.3f} {s['final_loss']['loss_box_reg']:>9.3f} {rec:>21} "
              f"{r['seconds']:>5.0f}")
    print(f"wrote {args.out / 'summary.json'} and {args.out / 'train_frcnn_proi.png'}")
    return 0


if __name__ == "__main__":
    from _cli import run

    code = run(main)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    sys.exit(code)
