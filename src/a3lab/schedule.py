"""Learning-rate schedules shared by every training loop: linear warm-up, then cosine decay to zero."""

from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, total: int, warmup_fraction: float) -> float:
    """The learning-rate factor at `step` of `total`: linear warm-up over `warmup_fraction` of the steps (at
    least one), then cosine decay to 0.

    >>> [round(warmup_cosine_factor(s, 10, 0.2), 3) for s in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.5, 0.038]
    """
    warm = max(1, int(total * warmup_fraction))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, steps: int, warmup_fraction: float = 0.05
) -> torch.optim.lr_scheduler.LambdaLR:
    """A `LambdaLR` following `warmup_cosine_factor` over `steps` optimiser steps."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine_factor(s, steps, warmup_fraction))
