"""The sequence models (a3lab.classifiers.sequences.models)."""

import pytest
import torch

from a3lab.classifiers.sequences import (
    HandWired,
    SequenceCNN,
    SequenceConfig,
    SequenceMLP,
    accuracy,
    build_model,
    make_test_sets,
)


def tiny_config(**kw) -> SequenceConfig:
    base = {"steps": 30, "batch_size": 32, "eval_size": 40, "test_lengths": (5, 20, 60), "hidden_size": 8}
    return SequenceConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", ["gru", "lstm", "cnn1d", "mlp"])
def test_model_shapes(kind: str) -> None:
    model = build_model(kind, "parity", tiny_config())
    for T in (1, 5, 20) if kind == "mlp" else (1, 5, 20, 70):
        assert model(torch.randn(3, T)).shape == (3,)


def test_mlp_refuses_longer_inputs() -> None:
    with pytest.raises(ValueError, match="length <= 20"):
        SequenceMLP(max_length=20)(torch.randn(2, 21))


def test_cnn_receptive_field_is_fixed() -> None:
    torch.manual_seed(0)
    model = SequenceCNN(channels=8, kernel_size=3, num_layers=3)
    assert model.receptive_field == 7
    x = torch.randn(1, 40)
    x2 = x.clone()
    x2[0, 20] += 1.0
    changed = (model.convs(x2.unsqueeze(1)) - model.convs(x.unsqueeze(1))).abs().sum(1)[0] > 0  # (T,)
    positions = set(changed.nonzero().flatten().tolist())
    assert 20 in positions and positions <= set(range(17, 24))  # only position 20 +- 3 can move (ReLU may zero some)


@pytest.mark.parametrize("task", ["alternating", "parity"])
def test_hand_wired_reference_is_exact(task: str) -> None:
    config = tiny_config(test_lengths=(1, 2, 301))
    model = HandWired(task)
    for x, y in make_test_sets(task, config).values():
        assert accuracy(model, task, x, y) == 1.0
