"""GENERATEBB (thesis Alg. 1): exactness, the paper's distribution, isotropy, reproducibility, errors.

Exactness is checked with an IoU written independently here (numpy float64) on the coordinates returned:
* the reference path :func:`generate_bb` on hypothesis-drawn cases;
* >= 100 000 random (reference, T) cases — aspect ratios up to 1:1000, coordinates up to 1e5,
  T in [0.01, 0.999], float32 and float64, both orders, both modes, with and without image bounds — through
  the batched kernel, which runs the same Alg. 1 acceptance functions as the reference path.

Bad input cases tested (``test_errors``): degenerate / inverted reference box, NaN and inf coordinates,
T <= 0, T > 1, T NaN, T of wrong type (str, bool), max_iou <= T, max_iou > 1, unknown order, unknown proposal,
proposal of wrong type, proposal returning a wrong shape, image smaller than / not containing the box,
non-positive image size, reference of wrong shape, integer-valued and half-precision reference, generator on
the wrong device / of the wrong type.
"""
import re
import numpy as np
import pytest
import shapely
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import stats

from bbgen.generator.feasible import br_feasible_space, tl_feasible_space, x_range, y_range
from bbgen.generator.reference import generate_bb, second_corner_ok, second_rect
from bbgen.generator.batched import generate_boxes
from bbgen.generator.proposals import get_proposal, sample_polygon


def np_iou(boxes, ref):
    """Independent IoU: float64 numpy, ``[..., 4]`` x ``[..., 4]``."""
    boxes, ref = np.asarray(boxes, np.float64), np.asarray(ref, np.float64)
    ix = np.clip(np.minimum(boxes[..., 2], ref[..., 2]) - np.maximum(boxes[..., 0], ref[..., 0]), 0, None)
    iy = np.clip(np.minimum(boxes[..., 3], ref[..., 3]) - np.maximum(boxes[..., 1], ref[..., 1]), 0, None)
    inter = ix * iy
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(boxes) + area(ref) - inter)


def random_cases(rng, n, dtype):
    """Reference boxes with sides 10^[0, 5] (aspect up to 1:1000), coordinates up to 1e5, T in [0.01, 0.999]."""
    long_side = 10 ** rng.uniform(0, 5, n)
    aspect = 10 ** rng.uniform(-3, 0, n)
    w, h = long_side, long_side * aspect
    swap = rng.random(n) < 0.5
    w, h = np.where(swap, h, w), np.where(swap, w, h)
    # float32 must resolve the feasible set: the short side spans >= 100 ulps of the largest coordinate
    min_side = 1e5 * 2.0 ** -23 * 100 if dtype == torch.float32 else 1e-6
    w, h = np.maximum(w, min_side), np.maximum(h, min_side)
    x1 = rng.uniform(0, 1e5 - w)
    y1 = rng.uniform(0, 1e5 - h)
    ref = np.stack([x1, y1, x1 + w, y1 + h], 1)
    T = rng.uniform(0.01, 0.999, n)
    return torch.as_tensor(ref, dtype=dtype), torch.as_tensor(T)


def check_boxes(out, ref, lo, hi=None, image=None):
    out, ref = out.double().numpy(), ref.double().numpy()
    iou = np_iou(out, ref)
    assert np.all(iou >= lo), f"IoU below threshold: min(iou - T) = {np.min(iou - lo)}"
    if hi is not None:
        assert np.all(iou < hi), f"IoU above upper bound: max(iou - hi) = {np.max(iou - hi)}"
    if image is not None:
        image = np.asarray(image, np.float64)
        assert np.all(out[..., :2] >= 0) and np.all(out[..., 2] <= image[..., 0]) and np.all(out[..., 3] <= image[..., 1])


# ----------------------------------------------------------------------------- exactness

@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([torch.float32, torch.float64]),
       order=st.sampled_from(["random", "tl", "br"]), interval=st.booleans(), with_image=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exactness_100k_random_cases(seed, dtype, order, interval, with_image):
    rng = np.random.default_rng(seed)
    n = 2600  # x 40 examples = 104 000 (reference, T) cases
    ref, T = random_cases(rng, n, dtype)
    hi = None
    if interval:
        T = T.clamp(max=0.98)
        hi = torch.minimum(T + torch.as_tensor(rng.uniform(0.01, 0.3, n)), torch.ones(n))
    image = None
    if with_image:  # margins of 0 (box touches the border) up to a few box sizes
        r = ref.double()
        margin = torch.as_tensor(rng.choice([0.0, 0.05, 1.0, 3.0], (n, 2)))
        image = torch.stack([r[:, 2] + margin[:, 0] * (r[:, 2] - r[:, 0]),
                             r[:, 3] + margin[:, 1] * (r[:, 3] - r[:, 1])], 1).to(dtype).double()
        image = torch.maximum(image, r[:, 2:])  # rounding to dtype must not cut the box
    out = generate_boxes(ref, T, max_iou=hi, order=order, image_size=image, generator=seed)
    assert out.shape == (n, 1, 4) and out.dtype == dtype
    check_boxes(out[:, 0], ref, T.numpy(), None if hi is None else hi.numpy(),
                None if image is None else image.numpy())


@given(x=st.floats(0, 1e5), y=st.floats(0, 1e5), logw=st.floats(0, 4), aspect=st.floats(-3, 3),
       T=st.floats(0.01, 0.999), dtype=st.sampled_from([torch.float32, torch.float64]),
       order=st.sampled_from(["random", "tl", "br"]), width=st.one_of(st.none(), st.floats(0.02, 0.5)),
       proposal=st.sampled_from(["uniform", "normal", "inside"]), margin=st.one_of(st.none(), st.floats(0, 2)),
       seed=st.integers(0, 2**31 - 1))
@settings(max_examples=300, deadline=None)
def test_reference_path_exact(x, y, logw, aspect, T, dtype, order, width, proposal, margin, seed):
    w = 10 ** logw
    h = w * 10 ** aspect
    if dtype == torch.float32:
        w, h = max(w, 1.0), max(h, 1.0)
    ref = torch.tensor([x, y, x + w, y + h], dtype=dtype)
    hi = None if width is None else min(1.0, T + width)
    if hi is not None and hi <= T:
        return
    image = None if margin is None else (float(ref[2]) * (1 + margin), float(ref[3]) * (1 + margin))
    box = generate_bb(ref, T, max_iou=hi, order=order, proposal=proposal, image_size=image, generator=seed)
    assert box.dtype == dtype and box.shape == (4,)
    check_boxes(box[None], ref[None], T, hi, image)


def test_T_equal_one_gives_reference_box():
    ref = torch.tensor([[3.0, 4.0, 10.0, 40.0]])
    assert torch.equal(generate_bb(ref[0], 1.0, generator=0), ref[0])
    assert torch.equal(generate_boxes(ref, 1.0, num=5, generator=0), ref[:, None].expand(1, 5, 4))


# ----------------------------------------------------------------------------- the paper's distribution

def _cell_chisquare(points, poly, bins=6):
    """Chi-square of point counts over grid cells vs expected ∝ area(cell ∩ polygon)."""
    minx, miny, maxx, maxy = poly.bounds
    xs, ys = np.linspace(minx, maxx, bins + 1), np.linspace(miny, maxy, bins + 1)
    expected, observed = [], []
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[xs, ys])
    for i in range(bins):
        for j in range(bins):
            area = shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]).intersection(poly).area
            expected.append(area)
            observed.append(counts[i, j])
    expected, observed = np.array(expected), np.array(observed)
    expected = expected / expected.sum() * observed.sum()
    keep = expected >= 5
    obs, exp = observed[keep], expected[keep]
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


@pytest.mark.slow
def test_tl_uniform_over_tl_space():
    """Alg. 1 with the uniform proposal: TL is uniform over the TL polygon (T = 0.5); a biased proposal is not."""
    ref = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    poly = tl_feasible_space(ref, 0.5, resolution=1024)
    g = torch.Generator().manual_seed(1)
    tl = torch.stack([generate_bb(ref, 0.5, order="tl", generator=g)[:2] for _ in range(3000)]).numpy()
    assert _cell_chisquare(tl, poly) > 1e-3
    biased = torch.stack([generate_bb(ref, 0.5, order="tl", proposal="inside", generator=g)[:2] for _ in range(3000)])
    assert _cell_chisquare(biased.numpy(), poly) < 1e-6  # the test has power


@pytest.mark.slow
@pytest.mark.parametrize("tl", [(0.0, 0.0), (0.15, -0.1)])
def test_br_uniform_given_tl(tl):
    """samplePolygon of Alg. 1 line 7 with the generator's acceptance test: BR uniform over BR(T | TL)."""
    T = 0.5
    a, b = (torch.tensor([v], dtype=torch.float64) for v in tl)
    T_t = torch.tensor([T], dtype=torch.float64)
    img_high = torch.full((1, 2), float("inf"), dtype=torch.float64)
    low, high = second_rect(a, b, T_t, img_high)
    g = torch.Generator().manual_seed(2)
    prop = get_proposal("uniform")
    accept = lambda p: bool(second_corner_ok(p[0:1], p[1:2], (a, b, T_t, None)))  # noqa: E731
    pts = torch.stack([sample_polygon(low[0], high[0], torch.ones(2, dtype=torch.float64), accept,
                                      proposal=prop, generator=g) for _ in range(3000)]).numpy()
    poly = br_feasible_space([0.0, 0.0, 1.0, 1.0], T, tl, resolution=1024)
    assert _cell_chisquare(pts, poly) > 1e-3


@pytest.mark.slow
def test_random_order_is_isotropic():
    """With order="random" a box and its point reflection through the centre of B are equally likely:
    TL offsets (a, b) and reflected BR offsets (1 - c, 1 - d) have the same law; with order="tl" they do not."""
    ref = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    rnd = torch.stack([generate_bb(ref, 0.5, generator=g) for _ in range(3000)]).numpy()
    assert stats.ks_2samp(rnd[:, 0], 1 - rnd[:, 2]).pvalue > 1e-3
    assert stats.ks_2samp(rnd[:, 1], 1 - rnd[:, 3]).pvalue > 1e-3
    tl_first = generate_boxes(ref[None], 0.5, num=20000, order="tl", generator=g)[0].numpy()
    assert stats.ks_2samp(tl_first[:, 0], 1 - tl_first[:, 2]).pvalue < 1e-6


# ----------------------------------------------------------------------------- reproducibility

def test_same_seed_same_boxes_different_seed_different():
    ref = torch.tensor([5.0, 5.0, 50.0, 30.0])
    a = [generate_bb(ref, 0.6, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    assert not torch.equal(a[0], generate_bb(ref, 0.6, generator=torch.Generator().manual_seed(8)))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    seq1 = torch.stack([generate_bb(ref, 0.6, generator=g1) for _ in range(5)])
    seq2 = torch.stack([generate_bb(ref, 0.6, generator=g2) for _ in range(5)])
    assert torch.equal(seq1, seq2) and len(torch.unique(seq1, dim=0)) == 5


def test_every_seed_kind_is_accepted_and_reproducible():
    ref = torch.tensor([5.0, 5.0, 50.0, 30.0])
    by_int = generate_bb(ref, 0.6, generator=3)
    assert torch.equal(by_int, generate_bb(ref, 0.6, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(by_int, generate_bb(ref, 0.6, generator=np.int64(3)))
    a = generate_bb(ref, 0.6, generator=np.random.default_rng(5))
    b = generate_bb(ref, 0.6, generator=np.random.default_rng(5))
    assert torch.equal(a, b)
    g = np.random.default_rng(5)
    first, second = generate_boxes(ref[None], 0.6, num=4, generator=g), generate_boxes(ref[None], 0.6, num=4, generator=g)
    assert not torch.equal(first, second)  # the numpy stream advances


def test_global_rng_untouched():
    state = torch.random.get_rng_state()
    generate_bb(torch.tensor([0.0, 0.0, 1.0, 1.0]), 0.5, generator=1)
    generate_boxes(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), 0.5, num=10, generator=1)
    assert torch.equal(state, torch.random.get_rng_state())


# ----------------------------------------------------------------------------- errors

REF = torch.tensor([10.0, 10.0, 20.0, 30.0])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(ref=torch.tensor([10.0, 10.0, 10.0, 30.0])), ValueError, "degenerate or inverted"),
    (dict(ref=torch.tensor([20.0, 10.0, 10.0, 30.0])), ValueError, "degenerate or inverted"),
    (dict(ref=torch.tensor([float("nan"), 10.0, 20.0, 30.0])), ValueError, "NaN or inf"),
    (dict(ref=torch.tensor([10.0, 10.0, float("inf"), 30.0])), ValueError, "NaN or inf"),
    (dict(ref=torch.tensor([10.0, 10.0, 20.0])), ValueError, r"shape \[(\.\.\., )?4\]"),
    (dict(ref=torch.tensor([10, 10, 20, 30], dtype=torch.float16)), TypeError, "float32 or float64"),
    (dict(iou=0.0), ValueError, r"iou must lie in \(0, 1\], got 0.0"),
    (dict(iou=-0.3), ValueError, r"iou must lie in \(0, 1\]"),
    (dict(iou=1.2), ValueError, r"iou must lie in \(0, 1\], got 1.2"),
    (dict(iou=float("nan")), ValueError, r"iou must lie in \(0, 1\]"),
    (dict(iou="0.5"), TypeError, "iou must be a float"),
    (dict(iou=True), TypeError, "iou must be a float"),
    (dict(max_iou=0.4), ValueError, "max_iou must be greater than iou"),
    (dict(max_iou=1.5), ValueError, r"max_iou must lie in \(0, 1\]"),
    (dict(order="sideways"), ValueError, "order must be one of"),
    (dict(proposal="gaussian"), ValueError, "proposal must be one of"),
    (dict(proposal=3), TypeError, "proposal must be a name or a callable"),
    (dict(proposal=lambda lo, hi, c, n, g: torch.zeros(3)), ValueError, "proposal must return a tensor of shape"),
    (dict(image_size=(15, 40)), ValueError, "does not fit inside the image"),
    (dict(image_size=(0, 40)), ValueError, "positive finite sizes"),
    (dict(image_size=(1, 2, 3)), ValueError, "image_size must be"),
    (dict(generator="seed"), TypeError, "generator must be"),
])
def test_errors(kwargs, exc, match):
    args = dict(ref=REF, iou=0.5)
    args.update(kwargs)
    ref = args.pop("ref")
    with pytest.raises(exc, match=match):
        generate_bb(ref, **args)
    with pytest.raises(exc, match=match):
        generate_boxes(ref[None] if ref.ndim == 1 else ref, **args)


def test_kernel_shape_errors():
    with pytest.raises(ValueError, match=r"ref_boxes must have shape \[N, 4\]"):
        generate_boxes(REF, 0.5)
    with pytest.raises(ValueError, match=r"iou must be a float, \[N\]"):
        generate_boxes(REF[None], torch.full((3,), 0.5), num=2)
    with pytest.raises(ValueError, match="num must be a non-negative integer"):
        generate_boxes(REF[None], 0.5, num=-1)
    assert generate_boxes(torch.zeros(0, 4), 0.5, num=3).shape == (0, 3, 4)
    assert generate_boxes(REF[None], 0.5, num=0).shape == (1, 0, 4)


@pytest.mark.parametrize("ref, shape", [([[10.0, 20.0, 110.0, 70.0]], "(1, 4)"), ([10.0, 20.0, 110.0], "(3,)"),
                                        ([[[10.0, 20.0, 110.0, 70.0]]], "(1, 1, 4)")])
def test_generate_bb_names_the_shape_it_was_given(ref, shape):
    """#14 item 8: a [1, 4] reference used to be reported as 'got (1, 1, 4)' (the internal shape)."""
    with pytest.raises(ValueError, match=r"ref must be one box of shape \[4\].*got shape " + re.escape(shape)):
        generate_bb(torch.tensor(ref), 0.5)
