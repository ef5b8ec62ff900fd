"""Batched kernel ``generate_boxes``: same distribution as the reference path, exact on >= 10^6 boxes, devices."""
import numpy as np
import pytest
import torch
from scipy import stats

from bbgen.generator.reference import generate_bb
from bbgen.generator.batched import candidates_per_round, generate_boxes
from bbgen.generator.proposals import InsideBiased, TruncatedNormal, uniform
from test_generator import check_boxes, random_cases

REF = torch.tensor([[12.0, 30.0, 52.0, 50.0]], dtype=torch.float64)  # aspect 2:1


def unit_stats(boxes, ref=REF[0]):
    """Unit-frame corner offsets (a, b, c, d) and IoU: the statistics compared by the KS tests."""
    b = boxes.double()
    w, h = ref[2] - ref[0], ref[3] - ref[1]
    u = torch.stack([(b[:, 0] - ref[0]) / w, (b[:, 1] - ref[1]) / h, (b[:, 2] - ref[0]) / w, (b[:, 3] - ref[1]) / h], 1)
    ix = (torch.minimum(b[:, 2], ref[2]) - torch.maximum(b[:, 0], ref[0])).clamp(min=0)
    iy = (torch.minimum(b[:, 3], ref[3]) - torch.maximum(b[:, 1], ref[1])).clamp(min=0)
    inter = ix * iy
    iou = inter / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + w * h - inter)
    return torch.cat([u, iou[:, None]], 1).numpy()


def reference_sample(n, T, seed, **kw):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([generate_bb(REF[0], T, generator=g, **kw) for _ in range(n)])


CASES = [(T, hi, order, "uniform") for T in (0.3, 0.5, 0.7, 0.9) for hi in (None, "bin") for order in ("tl", "br")]
CASES += [(0.5, None, "random", "normal"), (0.7, "bin", "random", "inside"), (0.5, None, "random", "uniform")]


@pytest.mark.slow
@pytest.mark.parametrize("T,hi,order,proposal", CASES)
def test_kernel_matches_reference_distribution(T, hi, order, proposal):
    """Two-sample KS on a, b, c, d (unit frame) and IoU; Bonferroni over the 5 statistics x all cases."""
    max_iou = None if hi is None else round(T + 0.1, 10)
    kw = dict(max_iou=max_iou, order=order, proposal=proposal)
    ref_s = unit_stats(reference_sample(500, T, seed=int(T * 100), **kw))
    ker_s = unit_stats(generate_boxes(REF, T, num=20000, generator=torch.Generator().manual_seed(1), **kw)[0])
    alpha = 0.01 / (5 * len(CASES))
    for j, name in enumerate(["a", "b", "c", "d", "iou"]):
        p = stats.ks_2samp(ref_s[:, j], ker_s[:, j]).pvalue
        assert p > alpha, f"{name}: KS p = {p:.3g} (T={T}, max_iou={max_iou}, order={order}, proposal={proposal})"


@pytest.mark.slow
def test_ks_has_power():
    """The same KS test separates T = 0.5 from T = 0.55 and TL-first from BR-first at these sample sizes."""
    a = unit_stats(reference_sample(500, 0.5, seed=5))
    b = unit_stats(generate_boxes(REF, 0.55, num=20000, generator=2)[0])
    assert stats.ks_2samp(a[:, 4], b[:, 4]).pvalue < 1e-4
    c = unit_stats(generate_boxes(REF, 0.5, num=20000, order="br", generator=3)[0])
    tl = unit_stats(reference_sample(500, 0.5, seed=6, order="tl"))
    assert min(stats.ks_2samp(tl[:, j], c[:, j]).pvalue for j in range(4)) < 1e-4


@pytest.mark.slow
def test_exactness_one_million_boxes():
    """>= 10^6 kernel boxes over random (ref, T) cases, both dtypes, both modes, with image bounds: all exact."""
    rng = np.random.default_rng(11)
    total = 0
    for dtype in (torch.float32, torch.float64):
        for interval in (False, True):
            n = 5000
            ref, T = random_cases(rng, n, dtype)
            T = T.clamp(max=0.98) if interval else T
            hi = torch.minimum(T + torch.as_tensor(rng.uniform(0.01, 0.3, n)), torch.ones(n)) if interval else None
            num = 50
            image = (ref.double()[:, 2:] * torch.as_tensor(rng.uniform(1.0, 1.5, (n, 2)))).to(dtype).double()
            image = torch.maximum(image, ref.double()[:, 2:])
            out = generate_boxes(ref, T, num=num, max_iou=hi, image_size=image, generator=int(rng.integers(1 << 30)))
            Tn = T.numpy()[:, None]
            check_boxes(out, ref[:, None], Tn, None if hi is None else hi.numpy()[:, None], image.numpy()[:, None])
            total += out.shape[0] * out.shape[1]
    assert total >= 1_000_000


def test_per_box_thresholds_and_shapes():
    ref = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 25.0, 15.0]], dtype=torch.float32)
    T = torch.tensor([[0.5, 0.6, 0.7], [0.8, 0.9, 0.95]])
    out = generate_boxes(ref, T, num=3, generator=0)
    assert out.shape == (2, 3, 4) and out.dtype == torch.float32
    check_boxes(out, ref[:, None], T.numpy())
    out = generate_boxes(ref.numpy(), torch.tensor([0.3, 0.9]), num=4, generator=0)  # numpy in, [N] thresholds
    check_boxes(out, ref[:, None], np.array([[0.3], [0.9]]))


def test_reproducible_and_seed_sensitive():
    ref = torch.rand(100, 2) * 100
    ref = torch.cat([ref, ref + 5 + torch.rand(100, 2) * 50], 1)
    a = generate_boxes(ref, 0.6, num=7, generator=torch.Generator().manual_seed(3))
    b = generate_boxes(ref, 0.6, num=7, generator=torch.Generator().manual_seed(3))
    c = generate_boxes(ref, 0.6, num=7, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_candidates_per_round():
    assert candidates_per_round(1.0) == 1
    assert 3 <= candidates_per_round(0.5) <= 6  # acceptance ~0.51
    assert candidates_per_round(0.01) > candidates_per_round(0.3)


def test_proposals_stay_in_rectangle_and_differ():
    g = torch.Generator().manual_seed(0)
    low, high = torch.tensor([[-1.0, -0.5]]), torch.tensor([[0.5, 0.5]])
    corner = torch.zeros(1, 2)
    samples = {}
    for name, prop in {"uniform": uniform, "normal": TruncatedNormal(0.25), "inside": InsideBiased(4.0)}.items():
        p = prop(low, high, corner, 20000, g)[0]
        assert torch.all(p >= low) and torch.all(p <= high)
        samples[name] = p[:, 0].numpy()
    # truncated normal agrees with scipy's
    sd = 0.25 * 1.5
    tn = stats.truncnorm((-1.0) / sd, 0.5 / sd, loc=0.0, scale=sd)
    assert stats.kstest(samples["normal"], tn.cdf).pvalue > 1e-3
    # inside-biased: P(u > 0) = 4 * 0.5 / (4 * 0.5 + 1)
    assert abs((samples["inside"] > 0).mean() - 2 / 3) < 0.015
    assert stats.ks_2samp(samples["uniform"], samples["inside"]).pvalue < 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_same_code_path():
    ref = REF.float().cuda()
    out = generate_boxes(ref, 0.7, num=10000, max_iou=0.8, generator=torch.Generator("cuda").manual_seed(0))
    assert out.device.type == "cuda" and out.dtype == torch.float32
    check_boxes(out[0].cpu(), REF.float(), 0.7, 0.8)
    cpu = unit_stats(generate_boxes(REF, 0.7, num=10000, max_iou=0.8, generator=1)[0])
    gpu = unit_stats(out[0].cpu())
    assert stats.ks_2samp(cpu[:, 4], gpu[:, 4]).pvalue > 1e-4


def test_region_image_bounds():
    """``image_size`` as [N, 4] allowed regions (used by generate_prois for GTs sticking out of the image)."""
    ref = torch.tensor([[-5.0, 10.0, 30.0, 40.0], [50.0, 60.0, 90.0, 105.0]], dtype=torch.float64)
    region = torch.tensor([[-5.0, 0.0, 100.0, 100.0], [0.0, 0.0, 100.0, 105.0]], dtype=torch.float64)
    out = generate_boxes(ref, 0.5, num=2000, image_size=region, generator=0)
    check_boxes(out, ref[:, None], 0.5)
    assert torch.all(out[..., 0] >= region[:, None, 0]) and torch.all(out[..., 1] >= region[:, None, 1])
    assert torch.all(out[..., 2] <= region[:, None, 2]) and torch.all(out[..., 3] <= region[:, None, 3])
    with pytest.raises(ValueError, match="does not fit inside the image region"):
        generate_boxes(ref, 0.5, image_size=(100, 100))
    with pytest.raises(ValueError, match="x_max > x_min"):
        generate_boxes(ref, 0.5, image_size=torch.tensor([[0.0, 0, -1, 1], [0, 0, 1, 1]]))


@pytest.mark.parametrize("k, r", [(1, 5), (12, 256), (255, 7), (256, 7), (300, 3)])
def test_first_accepted_is_the_first_accepted_candidate(k, r):
    """The rank-max selection returns, per row, the first accepted candidate (the sampler's exactness rests on
    it: the first success of an i.i.d. sequence), and found=False exactly for rows with none accepted."""
    from bbgen.generator.proposals import _first_accepted

    g = torch.Generator().manual_seed(k * 1000 + r)
    planar = torch.rand((2, k, r), generator=g)
    pts = planar.permute(2, 1, 0).transpose(0, 1)  # [k, r, 2] view, the layout of the built-in proposals
    ok = torch.rand((k, r), generator=g) < 0.3
    ok[:, 0] = False  # a row with no accepted candidate
    if k > 1:
        ok[:, -1] = False
        ok[-1, -1] = True  # only the last candidate accepted (the lowest rank)
    points, found = _first_accepted(pts, ok)
    for j in range(r):
        hits = ok[:, j].nonzero()
        assert bool(found[j]) == (hits.numel() > 0)
        if hits.numel():
            assert torch.equal(points[j], pts[int(hits[0, 0]), j])


def test_image_bounds_keep_the_first_corner_uniform():
    """Image bounds restrict the first corner's proposal rectangle: the TL is then uniform over TL space ∩
    image. Compared (two-sample KS) with a brute-force sample written independently in numpy: rejection
    from a superset box with the IoU spelled out. The same test rejects the TL of an unbounded image."""
    T = 0.5
    ref = torch.tensor([[2.0, 3.0, 12.0, 13.0]], dtype=torch.float64)  # unit frame: image starts at u=-0.2, v=-0.3
    bounded = generate_boxes(ref, T, num=20_000, order="tl", image_size=(40, 40), generator=0)[0]
    free = generate_boxes(ref, T, num=20_000, order="tl", generator=1)[0]
    rng = np.random.default_rng(0)
    u, v = rng.uniform(-1.0, 0.5, (2, 400_000))  # [1 - 1/T, 1 - T]^2 holds the TL space
    inter = (1 - np.maximum(u, 0)) * (1 - np.maximum(v, 0))
    iou = inter / (1 + (1 - u) * (1 - v) - inter)  # TL (u, v) with the BR at (1, 1)
    keep = (iou >= T) & (u >= -0.2) & (v >= -0.3)
    ref_u, ref_v = u[keep][:20_000], v[keep][:20_000]
    got_u, got_v = ((bounded[:, 0] - 2) / 10).numpy(), ((bounded[:, 1] - 3) / 10).numpy()
    assert stats.ks_2samp(got_u, ref_u).pvalue > 1e-3 and stats.ks_2samp(got_v, ref_v).pvalue > 1e-3
    assert got_u.min() >= -0.2 and got_v.min() >= -0.3
    assert stats.ks_2samp(((free[:, 0] - 2) / 10).numpy(), ref_u).pvalue < 1e-6  # power: bounds matter
