"""Layers shared by the clip classifiers (`video`) and the caption models (`captions`)."""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Vaswani et al.'s fixed position code. Shapes: -> `[length, dim]`."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (N, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    out = torch.zeros(length, dim, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out
