"""The sequence experiment's settings: tasks, models, sizes, training budget, test lengths and presets. Imports
no torch, so the CLI builds its flags from these fields without loading the models."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from a3lab.config import MAX_SEED, Checked, option
from a3lab.errors import UserError

SequenceTask = Literal["alternating", "parity"]
TASKS: tuple[str, ...] = typing.get_args(SequenceTask)
SequenceModel = Literal["gru", "lstm", "cnn1d", "mlp", "hand_wired"]
MODELS: tuple[str, ...] = typing.get_args(SequenceModel)
TEST_LENGTHS: tuple[int, ...] = (20, 50, 100, 500, 1000)
THREADS = 1
"""Intra-op threads of a run: these models are tiny, and on CPU a second thread only adds synchronisation,
which costs far more than it saves."""


@dataclass
class SequenceConfig(Checked):
    """The sequence experiment: tasks, models, training budget and test lengths."""

    tasks: tuple[SequenceTask, ...] = TASKS
    """tasks to run: alternating, parity"""
    models: tuple[SequenceModel, ...] = MODELS
    """models to run: gru, lstm, cnn1d, mlp, hand_wired"""
    train_min_length: int = option(1, low=1)
    """shortest training sequence"""
    train_max_length: int = option(20, low=1)
    """longest training sequence; also the MLP's fixed input length"""
    test_lengths: tuple[int, ...] = option(TEST_LENGTHS, low=1)
    """lengths to test on"""
    steps: int = option(1500, low=1)
    """optimisation steps per model (one length per batch, drawn uniformly)"""
    batch_size: int = option(128, low=1, high=65_536)
    """sequences per step"""
    curriculum: float = option(0.5, low=0, high=1)
    """share of the steps over which the longest training length grows from 2 to train_max_length (0: none)"""
    lr: float = option(1e-2, low=0, low_open=True)
    """Adam learning rate (cosine decay to 0)"""
    hidden_size: int = option(32, low=1, high=4096)
    """hidden units of the GRU and LSTM"""
    cnn_channels: int = option(32, low=1)
    """channels of the 1-D CNN"""
    cnn_kernel_size: int = option(3, low=1)
    """kernel of each 1-D convolution (odd)"""
    cnn_layers: int = option(3, low=1)
    """convolutions in the 1-D CNN; receptive field 1 + layers * (kernel - 1)"""
    mlp_hidden_size: int = option(64, low=1, high=4096)
    """hidden units of the MLP"""
    max_value: int = option(100, low=1)
    """alternating task: integers drawn from [-max_value, max_value]"""
    eval_size: int = option(1000, low=1, high=100_000)
    """test sequences per length"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """seeds the weights and the training and test sequences"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_min_length > self.train_max_length:
            raise UserError(
                f"need `train_min_length` <= `train_max_length`, got {self.train_min_length}, {self.train_max_length}"
            )
        if not self.test_lengths:
            raise UserError("`test_lengths` must be one or more integers >= 1, got none")
        if self.cnn_kernel_size % 2 == 0:
            raise UserError(f"`cnn_kernel_size` must be odd and >= 1, got {self.cnn_kernel_size}")


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"steps": 500, "eval_size": 400},
    "full": {"steps": 3000, "eval_size": 2000},
}
"""SequenceConfig overrides of `section_experiment`'s presets."""
