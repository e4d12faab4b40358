"""The configs of Problem 2: the one-unit cell, and a run that learns its weights. No torch: the CLI builds
its flags from these fields (`a3lab.commands.flags`)."""

from __future__ import annotations

from dataclasses import dataclass

from a3lab.config import MAX_SEED, Checked, option
from a3lab.errors import UserError

__all__ = ["AlternatingRNNConfig", "LearnConfig"]


@dataclass
class AlternatingRNNConfig(Checked):
    """The one-unit linear cell; the defaults are the write-up's hand-wired network."""

    w_x: float = 1.0
    """weight of the input"""
    w_h: float = -1.0
    """weight of the previous hidden state"""
    b: float = 0.0
    """bias"""
    gain: float = option(500.0, low=0, low_open=True, high=1e6)
    """output gain g in y = sigmoid(g h), > 0"""


@dataclass
class LearnConfig(Checked):
    """Training a one-unit linear RNN, from random weights, to the alternating-sum rule."""

    steps: int = option(6000, low=1, high=10**7)
    """training steps"""
    batch_size: int = option(1024, low=1, high=2**20)
    """sequences per step"""
    min_length: int = option(2, low=1, high=10**4)
    """shortest training sequence"""
    max_length: int = option(20, low=2, high=10**4)
    """longest training length, >= 2 (from h_0 = 0, one step alone gives w_h no gradient)"""
    max_value: int = option(100, low=1)
    """inputs are integers drawn uniformly from [-max_value, max_value]"""
    lr: float = option(0.05, low=0, low_open=True)
    """Adam learning rate"""
    eval_lengths: tuple[int, ...] = option((50, 200, 1000), low=1)
    """sequence lengths to test on (never seen in training)"""
    eval_size: int = option(2000, low=1, high=1_000_000)
    """test sequences per length"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """random seed"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_length > self.max_length:
            raise UserError(f"need `min_length` <= `max_length`, got {self.min_length}, {self.max_length}")
