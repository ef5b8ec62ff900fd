"""Box primitives: IoU against torchvision, conversions, unit frame, validation errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from bbgen.boxes import (as_boxes, box_area, box_convert, box_iou, check_boxes, elementwise_box_iou,
                         from_unit_frame, to_unit_frame)


def _rand_boxes(n, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 100
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 50 + 0.1
    return torch.cat([xy, xy + wh], 1)


def test_box_iou_matches_torchvision():
    tv = pytest.importorskip("torchvision")
    a, b = _rand_boxes(37, 0), _rand_boxes(23, 1)
    torch.testing.assert_close(box_iou(a, b), tv.ops.box_iou(a, b), rtol=0, atol=1e-12)


def test_elementwise_iou_is_diagonal_of_pairwise():
    a, b = _rand_boxes(50, 2), _rand_boxes(50, 3)
    torch.testing.assert_close(elementwise_box_iou(a, b), box_iou(a, b).diagonal())


def test_iou_known_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    assert box_iou(a, torch.tensor([[1.0, 1.0, 3.0, 3.0]])).item() == pytest.approx(1 / 7)
    assert box_iou(a, torch.tensor([[2.0, 0.0, 4.0, 2.0]])).item() == 0.0  # touching
    assert box_iou(a, a).item() == 1.0


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_convert_roundtrip(fmt):
    b = _rand_boxes(20, 4)
    torch.testing.assert_close(box_convert(box_convert(b, "xyxy", fmt), fmt, "xyxy"), b)


def test_convert_values():
    b = torch.tensor([10.0, 20.0, 30.0, 60.0])
    assert box_convert(b, "xyxy", "xywh").tolist() == [10, 20, 20, 40]
    assert box_convert(b, "xyxy", "cxcywh").tolist() == [20, 40, 20, 40]


@given(st.integers(0, 10_000))
@settings(max_examples=50, deadline=None)
def test_unit_frame_roundtrip_and_invariance(seed):
    ref, boxes = _rand_boxes(1, seed)[0], _rand_boxes(10, seed + 1)
    u = to_unit_frame(boxes, ref)
    torch.testing.assert_close(from_unit_frame(u, ref), boxes)
    torch.testing.assert_close(to_unit_frame(ref, ref), torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64))
    # IoU is invariant under the per-axis affine map (docs/architecture.md, "Unit frame")
    torch.testing.assert_close(elementwise_box_iou(u, torch.tensor([0.0, 0, 1, 1], dtype=torch.float64)),
                               elementwise_box_iou(boxes, ref))


def test_dtype_device_kept_and_numpy_accepted():
    b32 = _rand_boxes(5, 5, torch.float32)
    assert box_iou(b32, b32).dtype == torch.float32
    assert box_area(b32).dtype == torch.float32
    out = box_iou(b32.numpy(), b32.numpy())
    assert isinstance(out, torch.Tensor) and out.shape == (5, 5)
    assert as_boxes(np.array([[0, 0, 1, 1]])).dtype == torch.float32  # ints promoted


@pytest.mark.parametrize("bad,exc,match", [
    ([[0, 0, 1]], ValueError, r"shape \[\.\.\., 4\]"),
    ("abc", TypeError, "boxes"),
    (np.array([["a", "b", "c", "d"]]), TypeError, "numeric"),
    (torch.tensor([[True, False, True, True]]), TypeError, "real numeric"),
])
def test_as_boxes_errors(bad, exc, match):
    with pytest.raises(exc, match=match):
        as_boxes(bad)


@pytest.mark.parametrize("box,match", [
    ([0.0, 0.0, float("nan"), 1.0], "NaN or inf"),
    ([0.0, 0.0, float("inf"), 1.0], "NaN or inf"),
    ([1.0, 0.0, 1.0, 1.0], "degenerate or inverted"),
    ([0.0, 2.0, 1.0, 1.0], "degenerate or inverted"),
])
def test_check_boxes_errors(box, match):
    with pytest.raises(ValueError, match=match):
        check_boxes(torch.tensor([[0.0, 0.0, 1.0, 1.0], box]), "ref")


def test_convert_bad_format():
    with pytest.raises(ValueError, match="in_fmt"):
        box_convert(torch.zeros(4), "xyz", "xyxy")


@pytest.mark.parametrize("bad,exc,match", [
    (np.array([[0.0, 0.0, float("nan"), 1.0]]), ValueError, r"ref\[0\].*NaN or inf"),  # numpy input is converted
    ([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 1.0, 1.0]], ValueError, r"ref\[1\].*inverted"),
    (torch.zeros(2, 5), ValueError, r"ref must have shape \[\.\.\., 4\]"),
])
def test_check_boxes_converts_and_names_the_argument(bad, exc, match):
    with pytest.raises(exc, match=match):
        check_boxes(bad, "ref")


def test_shapes_that_do_not_broadcast_name_both_arguments():
    with pytest.raises(ValueError, match=r"boxes1 shape \(3, 4\) and boxes2 shape \(2, 4\) do not broadcast"):
        elementwise_box_iou(torch.zeros(3, 4), torch.zeros(2, 4))
    for fn in (to_unit_frame, from_unit_frame):
        with pytest.raises(ValueError, match=r"boxes shape \(3, 4\) and ref shape \(2, 4\) do not broadcast"):
            fn(torch.zeros(3, 4), _rand_boxes(2, 0))


def test_unit_frame_of_a_degenerate_reference_is_refused():
    with pytest.raises(ValueError, match=r"ref\[0\].*degenerate"):  # was [-inf, -inf, inf, inf]
        to_unit_frame(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([1.0, 1.0, 1.0, 1.0]))
