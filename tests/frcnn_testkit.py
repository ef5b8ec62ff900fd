"""A tiny torchvision Faster R-CNN, a fixed two-image batch and the inputs its RoI heads see (shared by tests)."""
from __future__ import annotations

import torch


def tiny_model(seed: int = 0, num_classes: int = 4, **kwargs):
    """``fasterrcnn_mobilenet_v3_large_320_fpn`` without weights, 128-px images, small RPN/RoI batches."""
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(seed)  # torchvision initialises its weights from the global RNG
    cfg = dict(min_size=128, max_size=128, rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=300,
               rpn_batch_size_per_image=64, box_batch_size_per_image=64)
    cfg.update(kwargs)
    return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=num_classes, **cfg)


def tiny_batch(seed: int = 0):
    """Two images (96x96, 80x96) with 4 and 2 GTs of 3 classes."""
    g = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, 96, 96, generator=g), torch.rand(3, 80, 96, generator=g)]
    targets = [
        {"boxes": torch.tensor([[8., 8., 40., 50.], [30., 20., 70., 60.], [50., 50., 90., 90.], [5., 60., 30., 90.]]),
         "labels": torch.tensor([1, 1, 1, 2])},
        {"boxes": torch.tensor([[10., 10., 60., 70.], [40., 5., 90., 40.]]), "labels": torch.tensor([3, 2])},
    ]
    return images, targets


def capture_roi_inputs(model, images, targets):
    """features, proposals, image_shapes and (resized) targets that reach ``model.roi_heads``."""
    seen = {}

    def hook(module, args):
        seen["args"] = args

    h = model.roi_heads.register_forward_pre_hook(hook)
    try:
        model.train()
        with torch.no_grad():
            model(images, targets)
    finally:
        h.remove()
    features, proposals, image_shapes, tgts = seen["args"]
    return features, proposals, image_shapes, tgts
