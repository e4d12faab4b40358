"""The image classifiers (a3lab.classifiers.models): shapes, standardisation, learning."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a3lab.classifiers import (
    CNN,
    MODEL_KINDS,
    CNNConfig,
    build_model,
    make_config,
)

TINY = {
    "cnn": {"channels": (4, 8), "hidden_size": 16},
    "gru": {"hidden_size": 16},
    "lstm": {"hidden_size": 16},
    "mlp": {"hidden_sizes": (32,)},
}


def tiny_model(kind: str, dataset: str = "mnist") -> nn.Module:
    return build_model(make_config(kind, dataset, **TINY[kind]))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_shapes_and_features(kind: str) -> None:
    model = tiny_model(kind)
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, model.num_features)
    assert model.kind == kind


def test_default_feature_width() -> None:
    assert CNN().num_features == 128
    assert CNN().features(torch.rand(2, 1, 28, 28)).shape == (2, 128)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_rejects_wrong_image_shape(kind: str) -> None:
    with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"):
        tiny_model(kind)(torch.rand(2, 28, 28))


def test_model_standardises_inside_with_saved_statistics() -> None:
    model = tiny_model("cnn", "fashion-mnist").eval()
    assert model.standardise.mean.item() == pytest.approx(0.2860)
    assert {"standardise.mean", "standardise.std"} <= set(model.state_dict())
    identity = CNN(CNNConfig(channels=(4, 8), hidden_size=16, mean=0.0, std=1.0)).eval()
    state = model.state_dict()
    state["standardise.mean"], state["standardise.std"] = torch.tensor(0.0), torch.tensor(1.0)
    identity.load_state_dict(state)
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(model(x), identity((x - 0.2860) / 0.3530))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_overfits_one_batch(kind: str) -> None:
    torch.manual_seed(0)
    model = tiny_model(kind)
    x, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
