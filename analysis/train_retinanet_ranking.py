"""Train a small torchvision RetinaNet on the shapes dataset with Focal Loss, RS Loss and aLRP Loss.

Every mode starts from the same weights and sees the same images in the same order (thesis Ch. 7–8:
the ranking-based losses replace Focal Loss and the box-loss weight; only the learning rate is
shared). After training, the held-out images are evaluated with LRP Error (thesis Ch. 5): moLRP with
its localisation / FP / FN components, the LRP-optimal thresholds per class, and COCO AP. Writes
``summary.json`` and a figure (loss curves, LRP components per mode).

    python analysis/train_retinanet_ranking.py [--steps 150] [--quick] [--modes focal,rs,alrp] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bbgen.datasets.shapes import CLASS_NAMES, make_dataset
from bbgen.evaluation.predictions import evaluate_model

MODES = ("focal", "rs", "alrp", "ap")


def build_model(size: int, seed: int) -> Any:
    """RetinaNet with a ResNet-18 FPN (P3–P7) from scratch, anchors scaled to 128-px images."""
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    torch.manual_seed(seed)  # torchvision initialises its weights from the global RNG
    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5,
                                   returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in (8, 16, 32, 64, 128))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
    return RetinaNet(backbone, num_classes=len(CLASS_NAMES) + 1, anchor_generator=anchors, min_size=size,
                     max_size=size, score_thresh=0.0, detections_per_img=100)


def train(mode: str, train_data: list, test_data: list, steps: int, size: int, seed: int, lr: float,
          progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    from bbgen.integrations.ranking import use_ranking_loss

    model = build_model(size, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    handle = None if mode == "focal" else use_ranking_loss(model, mode, sb_period=max(1, steps // 10))
    losses: dict[str, list[float]] = {}
    model.train()
    t0 = time.perf_counter()
    for step in tqdm(range(steps), desc=mode, disable=not progress, file=sys.stderr):
        batch = [train_data[(2 * step + i) % len(train_data)] for i in range(2)]
        out = model([b[0] for b in batch], [b[1] for b in batch])
        opt.zero_grad()
        sum(out.values()).backward()
        opt.step()
        for k, v in out.items():
            losses.setdefault(k, []).append(float(v.detach()))
    seconds = time.perf_counter() - t0
    if handle is not None:
        handle.restore()
    result = evaluate_model(model, test_data, CLASS_NAMES)
    return {"mode": mode, "losses": losses, "seconds": seconds, "stats": result.stats,
            "per_class": result.per_class()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150, help="training steps per mode (2 images each)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 steps, tiny data")
    p.add_argument("--modes", default="focal,rs,alrp", help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (shared by every mode)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("results/train_retinanet_ranking"), help="output folder")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        p.error(f"--modes must be a subset of {','.join(MODES)}, got {args.modes!r}")
    if args.steps < 1 or args.size < 64 or args.threads < 1 or not args.lr > 0:
        p.error("need --steps >= 1, --size >= 64, --threads >= 1, --lr > 0")
    from _cli import require_torchvision, write_results  # analysis/ is on sys.path when a script runs

    require_torchvision(p, "this example")
    torch.set_num_threads(args.threads)
    steps, size = (3, 64) if args.quick else (args.steps, args.size)
    train_data = make_dataset(4 if args.quick else 400, size, args.seed)
    test_data = make_dataset(2 if args.quick else 50, size, args.seed + 1)
    runs = {m: train(m, train_data, test_data, steps, size, args.seed, args.lr) for m in modes}
    payload = {"config": {"steps": steps, "size": size, "seed": args.seed, "lr": args.lr, "images_per_step": 2,
                          "model": "RetinaNet, ResNet-18 FPN P3-P7 from scratch", "torch": torch.__version__},
               "runs": runs}

    def draw(png: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from bbgen.plot.lrp import plot_lrp_components

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        for m, r in runs.items():
            total = [sum(v) for v in zip(*r["losses"].values())]
            axes[0].plot(total, label=m)
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("training loss (classification + box)")
        axes[0].legend()
        plot_lrp_components({m: r["stats"] for m, r in runs.items()}, axes[1])
        axes[1].set_title("held-out LRP components (thesis Ch. 5)")
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        plt.close(fig)

    write_results(args.out / "summary.json", payload, draw)
    print(f"{'mode':<6} {'moLRP':>6} {'loc':>6} {'FP':>6} {'FN':>6} {'AP':>6} {'AP50':>6} {'s':>6}")
    for m, r in runs.items():
        s = r["stats"]
        row = [s[k] for k in ("moLRP", "moLRP_loc", "moLRP_fp", "moLRP_fn", "AP", "AP50")]
        print(f"{m:<6} " + " ".join(f"{x:>6.3f}" for x in row) + f" {r['seconds']:>6.0f}")
    return 0


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
