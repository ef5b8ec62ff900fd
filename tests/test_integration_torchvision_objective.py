"""Objective-imbalance monitor on a torchvision Faster R-CNN: gradient norms, record, plot, report, CLI."""
from __future__ import annotations

import json

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
pytest.importorskip("torchvision")

from bbgen.imbalance.objective import (ObjectiveMonitor, load_objective_log, monitor_objectives,  # noqa: E402
                                       objective_shares)
from frcnn_testkit import tiny_batch, tiny_model  # noqa: E402

WEIGHTS = {"loss_box_reg": 2.0}


def _train(model, steps, record_into=None):
    """Stock training steps (global RNG seeded: torchvision's samplers draw from it)."""
    images, targets = tiny_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    torch.manual_seed(0)
    for _ in range(steps):
        losses = model(images, targets)
        if record_into is not None:  # independent norms on the same graph, before backward frees it
            shared = [p for p in model.backbone.parameters() if p.requires_grad]
            row = {}
            for name, loss in losses.items():
                grads = torch.autograd.grad(WEIGHTS.get(name, 1.0) * loss, shared, retain_graph=True,
                                            allow_unused=True)
                flat = torch.cat([g.reshape(-1) for g in grads if g is not None])
                row[name] = (float(loss.detach()), float(torch.linalg.vector_norm(flat.double())))
            record_into.append(row)
        opt.zero_grad()
        sum(WEIGHTS.get(k, 1.0) * v for k, v in losses.items()).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_monitor_grad_norms_equal_autograd_and_training_is_unchanged():
    model = tiny_model()
    independent = []
    with monitor_objectives(model, interval=2, weights=WEIGHTS) as rec:
        after = _train(model, 3, independent)
    assert rec.steps_seen == 3 and sorted(set(rec.columns["step"])) == [0, 2]
    assert rec.terms == ["loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"]
    assert rec.num_shared_params == sum(p.numel() for p in model.backbone.parameters() if p.requires_grad)
    for step, term, value, weight, norm in zip(*(rec.columns[c] for c in ("step", "term", "value", "weight",
                                                                          "grad_norm"))):
        ref_value, ref_norm = independent[step][term]
        assert value == pytest.approx(ref_value, rel=1e-6)
        assert weight == WEIGHTS.get(term, 1.0)
        assert norm == pytest.approx(ref_norm, rel=1e-5) and norm > 0
    assert len(rec.cost["seconds"]) == 2 and all(s > 0 for s in rec.cost["seconds"])
    # the monitor does not change training: same weights as a run without it
    plain = _train(tiny_model(), 3)
    assert all(torch.equal(a, b) for a, b in zip(after, plain))
    # the hook is gone after the block
    n = rec.steps_seen
    _train(model, 1)
    assert rec.steps_seen == n


def test_record_roundtrip_shares_plot_and_report_section(tmp_path):
    model = tiny_model()
    with monitor_objectives(model, interval=1) as rec:
        _train(model, 2)
    path = rec.save(tmp_path / "log.json")
    back = load_objective_log(path)
    assert back.to_dict() == json.loads(json.dumps(rec.to_dict()))
    shares = objective_shares(back)
    for key in ("loss_share", "grad_share"):
        for i in range(len(shares["steps"])):
            assert sum(shares[key][t][i] for t in shares["terms"]) == pytest.approx(1.0)
    assert shares["dominant_grad_term"] in shares["terms"]
    from bbgen.plot.objective import plot_objective_shares
    from bbgen.report.training_section import training_section

    ax = plot_objective_shares(shares)
    assert len(ax.collections) == 4  # one stacked area per term
    section = training_section(None, log=path)
    assert section.numbers["measured_steps"] == 2 and section.numbers["terms"] == shares["terms"]
    json.dumps(section.numbers, allow_nan=False)
    # the command line: bbgen report --training-log LOG
    from bbgen.cli import main

    out = tmp_path / "report"
    assert main(["report", "--synthetic-images", "20", "--num-batches", "2", "--no-progress",
                 "--training-log", str(path), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["sections"]["objective"]["numbers"]["dominant_grad_term"] == shares["dominant_grad_term"]


def test_bad_log_and_arguments(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"interval": 1}')
    with pytest.raises(ValueError, match="objective-monitor log"):
        load_objective_log(bad)
    from bbgen.cli import main

    assert main(["report", "--training-log", str(bad), "--out", str(tmp_path / "r")]) == 1
    assert "objective-monitor log" in capsys.readouterr().err
    model = tiny_model()
    with pytest.raises(ValueError, match="interval"):
        ObjectiveMonitor(model, interval=0)
    with pytest.raises(ValueError, match="weights"):
        ObjectiveMonitor(model, weights={"loss_box_reg": float("nan")})
    with pytest.raises(TypeError, match="params"):
        ObjectiveMonitor(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="params"):
        ObjectiveMonitor(model, params=[torch.zeros(3)])
    mon = ObjectiveMonitor(model, interval=1)
    with pytest.raises(ValueError, match="loss_x"):
        mon.observe({"loss_x": torch.zeros(2)})
