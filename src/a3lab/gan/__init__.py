"""Problem 4: GAN and conditional GAN on MNIST and Fashion-MNIST (train, checkpoint, resume, sample).

Legend: B batch, Z latent dim, K classes (10), N samples.

Papers: Goodfellow et al. 2014 (GAN), Mirza and Osindero 2014 (conditional GAN), Radford et al. 2016 (DCGAN),
Miyato and Koyama 2018 (projection discriminator), Lim and Ye 2017 (hinge loss).

Public API:
    GANConfig                      the run's configuration (validated dataclass)
    train(config, out_dir, ...)    train or resume a run folder; returns a summary dict
    load_generator(run_dir, ...)   the trained (EMA) generator in eval mode and its config
    sample(generator, config, n)   uint8 images [N, 28, 28] and labels [N] (conditional) or None

The names load on first use, so the configs (and the report's section) are read without importing torch.
"""

from __future__ import annotations

from a3lab.lazy import served

_HOMES = {
    "GANConfig": "config",
    "DCGANDiscriminator": "models",
    "DCGANGenerator": "models",
    "MLPDiscriminator": "models",
    "MLPGenerator": "models",
    "build_generator": "models",
    "build_models": "models",
    "discriminator_loss": "models",
    "generator_loss": "models",
    "balanced_labels": "sampling",
    "load_generator": "sampling",
    "sample": "sampling",
    "to_uint8": "sampling",
    "Trainer": "trainer",
    "refresh_batch_norm": "sampling",
    "train": "trainer",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = served(__name__, _HOMES)
