"""Sparse matching gives exactly what dense torchvision matching (box_iou + Matcher) gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bbgen.anchors import AnchorConfig, anchor_config, detector_view, grid_anchors, scale_boxes
from bbgen.anchors.assigners import ATSSAssigner, MaxIoUAssigner, assigner_config, max_iou_matches
from bbgen.anchors.maxiou import match_anchors

tv = pytest.importorskip("torchvision")
from torchvision.models.detection._utils import Matcher, SSDMatcher  # noqa: E402
from torchvision.models.detection.transform import resize_boxes  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402


def _random_dataset(rng: np.random.Generator, n: int, lo: int = 60, hi: int = 1000):
    sizes = rng.integers(lo, hi, (n, 2)).astype(np.float64)
    boxes, img = [], []
    for i, (w, h) in enumerate(sizes):
        k = int(rng.integers(0, 12))
        bw = np.exp(rng.uniform(np.log(1.0), np.log(w), k))
        bh = np.exp(rng.uniform(np.log(1.0), np.log(h), k))
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        b = np.stack([x, y, x + bw, y + bh], 1)
        if k >= 2:  # exact duplicates and integer boxes create IoU ties
            b[1] = b[0]
            b[-1] = np.round(b[-1])
        boxes.append(b)
        img += [i] * k
    return sizes, np.concatenate(boxes), np.asarray(img, dtype=np.int64)


def _dense(sizes, boxes, img, cfg: AnchorConfig, asg):
    """Per image: (positive anchor idx, matched GT row, IoU, #ignored, #negatives) with torchvision."""
    resized, padded = detector_view(sizes, cfg)
    if isinstance(asg, MaxIoUAssigner):
        matcher = SSDMatcher(asg.high) if asg.ssd_rule else Matcher(asg.high, asg.low, asg.allow_low_quality)
    out = []
    for i, (w, h) in enumerate(sizes.astype(int).tolist()):
        anchors = grid_anchors(cfg, tuple(padded[i].tolist()))
        rows = np.flatnonzero(img == i)
        if len(rows) == 0:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), 0, len(anchors)))
            continue
        gt = resize_boxes(torch.tensor(boxes[rows], dtype=torch.float32), [h, w],
                          [int(resized[i, 1]), int(resized[i, 0])])
        iou = box_iou(gt, anchors)
        m = matcher(iou) if isinstance(asg, MaxIoUAssigner) else _dense_atss(gt, anchors, cfg, padded[i], asg, iou)
        p = torch.where(m >= 0)[0]
        out.append((p.numpy(), rows[m[p].numpy()], iou[m[p], p].numpy(), int((m == -2).sum()), int((m == -1).sum())))
    return out


def _dense_atss(gt, anchors, cfg, padded, asg: ATSSAssigner, iou):
    """Dense ATSS reference: stable top-k by centre distance per level, mean + std, centre inside."""
    from bbgen.anchors import level_geometry

    levels, total = level_geometry(np.asarray([padded]), cfg)
    bounds = [int(g.offset[0]) for g in levels] + [int(total[0])]
    a = anchors.numpy()
    g = gt.numpy()
    two = np.float32(2)
    acx, acy = (a[:, 0] + a[:, 2]) / two, (a[:, 1] + a[:, 3]) / two
    gcx, gcy = (g[:, 0] + g[:, 2]) / two, (g[:, 1] + g[:, 3]) / two
    claims = np.full((len(g), len(a)), -np.inf, np.float32)
    for j in range(len(g)):
        dx, dy = gcx[j] - acx, gcy[j] - acy
        dist = np.sqrt(dx * dx + dy * dy)
        cand = np.concatenate([lo + np.argsort(dist[lo:hi], kind="stable")[:asg.topk]
                               for lo, hi in zip(bounds[:-1], bounds[1:])])
        v = iou[j].numpy()[cand]
        thr = v.astype(np.float64).mean() + v.astype(np.float64).std(ddof=1)
        inside = np.minimum(np.minimum(acx[cand] - g[j, 0], acy[cand] - g[j, 1]),
                            np.minimum(g[j, 2] - acx[cand], g[j, 3] - acy[cand])) > np.float32(asg.centre_eps)
        ok = cand[(v >= thr) & inside]
        claims[j, ok] = iou[j].numpy()[ok]
    best = claims.max(0)
    m = torch.from_numpy(claims.argmax(0)).long()
    m[torch.from_numpy(best == -np.inf)] = -1
    return m


def _assert_same(sizes, boxes, img, cfg, asg):
    from bbgen.anchors import level_geometry

    resized, padded = detector_view(sizes, cfg)
    res = match_anchors(scale_boxes(boxes, sizes[img], resized[img]), img, padded, cfg, asg, chunk_boxes=17)
    levels, _ = level_geometry(padded, cfg)
    offsets = np.stack([g.offset for g in levels], 1)
    for i, (p, gt, v, ign, neg) in enumerate(_dense(sizes, boxes, img, cfg, asg)):
        sel = res.pos_image == i
        np.testing.assert_array_equal(res.pos_anchor[sel], p, err_msg=f"image {i}: positive anchors")
        np.testing.assert_array_equal(res.pos_level[sel], np.searchsorted(offsets[i], p, side="right") - 1)
        np.testing.assert_array_equal(res.pos_boxes[sel], grid_anchors(cfg, tuple(padded[i].tolist())).numpy()[p])
        np.testing.assert_array_equal(res.pos_gt[sel], gt, err_msg=f"image {i}: matched GT")
        np.testing.assert_array_equal(res.pos_iou[sel], v, err_msg=f"image {i}: IoU")
        assert (res.positives[i], res.ignored[i], res.negatives[i]) == (len(p), ign, neg), f"image {i}"
    return res


@pytest.mark.parametrize("name", ["retinanet", "rpn", "ssd300"])
def test_presets_identical_to_dense_torchvision(name):
    rng = np.random.default_rng(1)
    sizes, boxes, img = _random_dataset(rng, 8)
    res = _assert_same(sizes, boxes, img, anchor_config(name), assigner_config("maxiou", name))
    assert res.positives.sum() > 0 and len(np.unique(res.pos_level)) > 1


@pytest.mark.parametrize("asg", [MaxIoUAssigner(0.6, 0.3, False), MaxIoUAssigner(0.5, 0.5, True),
                                 MaxIoUAssigner(0.7, 0.2, True), MaxIoUAssigner(0.35, 0.1, True)])
def test_thresholds_and_low_quality_identical_on_small_views(asg):
    cfg = AnchorConfig("small", ((16, 24), (48,), (96, 160)), ((0.5, 1.0, 2.0), (1.0,), (0.33, 3.0)),
                       (8, 16, 32), ("a", "b", "c"), min_size=200, max_size=333)
    rng = np.random.default_rng(2)
    sizes, boxes, img = _random_dataset(rng, 40)
    _assert_same(sizes, boxes, img, cfg, asg)


_coord = st.one_of(st.integers(0, 150), st.floats(0, 150, allow_nan=False))
_TINY = AnchorConfig("tiny", ((12, 20), (40,)), ((0.5, 1.0, 2.0), (1.0, 3.0)), (8, 16), ("a", "b"),
                     min_size=120, max_size=160)


@settings(max_examples=25, deadline=None)
@given(raw=st.lists(st.tuples(_coord, _coord, st.floats(0.5, 120), st.floats(0.5, 120)), min_size=1, max_size=8),
       dup=st.booleans(), asg=st.sampled_from([MaxIoUAssigner(0.5, 0.4, True), MaxIoUAssigner(0.6, 0.3, False),
                                               MaxIoUAssigner(0.5, 0.5, False, ssd_rule=True), ATSSAssigner(4)]))
def test_property_identical_to_dense(raw, dup, asg):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in raw], dtype=np.float64)
    if dup:
        boxes = np.concatenate([boxes, boxes[:1]])
    img = np.zeros(len(boxes), np.int64)
    _assert_same(np.array([[160.0, 120.0]]), boxes, img, _TINY, asg)


def test_gt_overlapping_no_anchor_falls_back_to_dense_semantics():
    # 2-px anchors every 32 px: a GT between grid points has best IoU 0, and torchvision then makes
    # every zero-IoU anchor a "low-quality" positive.  The sparse path must reproduce that exactly.
    cfg = AnchorConfig("sparse", ((2,),), ((1.0,),), (32,), ("a",), min_size=128, max_size=128)
    sizes = np.array([[128.0, 128.0], [128.0, 128.0]])
    boxes = np.array([[10.0, 10.0, 20.0, 20.0], [31.0, 31.0, 33.0, 33.0], [40.0, 40.0, 60.0, 50.0]])
    img = np.array([0, 1, 1])
    res = _assert_same(sizes, boxes, img, cfg, MaxIoUAssigner(0.5, 0.4, True))
    assert res.positives[0] == res.total[0]


def test_identical_on_real_coco_and_taco_images(shared_data):
    from bbgen.datasets import load
    from bbgen.datasets.coco import read_coco
    from bbgen.datasets.torchcv import coco_from_torchcv

    root = shared_data / "coco2017_val_torchcv"
    coco = read_coco(root / "coco17_val.txt",
                     coco_from_torchcv(root / "coco17_val.txt", root / "image_sizes.json", root / "labels.txt"))
    taco = load(shared_data / "taco" / "annotations.json")
    for ds, n, name in ((coco, 14, "retinanet"), (coco, 6, "rpn"), (taco, 6, "retinanet")):
        counts = np.bincount(ds.box_image, minlength=ds.num_images)
        images = np.flatnonzero(counts > 0)[:n]
        sel = np.isin(ds.box_image, images)
        b = ds.boxes[sel]
        keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        img = np.searchsorted(images, ds.box_image[sel][keep])
        _assert_same(ds.image_sizes[images], b[keep], img, anchor_config(name), assigner_config("maxiou", name))


@pytest.mark.parametrize("name", ["retinanet", "single", "ssd300", "rpn"])
def test_atss_identical_to_dense_reference(name):
    cfg = AnchorConfig("single", ((32,), (64,), (128,)), ((1.0,),) * 3, (8, 16, 32), ("P3", "P4", "P5"),
                       min_size=256, max_size=400) if name == "single" else anchor_config(name)
    rng = np.random.default_rng(3)
    sizes, boxes, img = _random_dataset(rng, {"retinanet": 5, "rpn": 3}.get(name, 25))
    res = _assert_same(sizes, boxes, img, cfg, ATSSAssigner(9))
    assert res.positives.sum() > 0 and res.ignored.sum() == 0


def test_images_without_boxes_are_all_negative():
    cfg = anchor_config("retinanet")
    res = match_anchors(np.zeros((0, 4)), np.zeros(0, np.int64), np.array([[640, 480]]), cfg, MaxIoUAssigner())
    assert res.positives.tolist() == [0] and res.negatives.tolist() == [len(grid_anchors(cfg, (640, 480)))]


def test_bad_inputs_raise_clear_errors():
    cfg = anchor_config("retinanet")
    with pytest.raises(ValueError, match="gt_image"):
        match_anchors(np.zeros((2, 4)), np.array([0, 5]), np.array([[640, 480]]), cfg, MaxIoUAssigner())
    with pytest.raises(ValueError, match="finite"):
        match_anchors(np.array([[0, 0, np.nan, 4]]), np.array([0]), np.array([[640, 480]]), cfg, MaxIoUAssigner())
    with pytest.raises(ValueError, match="low"):
        MaxIoUAssigner(0.3, 0.5)
    with pytest.raises(ValueError, match="assigner"):
        assigner_config("hungarian")
    with pytest.raises(ValueError, match="topk"):
        ATSSAssigner(0)
    with pytest.raises(ValueError, match="iou"):
        max_iou_matches(torch.zeros(0, 5), MaxIoUAssigner())


@pytest.mark.parametrize("asg", [MaxIoUAssigner(0.5, 0.375, False), MaxIoUAssigner(0.5, 0.375, True)])
def test_iou_exactly_at_the_low_threshold(asg):
    """IoU == low (exactly representable, 3/8) is 'ignored', not negative; with low-quality matches the tied
    best anchors of the GT become positive. Two 32-px anchors tie at IoU 0.375 with this GT."""
    cfg = AnchorConfig("exact", ((32,),), ((1.0,),), (16,), ("a",), min_size=128, max_size=128)
    sizes = np.array([[128.0, 128.0]])
    boxes = np.array([[16.0, 16.0, 48.0, 28.0]])
    res = _assert_same(sizes, boxes, np.zeros(1, np.int64), cfg, asg)
    if asg.allow_low_quality:
        assert res.positives[0] == 2 and np.all(res.pos_iou == np.float32(0.375))
    else:
        assert res.positives[0] == 0 and res.ignored[0] >= 2


@pytest.mark.parametrize("asg", [MaxIoUAssigner(), MaxIoUAssigner(0.5, 0.4, False), MaxIoUAssigner(0.5, 0.5, False, True)])
def test_max_iou_matches_accepts_numpy_like_torch(asg):
    iou = np.random.default_rng(0).random((4, 30)) * 0.8
    for arr in (iou, iou.astype(np.float32), iou[:, ::-1]):  # a reversed view too (negative strides)
        got = max_iou_matches(arr, asg)  # was "max() received an invalid combination of arguments"
        assert torch.equal(got, max_iou_matches(torch.from_numpy(arr.copy()), asg))


@pytest.mark.parametrize("iou, asg, match", [
    ([[0.5, 0.2]], MaxIoUAssigner(), r"iou must be a torch.Tensor or numpy.ndarray \[G, K\], got list"),
    (np.array([["0.5"]]), MaxIoUAssigner(), "iou must be a float16, float32 or float64 array, got dtype <U3"),
    (np.eye(2, dtype=np.uint32), MaxIoUAssigner(), "iou must be a float16, float32 or float64 array, got dtype uint32"),
    (np.eye(2), ATSSAssigner(), "assigner must be a MaxIoUAssigner, got ATSSAssigner"),
    (torch.eye(2), "maxiou", "assigner must be a MaxIoUAssigner, got str"),
])
def test_max_iou_matches_names_bad_types(iou, asg, match):
    with pytest.raises(TypeError, match=match):
        max_iou_matches(iou, asg)
