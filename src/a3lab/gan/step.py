"""One GAN training step and what it reads: the optimisers, the learning-rate schedule and the EMA of G.

One step (Goodfellow et al. 2014, with the pytorch/examples DCGAN structure):
  1. z ~ N(0, I), fake labels uniform over all K classes, fake = G(z, y_fake), kept for step 3.
  2. D step on real and fake.detach() (separate batches when D has batch norm), D loss, Adam step.
  3. G step: D (updated, frozen: no weight gradients) on the same fake, non-saturating or hinge G loss, Adam step.
  4. EMA of G's weights (Karras et al. 2018), with a warm-up so short runs are not dominated by the init.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from a3lab.gan import models
from a3lab.gan.config import GANConfig

if TYPE_CHECKING:
    from a3lab.gan.trainer import Trainer


def optimisers(
    config: GANConfig, generator: nn.Module, discriminator: nn.Module, device: torch.device
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G (`lr`) and for D (`discriminator_lr`, default `lr`), fused where the device has the kernel."""
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas, **fused)
    d_lr = config.lr if config.discriminator_lr is None else config.discriminator_lr
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=d_lr, betas=config.betas, **fused)
    return opt_g, opt_d


def train_step(trainer: Trainer, real: torch.Tensor, real_labels: torch.Tensor) -> torch.Tensor:
    """One D step and one G step of `trainer` on a batch of real images; returns d_loss, g_loss, D(x), D(G(z)).

    Shapes: real `[B, 1, 28, 28]` in [-1, 1], real_labels `[B]` -> stats float64 `[4]` on the CPU.
    """
    config = trainer.config
    B = real.shape[0]
    real = real.contiguous(memory_format=trainer.memory_format)
    z = torch.randn(B, config.latent_dim, generator=trainer.noise, device=trainer.device)  # (B, Z)
    fake_labels = None
    if config.conditional:
        # All K classes (randint's high is exclusive: the classic off-by-one passes K - 1 and never draws 9).
        fake_labels = torch.randint(0, config.num_classes, (B,), generator=trainer.noise, device=trainer.device)
    fake = trainer.g_train(z, fake_labels)  # (B, 1, 28, 28), its graph kept for the G step

    # ---- D step: maximise log D(x) + log(1 - D(G(z))) (or the hinge version)
    if trainer.d_batch_norm:  # separate real and fake batches: batch statistics must not mix them
        real_logits = trainer.d_train(real, real_labels if fake_labels is not None else None)  # (B,)
        fake_logits = trainer.d_train(fake.detach(), fake_labels)  # (B,)
    else:  # one call for both halves
        both = torch.cat([real, fake.detach()])  # (2B, 1, 28, 28)
        both_labels = torch.cat([real_labels, fake_labels]) if fake_labels is not None else None
        logits = trainer.d_train(both, both_labels)  # (2B,)
        real_logits, fake_logits = logits[:B], logits[B:]
    d_loss = models.discriminator_loss(real_logits, fake_logits, config.loss)
    for network, optimiser in (("generator", trainer.opt_g), ("discriminator", trainer.opt_d)):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, network, trainer.global_step, trainer.steps_per_epoch)
    trainer.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    trainer.opt_d.step()

    # ---- G step: D frozen, so backward computes no D weight gradients (and DDP reduces none)
    trainer.discriminator.requires_grad_(False)
    g_loss = models.generator_loss(trainer.discriminator(fake, fake_labels), config.loss)
    trainer.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    trainer.opt_g.step()
    trainer.discriminator.requires_grad_(True)
    update_ema(trainer.ema, trainer.generator, config.ema_decay, trainer.global_step)

    with torch.no_grad():
        d_real, d_fake = torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()
        return torch.stack([d_loss.detach(), g_loss.detach(), d_real, d_fake]).double().cpu()


def learning_rate(config: GANConfig, network: str, global_step: int, steps_per_epoch: int) -> float:
    """The learning rate of "generator" or "discriminator" at this step: `lr` (`discriminator_lr`), falling
    linearly to zero over the last `lr_decay` of the `epochs * steps_per_epoch` steps (a function of the step
    alone, so a resumed run follows it)."""
    lr = config.discriminator_lr if network == "discriminator" and config.discriminator_lr else config.lr
    total = config.epochs * steps_per_epoch
    decay_steps = config.lr_decay * total
    if decay_steps == 0 or global_step < total - decay_steps:
        return lr
    return lr * max(0.0, (total - global_step) / decay_steps)


@torch.no_grad()
def update_ema(ema: nn.Module, generator: nn.Module, ema_decay: float, global_step: int) -> None:
    """Move `ema`'s weights towards `generator`'s and copy its buffers (batch-norm statistics)."""
    # Warm-up: the effective decay grows from 0.1 towards ema_decay, so early weights fade quickly.
    decay = min(ema_decay, (1 + global_step) / (10 + global_step))
    torch._foreach_lerp_(list(ema.parameters()), list(generator.parameters()), 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), generator.buffers()):
        ema_buffer.copy_(buffer)
