"""a3lab.attention.task_config: the nested configs of the learning experiments, their bounds and errors."""

from __future__ import annotations

import pytest

from a3lab.attention.config import AttentionConfig
from a3lab.attention.task_config import ModelConfig, TrainConfig, nest
from a3lab.config import from_dict, to_dict


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(kind="banded"), "`kind` must be one of"),
        (dict(window=0), "`window`"),
        (dict(kind="linformer", k=49), "`k` must be <="),
        (dict(dim=15), "divisible by `heads`"),
        (dict(kind="sliding_dilated", dilation=1), "`dilation` >= 2"),
        (dict(kind="sliding_dilated", depth=1), "`depth` >= 2"),
        (dict(num_classes=1), "`num_classes`"),
        (dict(image_shape=(6, 7)), "image_shape"),
    ],
)
def test_model_config_errors_name_the_flag(overrides: dict, message: str) -> None:
    options = dict(kind="sliding", seq_len=48, vocab_size=24, num_classes=2, dim=16, depth=2, heads=2, window=4)
    with pytest.raises(ValueError, match=message):
        from_dict(ModelConfig, nest(ModelConfig, {**options, **overrides}))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(task="pixel-cifar"), "`task`"),
        (dict(steps=0), "`steps`"),
        (dict(lr=0.0), "`lr`"),
        (dict(train_examples=0), "`train_examples`"),
        (dict(task="long-range", length=2048, span=1025), "`span`"),
        (dict(task="long-range", length=64, kind="linformer", k=66), "`k`"),  # 64 tokens + CLS
    ],
)
def test_train_config_errors_name_the_flag(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.create(**overrides)


def test_flat_names_land_where_they_are_declared() -> None:
    assert nest(TrainConfig, {"steps": 3, "window": 4, "depth": 2, "kind": "sliding"}) == {
        "steps": 3, "model": {"depth": 2, "kind": "sliding", "attention": {"window": 4}}}  # fmt: skip
    with pytest.raises(ValueError, match="unknown TrainConfig fields: windows"):
        nest(TrainConfig, {"windows": 4})


def test_the_task_fills_in_the_model_and_the_kind_the_layers() -> None:
    config = TrainConfig.create(task="long-range", kind="linformer", length=64, span=8, k=16)
    m = config.model
    assert (m.seq_len, m.vocab_size, m.num_classes, m.image_shape, m.readout) == (64, 18, 2, None, "cls")
    assert (m.attention.kind, m.attention.seq_len, m.attention.k) == ("linformer", 65, 16)  # 64 tokens + CLS
    assert TrainConfig().model.attention.dilation == ModelConfig().attention.dilation == AttentionConfig().dilation
    glob = TrainConfig.create(kind="sliding_global").model
    assert glob.uses_cls and glob.attention.global_tokens == 1 and glob.attention.kind == "sliding"
    assert from_dict(TrainConfig, to_dict(config)) == config
