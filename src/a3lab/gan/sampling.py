"""Loading a trained generator, drawing uint8 samples from it, and writing them to a file.

Legend: N images, Z latent dim.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from a3lab.data import class_names
from a3lab.errors import CheckpointError, UserError
from a3lab.gan import folder
from a3lab.gan.checkpoint import read_checkpoint
from a3lab.gan.config import GANConfig, SampleConfig
from a3lab.gan.models import build_generator
from a3lab.gan.plots import save_grid
from a3lab.utils import atomic_write_bytes

# Generated images used to re-estimate the EMA generator's batch-norm statistics before it is used.
BN_REFRESH_EXAMPLES = 2048


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
    state, config = read_checkpoint(Path(run_dir) / folder.CHECKPOINT)
    try:
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


@torch.no_grad()
def refresh_batch_norm(generator: nn.Module, config: GANConfig, seed: int, examples: int = BN_REFRESH_EXAMPLES) -> None:
    """Recompute the generator's batch-norm running statistics for its current weights.

    The EMA generator's weights are an average the running statistics were never measured on; sampling it in
    eval mode with G's statistics gives washed-out images. This runs `examples` generated images through it in
    train mode with a cumulative average (BigGAN's "standing statistics"), from its own seeded noise, so it
    leaves the global RNG alone and is reproducible.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(generator.parameters()).device
    noise = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the refresh batches
    generator.train()
    batch = 256
    for start in range(0, examples, batch):
        b = min(batch, examples - start)
        z = torch.randn(b, config.latent_dim, generator=noise).to(device)  # (b, Z)
        y = torch.randint(0, config.num_classes, (b,), generator=noise).to(device) if config.conditional else None
        generator(z, y)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()


# ----------------------------------------------------------------------------------------------------------------
# samples into a file

SAMPLE_FORMATS = (".npz", ".png")


def class_label(text: str | None, dataset: str) -> int | None:
    """A class index (0..9) or a class name of the data set (case-insensitive); None stays None.

    >>> class_label("Sneaker", "fashion-mnist")
    7
    """
    if text is None:
        return None
    names = class_names(dataset)
    if text.strip().lstrip("-").isdigit():
        value = int(text)
        if not 0 <= value < len(names):
            raise UserError(f"`label` must be in 0..{len(names) - 1}, got {value}")
        return value
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise UserError(f"`label` {text!r} is neither 0..9 nor a class of {dataset} ({', '.join(names)})")


def grid_shape(n: int, by_class: bool) -> int:
    """Images per row of a grid of n samples: one row per class (n / 10 wide) when they are drawn in equal
    shares sorted by class, else about square.

    >>> grid_shape(20, by_class=True), grid_shape(20, by_class=False)
    (2, 4)
    """
    return -(-n // 10) if by_class else max(1, round(n**0.5))


def save_samples(images: torch.Tensor, labels: torch.Tensor | None, path: Path, dataset: str, by_class: bool) -> None:
    """.npz (`images`, and `labels` of a conditional GAN) or a .png grid, its rows named by class when
    `by_class` (the images are in equal shares sorted by class).

    Shapes: images uint8 `[N, 28, 28]`, labels `[N]` or None.
    """
    if path.suffix.lower() == ".npz":
        arrays = {"images": images.numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(buffer.getvalue(), path)
        return
    per_row = grid_shape(len(images), by_class and labels is not None)
    rows = None
    if labels is not None:
        rows = [class_names(dataset)[int(labels[r * per_row])] for r in range(-(-len(images) // per_row))]
    save_grid(images, path, nrow=per_row, row_labels=rows)


def sample_to_file(run_dir: Path, options: SampleConfig, path: Path, device: str | torch.device = "cpu") -> str:
    """Draw `options.n` images from a run's generator into `path` (`save_samples`); returns what was drawn, in
    words ("all classes", "class 7 (sneaker)", ...)."""
    generator, config = load_generator(run_dir, device=device, ema=not options.raw)
    label = class_label(options.label, config.dataset)
    if label is not None and not config.conditional:
        raise UserError(
            f"{run_dir} holds an unconditional GAN: it makes a random class and cannot be asked for one (`label`)"
        )
    images, labels = sample(
        generator, config, options.n, labels=label, seed=options.seed, batch_size=options.batch_size
    )
    save_samples(images, labels, path, config.dataset, by_class=label is None)
    if not config.conditional:
        return "random classes (unconditional GAN)"
    return f"class {label} ({class_names(config.dataset)[label]})" if label is not None else "all classes"
