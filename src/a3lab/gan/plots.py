"""Sample grids and loss curves as PNG files (matplotlib, Agg backend).

Legend: N images.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from a3lab.utils import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tile(images: torch.Tensor, nrow: int, pad: int = 2) -> torch.Tensor:
    """uint8 images laid out row by row, `nrow` images per row, with a black `pad` between and around them.

    Shapes: images `[N, H, W]` -> `[rows * (H + pad) + pad, nrow * (W + pad) + pad]`, rows = ceil(N / nrow).
    """
    N, H, W = images.shape
    rows = -(-N // nrow)
    canvas = images.new_zeros(rows * (H + pad) + pad, nrow * (W + pad) + pad)
    for i in range(N):
        r, c = divmod(i, nrow)
        top, left = pad + r * (H + pad), pad + c * (W + pad)
        canvas[top : top + H, left : left + W] = images[i]
    return canvas


def save_grid(
    images: torch.Tensor,
    path: str | os.PathLike,
    nrow: int = 10,
    row_labels: list[str] | None = None,
    title: str | None = None,
) -> Path:
    """A grid of uint8 images, optionally one label per row (the class each row was asked for).

    Shapes: images `[N, 28, 28]` uint8.
    """
    plt = _pyplot()
    grid = tile(images, nrow).numpy()
    rows = -(-len(images) // nrow)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * nrow, 0.6 + 0.5 * rows))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        ax.set_yticks([2 + 30 * r + 14 for r in range(rows)], labels=row_labels[:rows], fontsize=8)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def save_loss_plot(history: dict, path: str | os.PathLike, title: str | None = None) -> Path:
    """Losses (left) and mean D outputs on real and fake images (right) against the training step."""
    plt = _pyplot()
    points = history["steps"]
    steps = [p["step"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(steps, [p["d_loss"] for p in points], label="D loss", lw=1)
    left.plot(steps, [p["g_loss"] for p in points], label="G loss", lw=1)
    left.set_xlabel("step")
    left.legend()
    right.plot(steps, [p["d_real"] for p in points], label="D(x)", lw=1)
    right.plot(steps, [p["d_fake"] for p in points], label="D(G(z))", lw=1)
    right.set_ylim(0, 1)
    right.set_xlabel("step")
    right.legend()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
