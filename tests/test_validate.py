"""The shared argument checks of :mod:`bbgen._validate` (each written once, used across bbgen)."""
import re

import numpy as np
import pytest
import torch

from bbgen import _validate


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_positive_int_accepts(value):
    assert _validate.positive_int(value, "n") == int(value)


@pytest.mark.parametrize("value", [0, -1, 1.0, True, "3", None])
def test_positive_int_refuses_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"chunk must be a positive int, got"):
        _validate.positive_int(value, "chunk")


def test_positive_int_minimum():
    assert _validate.positive_int(8, "resolution", minimum=8) == 8
    with pytest.raises(ValueError, match="resolution must be an int >= 8, got 7"):
        _validate.positive_int(7, "resolution", minimum=8)


@pytest.mark.parametrize("value,exc", [(0.0, ValueError), (-2, ValueError), (float("nan"), ValueError),
                                       (float("inf"), ValueError), ("1", TypeError), (True, TypeError)])
def test_positive_float_refuses(value, exc):
    with pytest.raises(exc, match="beta must be"):
        _validate.positive_float(value, "beta")


def test_positive_float_accepts_numpy_and_tensors():
    assert _validate.positive_float(np.float32(0.5), "beta") == 0.5
    assert _validate.positive_float(torch.tensor(2.0), "beta") == 2.0


@pytest.mark.parametrize("value,exc", [(0.0, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                       (True, TypeError), ("0.5", TypeError)])
def test_iou_threshold(value, exc):
    assert _validate.iou_threshold(1, "iou") == 1.0
    with pytest.raises(exc, match="iou must"):
        _validate.iou_threshold(value)


def test_as_generator_kinds():
    g = torch.Generator().manual_seed(0)
    assert _validate.as_generator(g) is g
    a, b = _validate.as_generator(4), _validate.as_generator(torch.Generator().manual_seed(4))
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    n1, n2 = np.random.default_rng(1), np.random.default_rng(1)
    x = torch.rand(3, generator=_validate.as_generator(n1))
    assert torch.equal(x, torch.rand(3, generator=_validate.as_generator(n2)))
    assert not torch.equal(x, torch.rand(3, generator=_validate.as_generator(n1)))  # n1 advanced
    assert isinstance(_validate.as_generator(None), torch.Generator)


@pytest.mark.parametrize("value,exc,match", [
    ("seed", TypeError, "generator must be a torch.Generator, an int seed, a numpy.random.Generator or None"),
    (1.0, TypeError, "generator must be"), (True, TypeError, "generator must be"),
    (2**70, ValueError, "generator seed must fit in 64 bits"),
])
def test_as_generator_errors(value, exc, match):
    with pytest.raises(exc, match=match):
        _validate.as_generator(value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device type")
def test_as_generator_device_mismatch():
    with pytest.raises(ValueError, match="generator is on cpu"):
        _validate.as_generator(torch.Generator(), "cuda")


def test_as_numpy_generator_kinds():
    n = np.random.default_rng(5)
    assert _validate.as_numpy_generator(n) is n
    assert _validate.as_numpy_generator(7).random() == np.random.default_rng(7).random()
    assert _validate.as_numpy_generator(np.int64(7)).random() == np.random.default_rng(7).random()
    t1, t2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x = _validate.as_numpy_generator(t1).random(4)
    np.testing.assert_array_equal(x, _validate.as_numpy_generator(t2).random(4))  # same torch seed, same stream
    assert not np.array_equal(x, _validate.as_numpy_generator(t1).random(4))  # t1 advanced by its draw
    assert not np.array_equal(x, _validate.as_numpy_generator(torch.Generator().manual_seed(4)).random(4))
    fresh = _validate.as_numpy_generator(None)
    assert isinstance(fresh, np.random.Generator)
    assert not np.array_equal(fresh.random(4), _validate.as_numpy_generator(None).random(4))


@pytest.mark.parametrize("value,exc,match", [
    (True, TypeError, "rng must be an int seed, a numpy.random.Generator, a torch.Generator or None, got bool"),
    ("seed", TypeError, "rng must be .* got str"), (1.5, TypeError, "rng must be .* got float"),
    (-1, ValueError, "rng seed must be a non-negative int, got -1"),
])
def test_as_numpy_generator_errors(value, exc, match):
    with pytest.raises(exc, match=match):
        _validate.as_numpy_generator(value, name="rng")


def test_flag_accepts_only_bools():
    assert _validate.flag(True, "x") is True and _validate.flag(np.bool_(False), "x") is False
    for value in ("yes", 1, 0, None, np.int64(1)):
        with pytest.raises(TypeError, match=re.escape(f"as_published must be True or False, got {value!r}")):
            _validate.flag(value, "as_published")
