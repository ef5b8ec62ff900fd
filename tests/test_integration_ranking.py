"""use_ranking_loss: a torchvision RetinaNet trains with RS / aLRP / AP Loss and is restored afterwards."""
from __future__ import annotations

import pytest
import torch

torchvision = pytest.importorskip("torchvision")
from torchvision.models.detection import RetinaNet  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402

from bbgen.integrations.ranking import use_ranking_loss  # noqa: E402


class _Backbone(torch.nn.Module):
    out_channels = 8

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=4, padding=1), torch.nn.ReLU())

    def forward(self, x):
        return {"0": self.body(x)}


def _model():
    torch.manual_seed(0)
    anchors = AnchorGenerator(sizes=((16, 32),), aspect_ratios=((0.5, 1.0, 2.0),))
    return RetinaNet(_Backbone(), num_classes=3, anchor_generator=anchors, min_size=64, max_size=64)


def _batch():
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 30.0, 36.0], [30.0, 20.0, 60.0, 50.0]]),
                "labels": torch.tensor([1, 2])},
               {"boxes": torch.tensor([[10.0, 10.0, 40.0, 30.0]]), "labels": torch.tensor([2])}]
    return images, targets


@pytest.mark.parametrize("loss", ["rs", "alrp", "ap"])
def test_training_step_uses_the_ranking_loss_and_restores(loss):
    model = _model()
    model.train()
    images, targets = _batch()
    stock = model(images, targets)
    with use_ranking_loss(model, loss, sb_period=1) as handle:
        losses = model(images, targets)
        total = sum(losses.values())
        total.backward()
        assert set(losses) == {"classification", "bbox_regression"}
        assert torch.isfinite(total) and handle.last is not None
        grads = [p.grad for p in model.head.classification_head.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert float(losses["classification"].detach()) != pytest.approx(float(stock["classification"].detach()))
        if loss == "rs":  # value-based self-balancing: the box loss equals the RS Loss in value
            assert float(losses["bbox_regression"].detach()) == pytest.approx(float(losses["classification"].detach()))
        if loss == "alrp":  # period 1: the weight is already (cls + loc) / loc
            assert handle.last["box_weight"] == pytest.approx((handle.last["cls"] + handle.last["loc"])
                                                              / handle.last["loc"])
    assert "compute_loss" not in model.head.__dict__
    after = model(images, targets)
    assert float(after["classification"].detach()) == pytest.approx(float(stock["classification"].detach()))


@pytest.mark.parametrize("loss", ["rs", "alrp", "ap"])
def test_a_few_steps_lower_the_loss(loss):
    model = _model()
    model.train()
    images, targets = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    values = []
    with use_ranking_loss(model, loss, sb_period=5):
        for _ in range(20):
            opt.zero_grad()
            losses = model(images, targets)
            values.append(float(losses["classification"].detach()))
            sum(losses.values()).backward()
            opt.step()
    assert values[-1] < 0.8 * values[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss must be one of"):
        use_ranking_loss(_model(), "focal")
    with pytest.raises(TypeError, match="RetinaNet"):
        use_ranking_loss(torch.nn.Linear(2, 2), "rs")
