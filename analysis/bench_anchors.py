"""Benchmark of exact sparse anchor matching against dense torchvision matching (issue 6).

Measures, in one process:

(a) dense torchvision matching (``resize_boxes`` + ``box_iou`` + ``Matcher``, anchors from
    ``AnchorGenerator`` cached per padded size, so anchor generation is not charged to it) vs
    :func:`bbgen.anchors.maxiou.match_anchors` (everything included: view, scaling, windows, matching) on
    the same images: RetinaNet anchors, 960x640 images seen at 1200x800 (padded 1216x800), synthetic
    COCO-like boxes (~7 per image).  The two results are compared anchor by anchor (positives, their
    matched GT and IoU, ignored and negative counts) and the check is reported;
(b) :func:`bbgen.imbalance.anchor_imbalance` (matching + every statistic) on a COCO-train-sized
    synthetic dataset (118,287 images, ~860 k boxes), with a progress bar.

Targets: (a) >= 50x faster with identical results; (b) <= 120 s on the 2-core CPU machine.
Prints a table and writes JSON (``--out``, default ``results/bench_anchors.json``).

Usage::

    .venv/bin/python analysis/bench_anchors.py [--quick] [--dense-images N] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bbgen.anchors import anchor_config, detector_view, feature_sizes, scale_boxes
from bbgen.anchors.assigners import assigner_config
from bbgen.datasets import synthetic
from bbgen.imbalance import anchor_profile
from bbgen.anchors.maxiou import match_anchors

IMAGE_SIZE = (960.0, 640.0)  # seen by the detector at 1200x800, padded to 1216x800
COCO_TRAIN = (118287, 7.27)  # images, boxes per image (860 k boxes)
TARGET_SPEEDUP, TARGET_SECONDS = 50.0, 120.0


def bench_images(n: int, seed: int):
    """Synthetic COCO-like boxes rescaled onto ``IMAGE_SIZE`` images: (sizes [n, 2], boxes, box_image)."""
    ds = synthetic(n, generator=seed)
    scale = np.asarray(IMAGE_SIZE) / ds.image_sizes[ds.box_image]
    boxes = ds.boxes * np.concatenate([scale, scale], 1)
    return np.tile(np.asarray(IMAGE_SIZE), (n, 1)), boxes, ds.box_image


def dense_torchvision(sizes, boxes, img, name: str):
    """Dense matching per image with torchvision; returns (seconds, per-image results)."""
    from torchvision.models.detection._utils import Matcher
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    from torchvision.models.detection.transform import resize_boxes
    from torchvision.ops import box_iou

    cfg = anchor_config(name)
    asg = assigner_config("maxiou", name)
    matcher = Matcher(asg.high, asg.low, asg.allow_low_quality)
    gen = AnchorGenerator(cfg.sizes, cfg.aspect_ratios)
    resized, padded = detector_view(sizes, cfg)
    cache = {}
    for p in {tuple(x) for x in padded.tolist()}:  # anchors are not charged to the dense path
        maps = [torch.zeros(1, 1, int(h), int(w)) for w, h in feature_sizes(np.array([p]), cfg)[0]]
        cache[p] = gen(ImageList(torch.zeros(1, 3, p[1], p[0]), [(p[1], p[0])]), maps)[0]
    rows = [np.flatnonzero(img == i) for i in range(len(sizes))]
    gts = [torch.tensor(boxes[r], dtype=torch.float32) for r in rows]
    out = []
    t0 = time.perf_counter()
    for i, (w, h) in enumerate(sizes.astype(int).tolist()):
        anchors = cache[tuple(padded[i].tolist())]
        gt = resize_boxes(gts[i], [h, w], [int(resized[i, 1]), int(resized[i, 0])])
        iou = box_iou(gt, anchors)
        m = matcher(iou)
        out.append(m)
    seconds = time.perf_counter() - t0
    results = []
    for i, m in enumerate(out):
        p = torch.where(m >= 0)[0]
        results.append((p.numpy(), rows[i][m[p].numpy()], int((m == -2).sum()), int((m == -1).sum())))
    return seconds, results


def sparse_bbgen(sizes, boxes, img, name: str):
    cfg = anchor_config(name)
    asg = assigner_config("maxiou", name)
    t0 = time.perf_counter()
    resized, padded = detector_view(sizes, cfg)
    res = match_anchors(scale_boxes(boxes, sizes[img], resized[img]), img, padded, cfg, asg)
    return time.perf_counter() - t0, res


def identical(res, dense) -> bool:
    for i, (p, gt, ign, neg) in enumerate(dense):
        sel = res.pos_image == i
        if not (np.array_equal(res.pos_anchor[sel], p) and np.array_equal(res.pos_gt[sel], gt)
                and res.ignored[i] == ign and res.negatives[i] == neg):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (few images)")
    ap.add_argument("--dense-images", type=int, default=None, help="images for the dense comparison (default 60)")
    ap.add_argument("--train-images", type=int, default=None,
                    help=f"images of the COCO-train-sized profile (default {COCO_TRAIN[0]})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--out", default="results/bench_anchors.json")
    args = ap.parse_args(argv)
    n_dense = args.dense_images or (4 if args.quick else 60)
    n_train = args.train_images or (1500 if args.quick else COCO_TRAIN[0])
    if n_dense < 1 or n_train < 1:
        print("error: --dense-images and --train-images must be >= 1", file=sys.stderr)
        return 2

    sizes, boxes, img = bench_images(n_dense, args.seed)
    sparse_bbgen(sizes[:2], boxes[img < 2], img[img < 2], "retinanet")  # warm-up (imports, caches)
    t_dense, dense = dense_torchvision(sizes, boxes, img, "retinanet")
    t_sparse, res = sparse_bbgen(sizes, boxes, img, "retinanet")
    same = identical(res, dense)

    ds = synthetic(n_train, boxes_per_image=COCO_TRAIN[1], generator=args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    prof = anchor_profile(ds, "retinanet", "maxiou", progress=not args.no_progress)
    t_train, cpu_train = time.perf_counter() - t0, time.process_time() - c0

    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "load_avg": list(os.getloadavg())},
        "comparison": {"images": n_dense, "boxes": int(len(boxes)), "image_size": list(IMAGE_SIZE),
                       "padded": [1216, 800], "anchors_per_image": int(res.total[0]),
                       "dense_s": t_dense, "sparse_s": t_sparse,
                       "dense_ms_per_image": 1e3 * t_dense / n_dense,
                       "sparse_ms_per_image": 1e3 * t_sparse / n_dense,
                       "speedup": t_dense / t_sparse, "identical": same,
                       "positives": int(res.positives.sum()), "ignored": int(res.ignored.sum())},
        "coco_train_sized": {"images": ds.num_images, "boxes": ds.num_boxes, "seconds": t_train,
                             "cpu_seconds": cpu_train,
                             "ms_per_image": 1e3 * t_train / ds.num_images,
                             "mean_positives": float(prof.positives.mean()),
                             "fg_bg_ratio": prof.fg_bg_ratio},
        "targets": {"speedup": TARGET_SPEEDUP, "coco_train_seconds": TARGET_SECONDS},
        "quick": bool(args.quick),
    }
    c, t = result["comparison"], result["coco_train_sized"]
    print(f"{'case':<44}{'time':>12}{'ratio':>10}")
    print(f"{'dense torchvision (box_iou + Matcher)':<44}{c['dense_ms_per_image']:>9.2f} ms{1.0:>10.1f}")
    print(f"{'bbgen sparse (match_anchors)':<44}{c['sparse_ms_per_image']:>9.2f} ms{c['speedup']:>9.1f}x")
    print(f"identical results on {n_dense} images: {same}")
    print(f"anchor_profile, {t['images']} images / {t['boxes']} boxes: {t['seconds']:.1f} s wall, "
          f"{t['cpu_seconds']:.1f} s CPU ({t['ms_per_image']:.3f} ms/image; target {TARGET_SECONDS:.0f} s "
          f"for COCO train); load average {os.getloadavg()[0]:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0 if same else 1


if __name__ == "__main__":
    from _cli import run

    sys.exit(run(main))
