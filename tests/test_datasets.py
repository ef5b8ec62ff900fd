"""Readers on the real annotation files of ../shared/data, YOLO on a crafted tree, synthetic data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bbgen.datasets import Annotations, detect_format, load, synthetic, write_coco_from_torchcv

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def per_class(ann: Annotations) -> dict[str, int]:
    counts = np.bincount(ann.labels, minlength=ann.num_classes)
    return dict(zip(ann.category_names, counts.tolist()))


@pytest.fixture(scope="module")
def coco_val_json(shared_data, tmp_path_factory):
    """instances_val2017-style json assembled from the torchcv list and the official image sizes."""
    d = shared_data / "coco2017_val_torchcv"
    out = tmp_path_factory.mktemp("coco") / "instances_val2017.json"
    return write_coco_from_torchcv(d / "coco17_val.txt", d / "image_sizes.json", d / "labels.txt", out)


def test_taco_original_coco_json(shared_data):
    path = shared_data / "taco" / "annotations.json"
    assert detect_format(path) == "coco"
    ann = load(path)
    assert (ann.num_images, ann.num_boxes, ann.num_classes) == (1500, 4784, 60)
    assert ann.dropped == {} and not ann.crowd.any()
    counts = per_class(ann)
    assert counts["Cigarette"] == 667 and counts["Unlabeled litter"] == 517 and counts["Plastic film"] == 451
    assert counts["Plastified paper bag"] == 0 and counts["Carded blister pack"] == 1
    assert ann.source.endswith("annotations.json")


def test_bccd_voc_xml_reports_zero_size_boxes(shared_data):
    ann = load(shared_data / "bccd")
    assert ann.num_images == 364 and ann.category_names == ("Platelets", "RBC", "WBC")
    assert ann.dropped == {"zero_or_negative_size": 2}
    assert ann.num_boxes + 2 == 4888
    assert per_class(ann) == {"Platelets": 361, "RBC": 4155 - 2, "WBC": 372}
    assert np.all(ann.image_sizes == [640, 480])
    assert load(shared_data / "bccd", split="trainval").num_images == 292
    assert load(shared_data / "bccd", split="test").num_images == 72


def test_raccoon_voc_lowercase_annotations_dir(shared_data):
    ann = load(shared_data / "raccoon", format="voc")
    assert (ann.num_images, ann.num_boxes, ann.category_names, ann.dropped) == (200, 217, ("raccoon",), {})


@pytest.mark.parametrize("split,images,boxes", [("train", 2501, 7844), ("val", 2510, 7818), ("test", 4952, 14976)])
def test_voc2007_coco_style_json(shared_data, split, images, boxes):
    ann = load(shared_data / "voc2007" / "detectron_style_json" / f"pascal_{split}2007.json")
    assert (ann.num_images, ann.num_boxes, ann.category_names) == (images, boxes, VOC_CLASSES)
    if split == "test":
        counts = per_class(ann)
        assert counts["person"] == 5227 and counts["car"] == 1541 and counts["chair"] == 1374


def test_coco_val2017_assembled(coco_val_json):
    ann = load(coco_val_json)
    assert ann.num_images == 5000 and ann.num_classes == 80
    assert ann.num_boxes + sum(ann.dropped.values()) == 36781
    counts = per_class(ann)
    assert counts["person"] == 11004 and counts["car"] == 1932 and counts["toaster"] == 9
    assert counts["hair drier"] == 11
    assert (np.bincount(ann.box_image, minlength=5000) > 0).sum() == 4952


def test_coco_degenerate_box_dropped_and_counted(shared_data, tmp_path):
    # without undoing the "-1" convention the skis box of 000000361919 has negative height
    from bbgen.datasets import coco_from_torchcv

    d = shared_data / "coco2017_val_torchcv"
    data = coco_from_torchcv(d / "coco17_val.txt", d / "image_sizes.json", d / "labels.txt", inclusive=False)
    path = tmp_path / "exclusive.json"
    path.write_text(json.dumps(data))
    ann = load(path)
    assert ann.dropped == {"zero_or_negative_size": 1}
    assert ann.num_boxes == 36780


def test_coco_crowd_and_ignore_flags(tmp_path):
    data = {"images": [{"id": 7, "width": 100, "height": 50}, {"id": "b", "width": 10, "height": 10}],
            "categories": [{"id": 3, "name": "a"}, {"id": 9, "name": "b"}],
            "annotations": [
                {"image_id": 7, "category_id": 9, "bbox": [10, 5, 20, 10], "iscrowd": 1},
                {"image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "ignore": 1},
                {"image_id": "b", "category_id": 3, "bbox": [1.5, 2, 3, 4]},
                {"image_id": "b", "category_id": 3, "bbox": [1, 1, 0, 4]},
            ]}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data))
    ann = load(path)
    assert ann.crowd.tolist() == [True, True, False]
    assert ann.labels.tolist() == [1, 0, 0] and ann.box_image.tolist() == [0, 0, 1]
    np.testing.assert_allclose(ann.boxes, [[10, 5, 30, 15], [0, 0, 5, 5], [1.5, 2, 4.5, 6]])
    assert ann.dropped == {"zero_or_negative_size": 1}
    assert ann.frequency is None


def test_lvis_frequency_bands_detected(tmp_path):
    data = {"images": [{"id": 1, "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "x", "frequency": "r"}, {"id": 2, "name": "y", "frequency": "f"}],
            "annotations": [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 2]}]}
    path = tmp_path / "lvis.json"
    path.write_text(json.dumps(data))
    assert detect_format(path) == "lvis"
    assert load(path).frequency == ("r", "f")


def _write_png(path, size):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


def test_yolo_ultralytics_layout_reads_image_headers(tmp_path):
    (tmp_path / "data.yaml").write_text("path: .\nnames:\n  0: cat\n  1: dog\n")
    _write_png(tmp_path / "images" / "train" / "a.png", (200, 100))
    _write_png(tmp_path / "images" / "train" / "empty.png", (50, 50))
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.5 0.2\n0 0.25 0.25 0.1 0.1\n\n")
    assert detect_format(tmp_path) == "yolo"
    ann = load(tmp_path)
    assert ann.category_names == ("cat", "dog")
    assert ann.num_images == 2 and ann.num_boxes == 2
    row = list(ann.image_ids).index("train/a")
    np.testing.assert_allclose(ann.image_sizes[row], [200, 100])
    np.testing.assert_allclose(ann.boxes, [[50, 40, 150, 60], [40, 20, 60, 30]])
    assert ann.labels.tolist() == [1, 0]


def test_yolo_flat_layout_with_sizes_file_and_names_file(tmp_path):
    (tmp_path / "obj.names").write_text("car\n")
    (tmp_path / "image_sizes.json").write_text(json.dumps({"x": [640, 480]}))
    (tmp_path / "x.txt").write_text("0 0.5 0.5 1.0 1.0\n")
    ann = load(tmp_path, format="yolo")
    np.testing.assert_allclose(ann.boxes, [[0, 0, 640, 480]])
    assert load(tmp_path, format="yolo", classes=["vehicle"]).category_names == ("vehicle",)


def test_yolo_inline_yaml_names(tmp_path):
    (tmp_path / "data.yaml").write_text("names: ['a', 'b c']  # two\nnc: 2\n")
    (tmp_path / "image_sizes.json").write_text(json.dumps({"images": [{"file_name": "q.jpg", "width": 4,
                                                                       "height": 2}]}))
    (tmp_path / "q.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    ann = load(tmp_path)
    assert ann.category_names == ("a", "b c")
    np.testing.assert_allclose(ann.boxes, [[1, 0.5, 3, 1.5]])


def test_synthetic_is_deterministic_and_labelled():
    a, b = synthetic(300, generator=3), synthetic(300, generator=3)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(synthetic(300, generator=4).boxes, a.boxes)
    assert a.source.startswith("synthetic(")
    # boxes are valid and inside their image
    wh = a.image_sizes[a.box_image]
    assert np.all(a.boxes[:, 2:] > a.boxes[:, :2])
    assert np.all(a.boxes[:, :2] >= 0) and np.all(a.boxes[:, 2:] <= wh + 1e-9)


@pytest.mark.slow
def test_synthetic_priors_long_tail_small_objects_centre_bias():
    import scipy.stats

    ann = synthetic(4000, generator=0)
    counts = np.sort(np.bincount(ann.labels, minlength=ann.num_classes))[::-1]
    assert counts[0] > 50 * max(counts[-10], 1)  # long tail
    area = (ann.boxes[:, 2] - ann.boxes[:, 0]) * (ann.boxes[:, 3] - ann.boxes[:, 1])
    small = np.mean(area < 32 ** 2)
    assert 0.3 < small < 0.6  # COCO-like share of small objects
    rel = np.sqrt(area / ann.image_sizes[ann.box_image].prod(axis=1))
    assert scipy.stats.skew(np.log(rel)) < 1.0 and scipy.stats.skew(rel) > 1.0  # roughly log-normal
    cx = ((ann.boxes[:, 0] + ann.boxes[:, 2]) / 2) / ann.image_sizes[ann.box_image, 0]
    assert scipy.stats.kstest(cx, "uniform").pvalue < 1e-6
    assert abs(np.mean(ann.boxes.shape[0] / ann.num_images) - 7.3) < 0.3


@pytest.mark.parametrize("bad", [dict(num_images=0), dict(num_images=2.5), dict(num_classes=0),
                                 dict(boxes_per_image=0.5), dict(zipf_exponent=-1.0)])
def test_synthetic_rejects_bad_arguments(bad):
    kwargs = {"num_images": 10, **bad}
    with pytest.raises(ValueError, match=next(iter(bad))):
        synthetic(**kwargs)


@pytest.mark.parametrize("bad,error", [(dict(boxes_per_image=True), TypeError), (dict(zipf_exponent=False), TypeError),
                                       (dict(num_images=True), ValueError), (dict(num_classes=np.float32(2)), ValueError),
                                       (dict(boxes_per_image=float("nan")), ValueError),
                                       (dict(boxes_per_image="3"), TypeError)])
def test_synthetic_refuses_bools_and_non_numbers(bad, error):
    with pytest.raises(error, match=next(iter(bad))):  # boxes_per_image=True was taken as 1
        synthetic(**{"num_images": 10, **bad})


def test_synthetic_accepts_numpy_numbers_like_python_ones():
    want = synthetic(20, num_classes=3, boxes_per_image=2.0, zipf_exponent=1.0, generator=1)
    for n, c, k, s in [(np.int64(20), np.int32(3), np.float32(2), np.int64(1)),
                       (20, 3, np.int64(2), np.float32(1))]:  # np.int64 / np.float32 boxes_per_image were refused
        got = synthetic(n, num_classes=c, boxes_per_image=k, zipf_exponent=s, generator=1)
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.source == want.source
