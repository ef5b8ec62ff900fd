"""The papers' regression simulations as library code: Zhang et al. Alg. 1 (bbgen.studies.zhang_regression,
zhang_claims) and Peng & Yu Fig. 4c/5 (bbgen.studies.peng_regression), and their plots. The scripts'
README commands are run as subprocesses in tests/test_analysis_scripts.py."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bbgen.losses import ciou_loss, efficient_iou_loss, giou_loss  # noqa: E402
from bbgen.plot.simulations import plot_peng_figure, plot_zhang_errors, plot_zhang_ious  # noqa: E402
from bbgen.studies import peng_regression as peng  # noqa: E402
from bbgen.studies import zhang_claims as claims  # noqa: E402
from bbgen.studies import zhang_regression as zhang  # noqa: E402
from bbgen.studies.claims import Claim, format_claims  # noqa: E402

F64 = torch.float64
CONVERGING = {"GIoU": giou_loss, "CIoU": ciou_loss, "EIoU": efficient_iou_loss}


def _area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def test_zhang_setups_follow_the_paper():
    pred, target = zhang.make_pairs(1, 3, generator=0, dtype=F64)
    assert pred.shape == target.shape == (3 * 49 * 7, 4)
    torch.testing.assert_close(_area(target), torch.full((len(target),), 100.0, dtype=F64))
    assert set(torch.round(_area(pred)).tolist()) == {50, 67, 75, 100, 133, 150, 200}
    ratios = (target[:, 2] - target[:, 0]) / (target[:, 3] - target[:, 1])
    assert sorted(set(torch.round(ratios * 1000).tolist())) == sorted(
        round(r * 1000) for r in (1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4))
    centres = (target[:, :2] + target[:, 2:]) / 2
    torch.testing.assert_close(centres, torch.full_like(centres, 10.0))
    same = zhang.make_pairs(1, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    torch.testing.assert_close(same[0], pred, rtol=0, atol=0)  # a torch.Generator or its int seed
    p2, t2 = zhang.make_pairs(2, 5, generator=1, dtype=F64)
    assert p2.shape == (5 * 9 * 3, 4)
    assert (((p2[:, :2] + p2[:, 2:]) / 2 - 10).abs() <= 1.25).all()


@pytest.mark.parametrize("setup", [1, 2])
def test_diou_reading_scales_every_length_and_keeps_the_disjoint_share(setup):
    """Issue #15: the scale-consistent reading multiplies centres, side and sizes alike, so every pair
    has the literal IoU and the share of disjoint starts is the same (full 1000/100 points)."""
    lit = zhang.make_pairs(setup, zhang.SETUPS[setup].points, reading="literal",
                           generator=0, dtype=F64)
    dio = zhang.make_pairs(setup, zhang.SETUPS[setup].points, reading="diou",
                           generator=0, dtype=F64)
    for a, b in zip(lit, dio):
        torch.testing.assert_close(b, 0.1 * a)
    torch.testing.assert_close(_area(dio[1]), torch.ones(len(dio[1]), dtype=F64))  # the DIoU paper's unit area
    share = zhang.disjoint_share(*lit)
    assert zhang.disjoint_share(*dio) == share
    if setup == 1:
        assert 0.15 < share < 0.3  # most anchors overlap their target, but far from all
    else:
        assert share == 0.0  # "anchors have heavy overlaps with targets"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=2), st.lists(st.floats(0.1, 30), min_size=2, max_size=2))
def test_encode_decode_roundtrip(xy, wh):
    box = torch.tensor([[xy[0], xy[1], xy[0] + wh[0], xy[1] + wh[1]]], dtype=F64)
    for param in zhang.PARAMETERISATIONS:
        torch.testing.assert_close(zhang.decode(zhang.encode(box, param), param), box)
    cx, cy, w, h = zhang.encode(box, "xywh")[0].tolist()
    assert (w, h) == pytest.approx(wh) and cx == pytest.approx(xy[0] + wh[0] / 2)


def test_learning_rate_schedule():
    lrs = [zhang.learning_rate(t, 200) for t in range(1, 201)]
    assert lrs[:160] == [0.1] * 160 and lrs[160:180] == [0.01] * 20 and lrs[180:] == [0.001] * 20


@pytest.mark.slow
@pytest.mark.parametrize("param", ["xyxy", "xywh"])
def test_scale_consistent_reading_converges_and_literal_does_not(param):
    """Issue #15, judged: with every length scaled together, GIoU, CIoU and EIoU reach E(T)/E(0) < 0.01 in
    setup 1 (reduced to 20 centres, full T = 200); Alg. 1 as printed barely moves."""
    res = zhang.run_setup(1, reading="diou", param=param, points=20, losses=CONVERGING, progress=False)
    assert res.iterations == 200 and len(res.error["EIoU"]) == 201
    for name in CONVERGING:
        assert res.final_ratio(name) < 0.01, (name, res.final_ratio(name))
    lit = zhang.run_setup(1, reading="literal", param=param, points=20, losses=CONVERGING, progress=False)
    assert all(lit.final_ratio(n) > 0.8 for n in CONVERGING)
    assert not zhang.READINGS["literal"].converges and zhang.READINGS["diou"].converges


def test_mu_times_inverse_squared_scale_is_the_same_reading():
    """Scale invariance: the printed geometry with μ × 100 follows the diou trajectories (E × 10; the losses'
    eps = 1e-7 guards are the only scale-dependent term)."""
    kw = dict(points=4, iterations=30, losses={"EIoU": efficient_iou_loss, "CIoU": ciou_loss}, dtype=F64,
              progress=False, param="xywh")
    a, b = zhang.run_setup(1, reading="diou", **kw), zhang.run_setup(1, reading="literal-lr", **kw)
    for name in a.error:
        torch.testing.assert_close(torch.tensor(b.error[name]), 10 * torch.tensor(a.error[name]), rtol=1e-4,
                                   atol=0)


def test_parameterisation_and_step_change_the_dynamics():
    kw = dict(points=3, iterations=20, losses={"EIoU": efficient_iou_loss}, progress=False, reading="diou")
    xyxy, xywh = zhang.run_setup(2, param="xyxy", **kw), zhang.run_setup(2, param="xywh", **kw)
    diou_step = zhang.run_setup(2, param="xyxy", step="diou", **kw)
    assert xyxy.error["EIoU"][5] != pytest.approx(xywh.error["EIoU"][5], rel=1e-3)
    # (2 - IoU) >= 1 makes every step at least as long: faster early descent
    assert diou_step.error["EIoU"][5] < xyxy.error["EIoU"][5]
    assert "xywh" in xywh.label and "step diou" in diou_step.label and "diou reading," in xyxy.label
    assert "literal reading (non-converging)" in zhang.run_setup(2, param="xyxy", **{**kw, "reading": "literal"}).label


def test_claims_and_tables():
    res = zhang.run_setup(2, reading="diou", points=4, iterations=20, progress=False)
    res1 = zhang.run_setup(1, reading="diou", points=2, iterations=20, progress=False)
    for focal in zhang.FOCAL_VARIANTS:
        assert len(claims.check_claims(res, focal)) == 5 and len(claims.check_claims(res1, focal)) == 4
    c = claims.check_claims(res1)[2]
    assert isinstance(c, Claim) and c.agrees == (res1.error["Focal-EIoU"][-1] > res1.error["EIoU"][-1])
    assert "AGREES" in format_claims([c]) or "DISAGREES" in format_claims([c])
    rows = claims.claim_rows([res1, res])
    assert len(rows) == 2 * (4 + 5) and {r["focal"] for r in rows} == set(zhang.FOCAL_VARIANTS)
    md = claims.claims_markdown([res1, res])
    assert md.count("\n") == 1 + 9 and "diou xyxy" in md
    assert "| 1 | diou | xyxy |" in claims.ratios_markdown([res1, res])
    back = zhang.SetupResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert claims.check_claims(back) == claims.check_claims(res)
    with pytest.raises(ValueError, match="focal"):
        claims.check_claims(res, "Focal")


def test_zhang_bad_arguments():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="reading"):
        zhang.make_pairs(1, 2, reading="percent", generator=g)
    with pytest.raises(ValueError, match="setup"):
        zhang.make_pairs(3, 2, generator=g)
    with pytest.raises(ValueError, match="points"):
        zhang.make_pairs(1, 0, generator=g)
    with pytest.raises(ValueError, match="param"):
        zhang.run_setup(2, param="cxcy", points=1, iterations=2, progress=False)
    with pytest.raises(ValueError, match="step"):
        zhang.run_setup(2, step="adam", points=1, iterations=2, progress=False)
    with pytest.raises(ValueError, match="iterations"):
        zhang.run_setup(2, points=1, iterations=0, progress=False)
    with pytest.raises(TypeError, match="generator"):
        zhang.make_pairs(1, 2, generator="seed")


def test_zhang_plots_take_results_or_json():
    res = zhang.run_setup(2, reading="diou", param="xywh", points=2, iterations=10, progress=False)
    fig, axes = plt.subplots(1, 3)
    assert plot_zhang_errors(res, ax=axes[0]) is axes[0]
    assert "diou reading, xywh" in axes[0].get_title()
    assert all("(xywh)" in t.get_text() for t in axes[0].get_legend().get_texts())
    assert plot_zhang_ious(json.loads(json.dumps(res.to_dict())), ax=axes[1]) is axes[1]
    with pytest.raises(TypeError, match="result"):
        plot_zhang_errors([1, 2], ax=axes[2])
    plt.close(fig)


def test_peng_fig5a_sot_is_size_invariant_and_fig4c_behaviour():
    sim = peng.simulate_figures(lr=0.1, iterations=80)
    curves = [sim.fig5a[f"{z} with SOT"]["eiou"] for z in ("small", "medium", "large")]
    for c in curves[1:]:
        assert max(abs(a - b) for a, b in zip(c, curves[0])) < 1e-5
    smooth = sim.fig4c["smooth_eiou"]["loss"]
    assert all(b <= a + 1e-12 for a, b in zip(smooth, smooth[1:])) and smooth[-1] < 1e-8
    minus = sim.fig4c["minus_eiou"]["eiou"]
    assert max(minus[40:]) - min(minus[40:]) > 0.05  # still oscillating late in the run
    fig, ax = plt.subplots()
    assert plot_peng_figure(sim, "fig5b", ax=ax) is ax and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="figure"):
        plot_peng_figure(sim, "fig6", ax=ax)
    plt.close(fig)


def test_peng_trapped_start_converges_with_a_longer_budget():
    """Issue #15: without SOT the (0, 0, 4, 4) start is not trapped at lr 0.1, only slow (iteration 376)."""
    table = peng.convergence_table([0.1], budget=400)
    assert table.get(0.1, "fig5b large without SOT") == 376
    assert table.get(0.1, "fig5b large with SOT") < 100
    sim = peng.simulate_figures(lr=0.1, iterations=200)
    verdicts = {c.statement: c for c in peng.check_claims(sim, table)}
    trapped = verdicts["without SOT the (0,0,4,4) start is trapped and does not reach the target"]
    assert not trapped.agrees and "376" in trapped.evidence
    assert peng.first_converged(sim.fig5b["large without SOT"]["eiou"]) is None  # why a 200-step run says trapped
    short = peng.convergence_table([0.1], budget=300)
    assert [c for c in peng.check_claims(sim, short) if "trapped" in c.statement][0].agrees


def test_peng_bad_arguments():
    with pytest.raises(ValueError, match="loss"):
        peng.regress((0, 0, 1, 1), (0, 0, 1, 1), loss="l2", sot=True, lr=0.1, iterations=2)
    with pytest.raises(ValueError, match="lr"):
        peng.regress((0, 0, 1, 1), (0, 0, 1, 1), loss="smooth_eiou", sot=True, lr=float("nan"), iterations=2)
    with pytest.raises(ValueError, match="lr"):
        peng.check_claims(peng.simulate_figures(0.1, 10), peng.convergence_table([0.2], budget=10))
