"""Loading a trained generator and drawing uint8 samples from it.

Legend: N images, Z latent dim.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from a3lab.errors import CheckpointError, UserError
from a3lab.gan.config import GANConfig
from a3lab.gan.models import build_generator, upgrade_checkpoint
from a3lab.utils import load_checkpoint


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """tanh output in [-1, 1] -> uint8 pixels: the inverse of the data's 2 p / 255 - 1.

    >>> to_uint8(torch.tensor([-1.0, 0.0, 1.0, 1.5])).tolist()
    [0, 128, 255, 255]

    Shapes: any -> same, uint8.
    """
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def load_generator(
    run_dir: str | Path, device: str | torch.device = "cpu", ema: bool = True
) -> tuple[nn.Module, GANConfig]:
    """The trained generator of a run folder, in eval mode, and the run's config.

    Args:
        run_dir: a folder written by `a3lab.gan.train` (holds `checkpoint.pt`).
        device: where to put the generator.
        ema: the exponential moving average of the weights (default, used for sampling and evaluation) or the
            raw weights of the last step.

    Raises:
        CheckpointError: no checkpoint, or a corrupt one.
    """
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    try:
        state = upgrade_checkpoint(state)
        config = GANConfig.from_dict(state["config"])
        generator = build_generator(config)
        generator.load_state_dict(state["ema" if ema else "generator"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}/checkpoint.pt does not hold a GAN generator: {e}") from None
    return generator.to(device).eval(), config


def balanced_labels(n: int, num_classes: int = 10) -> torch.Tensor:
    """n labels in equal shares (counts differ by at most one), sorted by class.

    >>> balanced_labels(5, 3).tolist()
    [0, 0, 1, 1, 2]

    Shapes: -> `[n]` int64.
    """
    return torch.arange(n) * num_classes // n


@torch.inference_mode()
def sample(
    generator: nn.Module,
    config: GANConfig,
    n: int,
    labels: torch.Tensor | int | None = None,
    seed: int = 0,
    batch_size: int = 500,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw n images from a generator in eval mode, without autograd (inference mode).

    The noise comes from a CPU generator seeded with `seed`, so the same seed gives the same images on
    any device and with any batch size. The generator's train/eval mode is restored afterwards.

    Args:
        generator: e.g. from `load_generator`.
        config: its run's config (latent size, conditional or not).
        n: number of images.
        labels: conditional generators only: the class of each image (`[n]`, or one int for all); None draws
            the classes in equal shares, sorted by class.
        seed: noise seed.
        batch_size: images per forward call.

    Returns:
        images uint8 `[n, 28, 28]`, and labels int64 `[n]` (None for an unconditional generator).

    Raises:
        ValueError: labels asked of an unconditional generator, a label outside 0..9, or n < 1.

    Shapes: -> `[n, 28, 28]` uint8, `[n]` int64 or None.
    """
    if n < 1:
        raise UserError(f"`n` must be >= 1, got {n}")
    if batch_size < 1:
        raise UserError(f"`batch_size` must be >= 1, got {batch_size}")
    labels = _requested_labels(labels, config, n)
    device = next(generator.parameters()).device
    # All the noise in one draw: randn's stream depends on the size of each call, the images must not.
    z_all = torch.randn(n, config.latent_dim, generator=torch.Generator().manual_seed(seed))  # (N, Z)
    was_training = generator.training
    generator.eval()
    out = torch.empty(n, 28, 28, dtype=torch.uint8)
    try:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            z = z_all[start:stop].to(device)  # (b, Z)
            y = labels[start:stop].to(device) if labels is not None else None
            out[start:stop] = to_uint8(generator(z, y)[:, 0]).cpu()  # (b, 28, 28)
    finally:
        generator.train(was_training)
    return out, labels


def _requested_labels(labels: torch.Tensor | int | None, config: GANConfig, n: int) -> torch.Tensor | None:
    """The class of each of the n images, checked: int64 `[n]` on the CPU, or None for a plain GAN."""
    if not config.conditional:
        if labels is not None:
            raise UserError("this GAN is unconditional: it makes a random class and cannot be asked for one (`label`)")
        return None
    if labels is None:
        return balanced_labels(n, config.num_classes)
    if isinstance(labels, int) or (isinstance(labels, torch.Tensor) and labels.ndim == 0):
        labels = torch.full((n,), int(labels), dtype=torch.int64)
    labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape [{n}], got {list(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= config.num_classes:
        raise UserError(f"`label` must be in 0..{config.num_classes - 1}, got {labels.unique().tolist()}")
    return labels
