"""Problem 1 (images) training settings: the model kinds, their default step sizes and `TrainConfig`. Imports no
torch, so the CLI builds its flags from these fields without loading the models."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from a3lab.catalog import DatasetName
from a3lab.config import MAX_SEED, Checked, option
from a3lab.runs import Kind

ModelKind = Literal["cnn", "gru", "lstm", "mlp"]
MODEL_KINDS: tuple[str, ...] = typing.get_args(ModelKind)

DEFAULT_LR = {"cnn": 3e-3, "gru": 3e-3, "lstm": 3e-3, "mlp": 2e-3}
"""Peak learning rate of the one-cycle schedule, per model kind."""
DEFAULT_BATCH_SIZE = {"cnn": 64, "gru": 128, "lstm": 128, "mlp": 128}
"""Images per step, per model kind (the CNN reaches 91 % on Fashion-MNIST in 3 epochs with 64, not with 128)."""

RECORDS = ("*-seed*.json", "compare.json")
RUN_FOLDER = Kind("classify", "classify train", (*RECORDS, "*-seed*.safetensors", "*.png"), RECORDS)
"""The folder of `classify train` and `classify compare`: compare reuses the runs train leaves."""


def experiment_folder(name: str) -> Kind:
    """The run folder of `classify sequences` or `classify video`."""
    return Kind(name, f"classify {name}", (f"{name}.json", f"{name}_accuracy_vs_length.png"), (f"{name}.json",))


@dataclass
class TrainConfig(Checked):
    """One training run of one classifier on one data set."""

    dataset: DatasetName = "mnist"
    """data set"""
    model: ModelKind = "cnn"
    """model kind"""
    epochs: int = option(3, low=1, high=10_000)
    """passes over the training images"""
    batch_size: int | None = option(None, low=1, high=65_536, default_text="CNN 64, the others 128")
    """images per step"""
    lr: float | None = option(None, low=0, low_open=True, default_text="3e-3, MLP 2e-3")
    """peak one-cycle learning rate"""
    weight_decay: float = option(1e-4, low=0)
    """AdamW decoupled weight decay"""
    grad_clip: float = option(1.0, low=0)
    """clip the global gradient norm to this (0: no clipping)"""
    train_examples: int | None = option(None, low=1, default_text="all")
    """seeded subset of the training split"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """seeds the initial weights, the subset, the batch order and dropout"""
    model_overrides: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})
    """fields of the model's config to change, e.g. {"hidden_size": 64}"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size is None:
            self.batch_size = DEFAULT_BATCH_SIZE[self.model]
        if self.lr is None:
            self.lr = DEFAULT_LR[self.model]
        from a3lab.classifiers.models import make_config

        make_config(self.model, self.dataset, **self.model_overrides)  # validates the overrides now
