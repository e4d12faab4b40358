"""Problem 4: GAN and conditional GAN on MNIST and Fashion-MNIST (train, checkpoint, resume, sample).

Legend: B batch, Z latent dim, K classes (10), N samples.

Papers: Goodfellow et al. 2014 (GAN), Mirza and Osindero 2014 (conditional GAN), Radford et al. 2016 (DCGAN),
Miyato and Koyama 2018 (projection discriminator), Lim and Ye 2017 (hinge loss).

Public API:
    GANConfig                      the run's configuration (validated dataclass)
    train(config, out_dir, ...)    train or resume a run folder; returns a summary dict
    load_generator(run_dir, ...)   the trained (EMA) generator in eval mode and its config
    sample(generator, config, n)   uint8 images [N, 28, 28] and labels [N] (conditional) or None
"""

from a3lab.gan.config import GANConfig
from a3lab.gan.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    build_generator,
    build_models,
    discriminator_loss,
    generator_loss,
)
from a3lab.gan.sampling import balanced_labels, load_generator, sample, to_uint8
from a3lab.gan.train import Trainer, refresh_batch_norm, train

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANConfig",
    "MLPDiscriminator",
    "MLPGenerator",
    "Trainer",
    "balanced_labels",
    "build_generator",
    "build_models",
    "discriminator_loss",
    "generator_loss",
    "load_generator",
    "refresh_batch_norm",
    "sample",
    "to_uint8",
    "train",
]
