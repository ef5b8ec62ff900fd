"""Anchor sets and the detector view are bit-for-bit torchvision's."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bbgen.anchors import (AnchorConfig, anchor_config, detector_view, feature_sizes, grid_anchors,
                           level_geometry, load_anchor_config, scale_boxes)

tv = pytest.importorskip("torchvision")
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator  # noqa: E402
from torchvision.models.detection.image_list import ImageList  # noqa: E402
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes  # noqa: E402


def _torchvision_anchors(cfg: AnchorConfig, padded: tuple[int, int]) -> torch.Tensor:
    pw, ph = padded
    fs = feature_sizes(np.array([padded]), cfg)[0]
    il = ImageList(torch.zeros(1, 3, ph, pw), [(ph, pw)])
    maps = [torch.zeros(1, 1, int(h), int(w)) for w, h in fs]
    if cfg.kind == "ssd":
        gen = DefaultBoxGenerator([[int(r) for r in rs] for rs in cfg.aspect_ratios],
                                  scales=list(cfg.ssd_scales), steps=list(cfg.strides))
    else:
        gen = AnchorGenerator(cfg.sizes, cfg.aspect_ratios)
    return gen(il, maps)[0]


@pytest.mark.parametrize("name", ["retinanet", "rpn"])
@pytest.mark.parametrize("padded", [(1216, 800), (800, 800), (1344, 768), (640, 480), (96, 64), (800, 1088)])
def test_presets_equal_torchvision_anchor_generator(name, padded):
    cfg = anchor_config(name)
    assert torch.equal(grid_anchors(cfg, padded), _torchvision_anchors(cfg, padded))


def test_ssd300_equals_default_box_generator():
    cfg = anchor_config("ssd300")
    ours = grid_anchors(cfg, (300, 300))
    assert ours.shape == (8732, 4)
    assert torch.equal(ours, _torchvision_anchors(cfg, (300, 300)))


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.lists(st.integers(4, 300), min_size=1, max_size=3), min_size=1, max_size=3),
       ratios=st.lists(st.floats(0.2, 5.0), min_size=1, max_size=3),
       pw=st.integers(1, 12), ph=st.integers(1, 12))
def test_user_configs_equal_torchvision(sizes, ratios, pw, ph):
    n = len(sizes)
    cfg = AnchorConfig("user", tuple(tuple(s) for s in sizes), (tuple(ratios),) * n,
                       tuple(8 * 2 ** i for i in range(n)), tuple(f"L{i}" for i in range(n)))
    padded = (32 * pw, 32 * ph)
    assert torch.equal(grid_anchors(cfg, padded), _torchvision_anchors(cfg, padded))


def test_level_geometry_counts_and_torchvision_strides():
    cfg = anchor_config("retinanet")
    levels, total = level_geometry(np.array([[1216, 800]]), cfg)
    assert [(int(g.width[0]), int(g.height[0])) for g in levels] == [(152, 100), (76, 50), (38, 25), (19, 13),
                                                                        (10, 7)]
    # torchvision's stride is padded // feature size: 800 // 13 = 61 on P6, not 64
    assert int(levels[3].step_y[0]) == 61 and int(levels[3].step_x[0]) == 64
    assert int(total[0]) == len(grid_anchors(cfg, (1216, 800)))


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (500, 375), (1333, 200), (333, 1999), (800, 800)])
def test_detector_view_equals_generalized_rcnn_transform(size):
    w, h = size
    cfg = anchor_config("retinanet")
    t = GeneralizedRCNNTransform(cfg.min_size, cfg.max_size, [0.0] * 3, [1.0] * 3).eval()
    images, _ = t([torch.zeros(3, h, w)])
    resized, padded = detector_view(np.array([size]), cfg)
    rh, rw = images.image_sizes[0]
    assert (int(resized[0, 0]), int(resized[0, 1])) == (rw, rh)
    assert tuple(images.tensors.shape[-2:]) == (int(padded[0, 1]), int(padded[0, 0]))
    boxes = np.array([[10.3, 20.7, 100.1, 200.9], [0.0, 0.0, w, h]])
    ref = resize_boxes(torch.tensor(boxes, dtype=torch.float32), [h, w], [rh, rw])
    assert torch.equal(torch.from_numpy(scale_boxes(boxes, np.array([size] * 2), resized.repeat(2, 0))), ref)


def test_feature_sizes_match_resnet_fpn_backbone():
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    bb = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5,
                             returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)).eval()
    with torch.no_grad():
        feats = bb(torch.zeros(1, 3, 352, 480))
    got = [(f.shape[-1], f.shape[-2]) for f in feats.values()]
    assert got == [tuple(x) for x in feature_sizes(np.array([[480, 352]]), anchor_config("retinanet"))[0].tolist()]


def test_fixed_size_view_for_ssd():
    resized, padded = detector_view(np.array([[640, 480], [17, 900]]), anchor_config("ssd300"))
    assert resized.tolist() == [[300, 300], [300, 300]] and padded.tolist() == [[300, 300], [300, 300]]


def test_load_anchor_config_roundtrip_and_errors(tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"sizes": [[32, 64], [128]], "aspect_ratios": [0.5, 1.0], "strides": [8, 16]}))
    cfg = anchor_config(str(good))
    assert cfg.sizes == ((32.0, 64.0), (128.0,)) and cfg.aspect_ratios == ((0.5, 1.0),) * 2
    assert torch.equal(grid_anchors(cfg, (320, 256)), _torchvision_anchors(cfg, (320, 256)))
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="b.json"):
        load_anchor_config(bad)
    bad.write_text(json.dumps({"sizes": [[32]], "strides": [8]}))
    with pytest.raises(ValueError, match="aspect_ratios"):
        load_anchor_config(bad)
    bad.write_text(json.dumps({"sizes": [[-3]], "aspect_ratios": [1.0], "strides": [8]}))
    with pytest.raises(ValueError, match="positive"):
        load_anchor_config(bad)
    with pytest.raises(ValueError, match="anchors"):
        anchor_config("yolo")


def test_detector_view_rejects_bad_sizes():
    with pytest.raises(ValueError, match="image_sizes"):
        detector_view(np.array([[0, 10]]), anchor_config("rpn"))
    with pytest.raises(ValueError, match="image_sizes"):
        detector_view(np.array([1, 2, 3]), anchor_config("rpn"))


def test_cached_anchor_arrays_are_read_only():
    from bbgen.anchors import anchor_columns, anchor_config, cell_anchors

    config = anchor_config("retinanet")
    cells = cell_anchors(config)
    with pytest.raises(ValueError, match="read-only"):
        cells[0][0, 0] = 1.0
    for arr in anchor_columns(config):
        assert not arr.flags.writeable
    assert float(cell_anchors(config)[0][0, 0]) == float(cells[0][0, 0])


def test_scale_boxes_feature_sizes_and_chunk_plan_reject_bad_input():
    from bbgen.anchors import chunk_plan, scale_boxes

    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    for original, resized, match in [((0, 100), (200, 200), "original sizes must be finite and > 0, got 0.0"),
                                     ((100, 100), (np.nan, 200), "resized sizes must be finite and > 0, got nan"),
                                     ((100, 100, 3), (200, 200), r"original must hold \(width, height\)")]:
        with pytest.raises(ValueError, match=match):  # 0 and NaN sizes gave inf/NaN boxes
            scale_boxes(box, original, resized)
    cfg = anchor_config("retinanet")
    for padded in ([[0, 0]], [[-64, 64]], [[np.nan, 64]]):
        with pytest.raises(ValueError, match="padded must hold"):  # gave 0, negative or 2**60 cells
            feature_sizes(np.array(padded), cfg)
    with pytest.raises(ValueError, match="padded must hold"):  # was an AssertionError
        grid_anchors(cfg, (-64, 64))
    with pytest.raises(ValueError, match="chunk_boxes must be a positive int, got 0"):  # was ZeroDivisionError
        chunk_plan(np.array([0, 0, 1]), 2, 0)
    with pytest.raises(ValueError, match=r"gt_image must hold image rows in \[0, num_images = 2\), got 5"):
        chunk_plan(np.array([0, 5]), 2)  # the GT of image 5 was silently left out


@pytest.mark.parametrize("padded", [(64,), (64, 64, 3), [[64, 64], [32, 32]], "64x64", [[64, 64], 3]])
def test_grid_anchors_names_padded_and_its_shape(padded):
    with pytest.raises(ValueError, match=r"padded must be one image size \(width, height\) of shape \(2,\)"):
        grid_anchors(anchor_config("retinanet"), padded)  # (64,) was numpy's "cannot reshape array of size 1"


def test_level_geometry_names_padded_before_reshaping():
    cfg = anchor_config("retinanet")
    with pytest.raises(ValueError, match=r"padded must hold \(width, height\) image sizes \[N, 2\]"):
        level_geometry(np.array([64, 64, 64]), cfg)  # was numpy's "cannot reshape array of size 3 into shape (2)"
    with pytest.raises(TypeError, match="padded must hold"):
        feature_sizes([("a", "b")], cfg)  # was numpy's "could not convert string to float"
