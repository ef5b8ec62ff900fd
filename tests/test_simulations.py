"""The papers' simulations (analysis/sim_focal_eiou.py, analysis/sim_extended_iou.py) and the
regression-loss imbalance script, run in their --quick modes."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "analysis"))

import regression_loss_imbalance  # noqa: E402
import sim_extended_iou  # noqa: E402
import sim_focal_eiou  # noqa: E402


def test_zhang_setups_follow_the_paper():
    g = torch.Generator().manual_seed(0)
    pred, target = sim_focal_eiou.make_pairs(1, 3, g, dtype=torch.float64)
    assert pred.shape == target.shape == (3 * 49 * 7, 4)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    torch.testing.assert_close(area(target), torch.full((len(target),), 100.0, dtype=torch.float64))
    assert set(torch.round(area(pred)).tolist()) == {50, 67, 75, 100, 133, 150, 200}
    ratios = (target[:, 2] - target[:, 0]) / (target[:, 3] - target[:, 1])
    assert sorted(set(torch.round(ratios * 1000).tolist())) == sorted(
        round(r * 1000) for r in (1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4))
    centres = (target[:, :2] + target[:, 2:]) / 2
    torch.testing.assert_close(centres, torch.full_like(centres, 10.0))
    p2, t2 = sim_focal_eiou.make_pairs(2, 5, g, dtype=torch.float64, area_scale=0.01)
    assert p2.shape == (5 * 9 * 3, 4)
    c2 = (p2[:, :2] + p2[:, 2:]) / 2
    assert ((c2 - 10).abs() <= 1.25).all()
    torch.testing.assert_close(area(t2), torch.full((len(t2),), 1.0, dtype=torch.float64))


def test_zhang_learning_rate_schedule():
    lrs = [sim_focal_eiou.learning_rate(t, 200) for t in range(1, 201)]
    assert lrs[:160] == [0.1] * 160 and lrs[160:180] == [0.01] * 20 and lrs[180:] == [0.001] * 20


def test_zhang_simulation_descends_and_reports_claims():
    res = sim_focal_eiou.run_setup(2, reading="diou", points=6, iterations=30, progress=False)
    assert res.pairs == 6 * 9 * 3 and len(res.error["EIoU"]) == 31
    for name in ("GIoU", "CIoU", "EIoU"):
        assert res.error[name][-1] < 0.5 * res.error[name][0], name
    assert [s for s in res.snapshots] == list(range(0, 31, 3))
    for focal in sim_focal_eiou.FOCAL_VARIANTS:
        claims = sim_focal_eiou.check_claims(res, focal)
        assert len(claims) == 5 and all(isinstance(ok, bool) for _, ok, _ in claims)


def test_zhang_script_quick(tmp_path, capsys):
    out = tmp_path / "sim.json"
    assert sim_focal_eiou.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [(s["setup"], s["reading"]) for s in data["setups"]] == [(1, "literal"), (2, "literal"), (1, "diou"),
                                                                    (2, "diou")]
    assert out.with_suffix(".png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "AGREES" in text and "Fig. 7a" in text and "Fig. 8b" in text


def test_zhang_script_rejects_bad_arguments():
    with pytest.raises(SystemExit) as exc:
        sim_focal_eiou.main(["--iterations", "3"])
    assert exc.value.code == 2


def test_peng_fig5a_sot_is_size_invariant_and_fig4c_behaviour():
    res = sim_extended_iou.run(lr=0.1, iterations=80)
    curves = [res["fig5a"][f"{z} with SOT"]["eiou"] for z in ("small", "medium", "large")]
    for c in curves[1:]:
        assert max(abs(a - b) for a, b in zip(c, curves[0])) < 1e-5
    smooth = res["fig4c"]["smooth_eiou"]["loss"]
    assert all(b <= a + 1e-12 for a, b in zip(smooth, smooth[1:]))
    assert smooth[-1] < 1e-8
    minus = res["fig4c"]["minus_eiou"]["eiou"]
    assert max(minus[40:]) - min(minus[40:]) > 0.05  # still oscillating late in the run


def test_peng_script_quick(tmp_path, capsys):
    out = tmp_path / "peng.json"
    assert sim_extended_iou.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["iterations"] == 100 and len(data["claims"]) == 7
    assert out.with_suffix(".png").exists()
    assert "Fig. 4c" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        sim_extended_iou.main(["--lr", "-1"])
    with pytest.raises(ValueError, match="loss"):
        sim_extended_iou.regress((0, 0, 1, 1), (0, 0, 1, 1), loss="l2", sot=True, lr=0.1, iterations=2)


def test_regression_imbalance_script_quick(tmp_path, capsys):
    out = tmp_path / "reg.json"
    assert regression_loss_imbalance.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["source"] == "synthetic" and len(data["bins"]) == 5
    assert all(math.isfinite(v) for vals in data["mean_loss"].values() for v in vals)
    assert out.with_suffix(".png").exists()
    assert "rpn_like" in capsys.readouterr().out


def test_regression_imbalance_script_bad_annotations(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert regression_loss_imbalance.main(["--quick", "--annotations", str(bad), "--out",
                                           str(tmp_path / "x.json")]) == 2
    assert "error" in capsys.readouterr().err
