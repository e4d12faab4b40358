"""The captions experiment's settings: models, sizes, work budget and presets. Imports no torch, so the CLI
builds its flags from these fields without loading the models."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from a3lab.catalog import DatasetName
from a3lab.config import MAX_SEED, Checked, option
from a3lab.errors import UserError
from a3lab.runs import Kind

CaptionModel = Literal["show_tell", "per_position", "ctc", "crnn"]
MODELS: tuple[str, ...] = typing.get_args(CaptionModel)
RECURRENT: tuple[str, ...] = ("show_tell", "crnn")
SEEN = (1, 2, 3, 4)
"""Items per strip the models train on."""
UNSEEN = (5, 6, 7, 8)
"""Items per strip they are tested on besides."""
READS = 0.5
"""Exact-caption accuracy on a run's test strips of a length from which a model is said to read that length."""
RUN_FOLDER = Kind(
    "captions", "classify captions train", ("run.json", "results.json", "*.pt", "*.png", "models"), ("run.json",)
)
"""The folder of `classify captions train` (its layout: `a3lab.classifiers.captions.folder`)."""


@dataclass
class CaptionModelConfig(Checked):
    """Sizes of the caption models."""

    channels: tuple[int, ...] = option((32, 32, 64), low=1)
    """channels of the encoder's three convolutions"""
    feature_dim: int = option(64, low=1)
    """D: width of a column feature"""
    hidden_dim: int = option(96, low=1)
    """H: GRU state (per direction for the CRNN) and the per-position model's hidden layer / 2"""
    beam_size: int = option(3, low=1)
    """show_tell: beams (1 = greedy)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.channels) != 3:
            raise UserError(f"`channels` must be three integers >= 1, got {self.channels}")


@dataclass
class CaptionConfig(Checked):
    """One captions experiment: data set, models, work budget and test sizes."""

    dataset: DatasetName = "mnist"
    """item source"""
    models: tuple[CaptionModel, ...] = MODELS
    """models: show_tell, per_position, ctc, crnn"""
    steps: int = option(1500, low=1)
    """optimisation steps per model"""
    batch_size: int = option(32, low=1, high=65_536)
    """strips per step"""
    lr: float = option(2e-3, low=0, low_open=True)
    """peak AdamW learning rate (warm-up, cosine decay to 0)"""
    pretrain_steps: int = option(400, low=1)
    """steps of the shared encoder on single items (batch 128) before the caption models train"""
    train_per_length: int = option(10000, low=1, high=200_000)
    """training strips of each length 1..4 (drawn once, sampled with replacement)"""
    test_per_length: int = option(500, low=1, high=20_000)
    """test strips of each length 1..8"""
    model: CaptionModelConfig = field(default_factory=CaptionModelConfig)
    """model sizes (beam size of show_tell included)"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """seeds the strips, the weights and the batch order"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.models:
            raise UserError("`models` must name one or more, got none")


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"steps": 120, "pretrain_steps": 200, "train_per_length": 2000, "test_per_length": 100},
    "full": {"steps": 1200, "pretrain_steps": 800, "train_per_length": 15000, "test_per_length": 500},
}
"""CaptionConfig overrides of each preset."""
