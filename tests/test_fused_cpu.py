"""The numba backend of generate_boxes (issue #13): scalar formulas equal the tensor ones, exact IoU constraint on
hypothesis-drawn cases, the reference distribution (two-sample KS), thread/batch invariance of the counter-based
stream, backend dispatch and its errors, memory estimate and chunked progress (issue #14 item 19)."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import stats

from bbgen.boxes import iou_xyxy
from bbgen.generator import backends, feasible, scalar
from bbgen.generator.batched import generate_boxes
from test_generator import check_boxes, random_cases
from test_kernels import CASES, REF, reference_sample, unit_stats

finite = st.floats(-3.0, 1.0)


@given(a=finite, b=finite, T=st.floats(0.01, 1.0), c=st.floats(-3.0, 6.0), d=st.floats(-3.0, 6.0),
       hi=st.floats(0.01, 1.0))
@settings(max_examples=300, deadline=None)
def test_scalar_formulas_equal_the_tensor_ones(a, b, T, c, d, hi):
    """scalar.py, compiled as in the kernel, against feasible.py / boxes.py, value by value in float64 (inf and
    NaN included: numba's numpy error model divides like torch)."""
    t = lambda *v: (torch.tensor(x, dtype=torch.float64) for x in v)  # noqa: E731
    ta, tb, tc, td = t(a, b, c, d)
    lo_t, hi_t = feasible.x_range(ta, tb, T)
    lo_s, hi_s = scalar.x_range(a, b, T)
    np.testing.assert_equal([lo_s, hi_s], [float(lo_t), float(hi_t)])
    assert scalar.in_tl_space(a, b, T) == bool(feasible.in_tl_space(ta, tb, T))
    assert scalar.in_br_space(a, b, c, d, T, hi, True) == bool(feasible.in_br_space(ta, tb, tc, td, T, hi))
    assert scalar.in_br_space(a, b, c, d, T, 0.0, False) == bool(feasible.in_br_space(ta, tb, tc, td, T))
    if c > a and d > b:
        assert scalar.iou(a, b, c, d, 0.0, 0.0, 1.0, 1.0) == float(iou_xyxy(ta, tb, tc, td, *t(0.0, 0.0, 1.0, 1.0)))


def test_ndtri_matches_torch():
    p = np.concatenate([np.logspace(-300, -1, 200), np.linspace(0.01, 0.99, 500), 1 - np.logspace(-16, -2, 100)])
    mine = np.array([scalar.ndtri(x) for x in p])
    ref = torch.special.ndtri(torch.tensor(p)).numpy()
    np.testing.assert_allclose(mine, ref, rtol=1e-13, atol=1e-13)
    assert scalar.ndtri(0.0) == -np.inf and scalar.ndtri(1.0) == np.inf


@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([torch.float32, torch.float64]),
       order=st.sampled_from(["random", "tl", "br"]), interval=st.booleans(), with_image=st.booleans(),
       proposal=st.sampled_from(["uniform", "normal", "inside"]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_numba_exact_on_random_cases(seed, dtype, order, interval, with_image, proposal):
    """Aspect up to 1:1000, coordinates up to 1e5, T in [0.01, 0.999], images touching the box: IoU checked with
    an independent numpy IoU on the returned coordinates."""
    rng = np.random.default_rng(seed)
    n, num = 400, 5
    ref, T = random_cases(rng, n, dtype)
    T = T.clamp(max=0.98) if interval else T
    hi = torch.minimum(T + torch.as_tensor(rng.uniform(0.01, 0.3, n)), torch.ones(n)) if interval else None
    image = None
    if with_image:
        r = ref.double()
        margin = torch.as_tensor(rng.choice([0.0, 0.05, 1.0], (n, 2)))
        image = torch.maximum((r[:, 2:] + margin * (r[:, 2:] - r[:, :2])).to(dtype).double(), r[:, 2:])
    out = generate_boxes(ref, T, num=num, max_iou=hi, order=order, proposal=proposal, image_size=image,
                         generator=seed, backend="numba")
    assert out.shape == (n, num, 4) and out.dtype == dtype
    check_boxes(out, ref[:, None], T.numpy()[:, None], None if hi is None else hi.numpy()[:, None],
                None if image is None else image.numpy()[:, None])


@pytest.mark.slow
@pytest.mark.parametrize("T,hi,order,proposal", CASES)
def test_numba_matches_reference_distribution(T, hi, order, proposal):
    """Two-sample KS on a, b, c, d (unit frame) and IoU against generate_bb; Bonferroni over all statistics."""
    max_iou = None if hi is None else round(T + 0.1, 10)
    kw = dict(max_iou=max_iou, order=order, proposal=proposal)
    ref_s = unit_stats(reference_sample(500, T, seed=int(T * 100) + 1, **kw))
    ker_s = unit_stats(generate_boxes(REF, T, num=20000, generator=2, backend="numba", **kw)[0])
    alpha = 0.01 / (5 * len(CASES))
    for j, name in enumerate(["a", "b", "c", "d", "iou"]):
        p = stats.ks_2samp(ref_s[:, j], ker_s[:, j]).pvalue
        assert p > alpha, f"{name}: KS p = {p:.3g} (T={T}, max_iou={max_iou}, order={order}, proposal={proposal})"


def test_numba_and_torch_backends_agree_in_distribution():
    """Large samples of both backends for the three proposals (fast; the reference path test above is slow)."""
    for proposal in ("uniform", "normal", "inside"):
        a = unit_stats(generate_boxes(REF, 0.6, num=20000, proposal=proposal, generator=3, backend="numba")[0])
        b = unit_stats(generate_boxes(REF, 0.6, num=20000, proposal=proposal, generator=4, backend="torch")[0])
        assert min(stats.ks_2samp(a[:, j], b[:, j]).pvalue for j in range(5)) > 0.01 / 15, proposal
    u = unit_stats(generate_boxes(REF, 0.6, num=20000, proposal="uniform", generator=3, backend="numba")[0])
    assert stats.ks_2samp(a[:, 0], u[:, 0]).pvalue < 1e-6  # power: proposals differ (a is "inside" here)


def _refs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 500
    return torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * 100], 1)


def test_bit_identical_across_threads_and_split_calls():
    ref, T = _refs(3000), torch.linspace(0.3, 0.95, 3000)
    kw = dict(num=3, max_iou=0.97, image_size=(700, 700), proposal="normal", generator=11, backend="numba")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = generate_boxes(ref, T, **kw)
        torch.set_num_threads(2)
        two = generate_boxes(ref, T, **kw)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    split = torch.cat([generate_boxes(ref[:1234], T[:1234], **kw),
                       generate_boxes(ref[1234:], T[1234:], offset=1234 * 3, **kw)])
    assert torch.equal(one, split)
    assert not torch.equal(one, generate_boxes(ref, T, **{**kw, "generator": 12}))


def test_seed_is_one_draw_from_the_generator():
    """generator= keeps its meaning: an int seed equals a generator seeded with it, and it advances."""
    a = generate_boxes(REF, 0.7, num=50, generator=5, backend="numba")
    g = torch.Generator().manual_seed(5)
    b = generate_boxes(REF, 0.7, num=50, generator=g, backend="numba")
    c = generate_boxes(REF, 0.7, num=50, generator=g, backend="numba")
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_backend_choice_and_errors():
    assert backends.resolve_backend("auto", torch.device("cpu"), backends.uniform) == "numba"
    own = lambda lo, hi, c, n, g: backends.uniform(lo, hi, c, n, g)  # noqa: E731
    assert backends.resolve_backend("auto", torch.device("cpu"), own) == "torch"
    out = generate_boxes(REF, 0.7, num=10, proposal=own, generator=0)  # a callable runs on the torch path
    check_boxes(out[0], REF, 0.7)
    with pytest.raises(ValueError, match="backend must be one of"):
        generate_boxes(REF, 0.7, backend="cuda")
    with pytest.raises(ValueError, match="backend='triton' cannot run on cpu"):
        generate_boxes(REF, 0.7, backend="triton")
    with pytest.raises(ValueError, match="backend='numba' supports the built-in proposals only"):
        generate_boxes(REF, 0.7, proposal=own, backend="numba")
    with pytest.raises(ValueError, match="offset=3 needs a counter-based backend"):
        generate_boxes(REF, 0.7, offset=3, backend="torch")
    with pytest.raises(ValueError, match="offset must be a non-negative integer"):
        generate_boxes(REF, 0.7, offset=-1)


BAD = [
    (dict(ref_boxes=[[0.0, 0.0, -1.0, 1.0]]), ValueError, "degenerate or inverted"),
    (dict(ref_boxes=[[0.0, float("nan"), 1.0, 1.0]]), ValueError, "NaN or inf"),
    (dict(iou=1.5), ValueError, "iou must lie in"),
    (dict(iou=torch.tensor([0.5, 0.6, 0.7])), ValueError, "iou must be a float"),
    (dict(iou=0.5, max_iou=0.4), ValueError, "max_iou must be greater than iou"),
    (dict(image_size=(10, 10)), ValueError, "does not fit inside the image region"),
    (dict(order="bt"), ValueError, "order must be one of"),
    (dict(proposal="gauss"), ValueError, "proposal must be one of"),
    (dict(num=-2), ValueError, "num must be a non-negative integer"),
]


@pytest.mark.parametrize("kwargs,exc,match", BAD)
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_bad_inputs_keep_their_errors(kwargs, exc, match, backend):
    args = {"ref_boxes": [[10.0, 10.0, 50.0, 30.0], [0.0, 0.0, 20.0, 20.0]], "iou": 0.5, **kwargs}
    with pytest.raises(exc, match=match):
        generate_boxes(args.pop("ref_boxes"), args.pop("iou"), backend=backend, **args)


def test_impossible_constraint_is_a_runtime_error():
    """An interval narrower than the float64 check's margin cannot be met: a clear error, never a wrong box."""
    with pytest.raises(RuntimeError, match=r"could not meet their constraint .*ref_boxes\[0\]"):
        generate_boxes(REF, 0.5, max_iou=0.5 + 1e-13, num=2, generator=0, backend="numba")


def test_memory_estimate_and_chunked_progress(monkeypatch, capsys):
    """Issue #14 item 19: the output size is checked before allocating; large outputs are generated in chunks
    (the same boxes as one chunk) with a tqdm bar."""
    assert backends.bytes_needed(10, torch.float32) == 160 and backends.bytes_needed(10, torch.float64, 8) == 400
    monkeypatch.setattr(backends, "_memory", lambda: (1000, 500))
    with pytest.raises(ValueError, match=r"1,000 boxes: the output alone needs 31.2 KiB, more than this machine's 1000"):
        generate_boxes(REF, 0.5, num=1000)  # float64: 32 bytes per box
    with pytest.warns(ResourceWarning, match="640 bytes, more than the 500 bytes of memory available"):
        generate_boxes(REF, 0.5, num=20)
    monkeypatch.setattr(backends, "_memory", lambda: (0, 0))
    whole = generate_boxes(_refs(50), 0.6, num=20, generator=1)
    monkeypatch.setattr(backends, "CHUNK_BOXES", 64)
    monkeypatch.setattr(backends, "PROGRESS_MIN_BOXES", 100)
    capsys.readouterr()
    assert torch.equal(generate_boxes(_refs(50), 0.6, num=20, generator=1), whole)
    assert "1.00k/1.00k" in capsys.readouterr().err  # the tqdm bar, on stderr


def test_cli_and_import_do_not_load_numba():
    code = "import sys, bbgen, bbgen.cli, bbgen.generator, bbgen.roi; assert 'numba' not in sys.modules, 'numba'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_cache_dir_fallback_when_nothing_is_writable(monkeypatch, tmp_path):
    """A read-only install with a read-only home: numba's on-disk cache goes to $TMPDIR/bbgen-numba-cache."""
    import numba

    from bbgen.generator import fused_cpu

    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(fused_cpu.os, "access", lambda path, mode: False)
    monkeypatch.setattr(fused_cpu.tempfile, "gettempdir", lambda: str(tmp_path))
    fused_cpu._ensure_cache_dir()
    assert numba.config.CACHE_DIR == str(tmp_path / "bbgen-numba-cache")


def _bad_value_cases(n, num):
    """(kwargs, message) for one bad value at a random place among ``n`` refs x ``num`` boxes."""
    rng = np.random.default_rng(n + num)
    row, col = int(rng.integers(n)), int(rng.integers(num))
    ref = torch.tensor([[10.0, 20.0, 60.0, 90.0]]).repeat(n, 1)
    cases = []
    for value, coord in ((float("nan"), 1), (float("inf"), 2), (-float("inf"), 0), (60.0, 0), (5.0, 3)):
        bad = ref.clone()
        bad[row, coord] = value
        msg = "contains NaN or inf" if not np.isfinite(value) else "degenerate or inverted"
        cases.append((dict(ref_boxes=bad, iou=0.5), rf"ref_boxes\[{row}\] = .*{msg}"))
    for value in (0.0, 1.5, float("nan"), -0.2):
        per_box = torch.full((n, num), 0.5, dtype=torch.float64)
        per_box[row, col] = value
        per_row = torch.full((n,), 0.5, dtype=torch.float64)
        per_row[row] = value
        got = "nan" if value != value else str(value)
        cases += [(dict(ref_boxes=ref, iou=t), rf"iou must lie in \(0, 1\], got {got}") for t in (per_box, per_row)]
        cases.append((dict(ref_boxes=ref, iou=0.3, max_iou=per_box), rf"max_iou must lie in \(0, 1\], got {got}"))
    hi = torch.full((n, num), 0.9, dtype=torch.float64)
    hi[row, col] = 0.5
    cases.append((dict(ref_boxes=ref, iou=0.5, max_iou=hi), "max_iou must be greater than iou"))
    return cases


@pytest.mark.parametrize("n,num", [(7, 3), (3000, 2)])  # the serial loop and the parallel one (>= SERIAL_BELOW)
def test_numba_kernel_flags_every_bad_value_like_the_torch_checks(n, num):
    """The numba backend leaves the value checks to its kernel (no torch pass over the inputs): each bad reference
    box or threshold, wherever it sits, gives the torch backend's ValueError, never a box or a RuntimeError."""
    for kwargs, message in _bad_value_cases(n, num):
        for backend in ("numba", "torch"):
            with pytest.raises(ValueError, match=message):
                generate_boxes(**kwargs, num=num, generator=0, backend=backend)
