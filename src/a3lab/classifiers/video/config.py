"""The video experiment's settings: tasks, models, sizes, work budget and presets. Imports no torch, so the
CLI builds its flags from these fields without loading the models."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from a3lab.catalog import DatasetName
from a3lab.config import MAX_SEED, Checked, option
from a3lab.errors import UserError

VideoTask = Literal["first", "direction", "increasing", "max", "sum"]
TASKS: tuple[str, ...] = typing.get_args(VideoTask)
ORDER_TASKS: tuple[str, ...] = ("first", "direction", "increasing")
"""Tasks whose label depends on the order of the frames (the others are order-blind controls)."""
VideoModel = Literal["mean_pool", "gru", "c3d", "transformer"]
MODELS: tuple[str, ...] = typing.get_args(VideoModel)
RECURRENT: tuple[str, ...] = ("gru",)
MAX_LENGTH = 4096
"""Longest training clip: beyond it the clips of one task cannot fit in memory."""


@dataclass
class VideoModelConfig(Checked):
    """Sizes shared by the four clip classifiers."""

    channels: tuple[int, ...] = option((16, 32), low=1)
    """output channels of the two convolutions (2-D per frame, or 3-D)"""
    feature_dim: int = option(64, low=1)
    """F: width of a frame's (or a C3D time step's) feature vector"""
    hidden_dim: int = option(64, low=1)
    """H: GRU state and classifier-head width; D of the transformer"""
    transformer_depth: int = option(2, low=1)
    """transformer blocks"""
    transformer_heads: int = option(4, low=1)
    """attention heads (must divide hidden_dim)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.channels) != 2:
            raise UserError(f"`channels` must be two integers >= 1, got {self.channels}")
        if self.hidden_dim % self.transformer_heads:
            raise UserError(
                f"`hidden_dim` ({self.hidden_dim}) must be divisible by `transformer_heads` ({self.transformer_heads})"
            )


@dataclass
class VideoConfig(Checked):
    """The video experiment: data, models, work budget and test lengths."""

    dataset: DatasetName = "mnist"
    """item source"""
    tasks: tuple[VideoTask, ...] = ("first", "direction", "increasing", "max")
    """tasks: first, direction, increasing (order-dependent), max, sum (order-blind controls)"""
    models: tuple[VideoModel, ...] = MODELS
    """models: mean_pool, gru, c3d, transformer"""
    length: int = option(8, low=2, high=MAX_LENGTH)
    """T: frames per training clip"""
    test_factors: tuple[int, ...] = option((1, 2, 4), low=1)
    """test on clips of T times each factor"""
    train_clips: int = option(8000, low=1, high=200_000)
    """training clips per task (drawn once, sampled with replacement)"""
    test_clips: int = option(1000, low=1, high=100_000)
    """test clips per task and length"""
    steps: int = option(600, low=1)
    """optimisation steps per model and task"""
    batch_size: int = option(32, low=1, high=65_536)
    """clips per step"""
    lr: float = option(3e-3, low=0, low_open=True)
    """peak AdamW learning rate (linear warm-up over 5% of the steps, cosine decay to 0)"""
    pretrain_steps: int = option(400, low=1)
    """steps of the shared frame CNN on single items (batch 128)"""
    model: VideoModelConfig = field(default_factory=VideoModelConfig)
    """model sizes"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """seeds the clips, the weights and the batch order"""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("tasks", "models", "test_factors"):
            if not getattr(self, name):
                raise UserError(f"`{name}` must name one or more, got none")

    @property
    def test_lengths(self) -> tuple[int, ...]:
        return tuple(self.length * f for f in self.test_factors)


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "tasks": ("first", "direction", "max"),
        "length": 6,
        "steps": 180,
        "batch_size": 16,
        "pretrain_steps": 200,
        "train_clips": 3000,
        "test_clips": 200,
    },
    "full": {"steps": 600, "batch_size": 32, "pretrain_steps": 800, "train_clips": 20000, "test_clips": 1000},
}
"""VideoConfig overrides of each preset."""
