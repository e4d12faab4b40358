"""Generators, discriminators and losses of Problem 4: the classic fully connected GAN and a DCGAN for 28x28.

Legend: B batch, Z latent dim, E label-embedding dim, C channels, F discriminator feature dim, K classes (10).

Papers: Goodfellow et al. 2014 (GAN, the non-saturating loss), Mirza and Osindero 2014 (conditional GAN:
the label concatenated to the inputs), Radford et al. 2016 (DCGAN), Miyato and Koyama 2018 (projection
discriminator: D(x, y) = psi(phi(x)) + <embed(y), phi(x)>), Lim and Ye 2017 (hinge loss).

Every discriminator is a feature map phi(x[, y]) -> [B, F] followed by a linear head, so the projection
discriminator is one extra inner product. The DCGAN discriminator has batch norm (as in the paper) and sees
real and fake images in separate batches: the statistics of an all-fake batch betray a generator that makes
the same image for every z, which keeps it from collapsing to one image per class.
The tutorial's MLP discriminator has none, so real and fake go through it in one call.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.errors import UserError
from a3lab.gan.config import GANConfig

LossName = Literal["bce", "hinge"]


# ----------------------------------------------------------------------------- losses


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: LossName) -> torch.Tensor:
    """D's loss on real and fake logits.

    bce: -log sigmoid(real) - log(1 - sigmoid(fake)), written with softplus for stability;
    hinge: relu(1 - real) + relu(1 + fake).

    Shapes: real_logits `[B]`, fake_logits `[B']` -> scalar.
    """
    if kind == "bce":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    raise UserError(f"`loss` must be bce or hinge, got {kind!r}")


def generator_loss(fake_logits: torch.Tensor, kind: LossName) -> torch.Tensor:
    """G's loss: non-saturating -log sigmoid(D(G(z))) for bce, -D(G(z)) for hinge.

    Shapes: fake_logits `[B]` -> scalar.
    """
    if kind == "bce":
        return F.softplus(-fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    raise UserError(f"`loss` must be bce or hinge, got {kind!r}")


# ----------------------------------------------------------------------------- generators


class _LabelledInput(nn.Module):
    """z, or z concatenated with a learned label embedding (conditional)."""

    def __init__(self, latent_dim: int, num_classes: int, embedding_dim: int, conditional: bool) -> None:
        super().__init__()
        self.conditional = conditional
        self.embed = nn.Embedding(num_classes, embedding_dim) if conditional else None
        self.out_dim = latent_dim + (embedding_dim if conditional else 0)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return z
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        return torch.cat([z, self.embed(labels)], dim=1)  # (B, Z + E)


class MLPGenerator(nn.Module):
    """The tutorial's fully connected generator: Z -> 128 -> 256 -> 512 -> 1024 -> 784, tanh.

    Batch norm uses its default eps (1e-5): the widely copied `BatchNorm1d(n, 0.8)` passes 0.8 as eps.

    Shapes: z `[B, Z]`, labels `[B]` (conditional) -> images `[B, 1, 28, 28]` in [-1, 1].
    """

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.input = _LabelledInput(config.latent_dim, config.num_classes, config.embedding_dim, config.conditional)

        def block(n_in: int, n_out: int, normalise: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if normalise:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.net = nn.Sequential(
            *block(self.input.out_dim, 128, normalise=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, 28 * 28),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.input(z, labels)).view(-1, 1, 28, 28)  # (B, 1, 28, 28)


class DCGANGenerator(nn.Module):
    """Convolutional generator: a linear layer to 2C x 7 x 7, then transposed convolutions 7 -> 14 -> 28.

    Shapes: z `[B, Z]`, labels `[B]` (conditional) -> images `[B, 1, 28, 28]` in [-1, 1].
    """

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        c = config.channels
        self.input = _LabelledInput(config.latent_dim, config.num_classes, config.embedding_dim, config.conditional)
        self.project = nn.Sequential(nn.Linear(self.input.out_dim, 2 * c * 7 * 7, bias=False))
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * c),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, bias=False),  # (B, C, 14, 14)
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
            nn.Tanh(),
        )
        self.channels = c

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.project(self.input(z, labels)).view(-1, 7, 7, 2 * self.channels).permute(0, 3, 1, 2)
        return self.net(h)


# ----------------------------------------------------------------------------- discriminators


class _Discriminator(nn.Module):
    """phi(x[, y]) -> [B, F], then a linear head; conditioning by concatenation or by projection."""

    def __init__(self, config: GANConfig, feature_dim: int) -> None:
        super().__init__()
        self.conditional = config.conditional
        self.projection = config.conditional and config.projection
        self.concat = config.conditional and not config.projection
        self.head = nn.Linear(feature_dim, 1)
        # Projection: one F-vector per class, its inner product with phi(x) added to the logit.
        self.class_embed = nn.Embedding(config.num_classes, feature_dim) if self.projection else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Shapes: x `[B, 1, 28, 28]`, labels `[B]` (conditional) -> logits `[B]`."""
        if self.conditional and labels is None:
            raise ValueError("a conditional discriminator needs labels")
        h = self.features(x, labels)  # (B, F), defined by each subclass
        logits = self.head(h).squeeze(1)  # (B,)
        if self.class_embed is not None:
            logits = logits + (self.class_embed(labels) * h).sum(dim=1)
        return logits


class MLPDiscriminator(_Discriminator):
    """The tutorial's fully connected discriminator: 784 (+E) -> 512 -> 256 -> 1, LeakyReLU(0.2).

    Shapes: x `[B, 1, 28, 28]`, labels `[B]` (conditional) -> logits `[B]`.
    """

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config, feature_dim=256)
        self.embed = nn.Embedding(config.num_classes, config.embedding_dim) if self.concat else None
        n_in = 28 * 28 + (config.embedding_dim if self.concat else 0)
        self.net = nn.Sequential(
            nn.Linear(n_in, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def features(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = x.flatten(1)  # (B, 784)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], dim=1)  # (B, 784 + E)
        return self.net(h)  # (B, 256)


class DCGANDiscriminator(_Discriminator):
    """Strided convolutions 28 -> 14 -> 7, batch norm, LeakyReLU(0.2); the label (concat mode) as an extra channel.

    Shapes: x `[B, 1, 28, 28]`, labels `[B]` (conditional) -> logits `[B]`.
    """

    def __init__(self, config: GANConfig) -> None:
        c = config.channels
        super().__init__(config, feature_dim=2 * c * 7 * 7)
        # Concat mode: each class owns a learned 28x28 map stacked onto the image as a second channel.
        self.embed = nn.Embedding(config.num_classes, 28 * 28) if self.concat else None
        self.net = nn.Sequential(
            nn.Conv2d(2 if self.concat else 1, c, 4, stride=2, padding=1),  # (B, C, 14, 14)
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1, bias=False),  # (B, 2C, 7, 7)
            nn.BatchNorm2d(2 * c),  # no batch norm on the first layer, as in DCGAN
            nn.LeakyReLU(0.2, inplace=True),
        )

    def features(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            h = self.net(x)  # (B, 2C, 7, 7)
        else:
            h = self.net[1:](self._first_conv_with_label_channel(x, labels))  # (B, 2C, 7, 7)
        # NHWC order: a free view of the channels-last layout the trainer uses, so every gradient keeps it
        # (a gradient in NCHW meeting channels-last activations takes a much slower elementwise path).
        return h.permute(0, 2, 3, 1).flatten(1)  # (B, 49 * 2C)

    def _first_conv_with_label_channel(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """conv([x, map_y]) computed as conv_x(x) + conv_map(map_y): the label channel's response is the same
        for every image of a class, so it is computed once per class (K maps) instead of once per image.

        Shapes: x `[B, 1, 28, 28]`, labels `[B]` -> `[B, C, 14, 14]` (before the activation).
        """
        conv = self.net[0]
        image_w, label_w = conv.weight[:, :1], conv.weight[:, 1:]  # (C, 1, 4, 4) each
        h = F.conv2d(x, image_w, conv.bias, stride=2, padding=1)  # (B, C, 14, 14)
        maps = self.embed.weight.view(-1, 1, 28, 28)  # (K, 1, 28, 28): one learned map per class
        per_class = F.conv2d(maps, label_w, stride=2, padding=1)  # (K, C, 14, 14)
        return h + per_class[labels]


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) for (transposed) convolutions and linear layers, N(1, 0.02) for BN scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_models(config: GANConfig) -> tuple[nn.Module, nn.Module]:
    """A freshly initialised (generator, discriminator) pair for `config` (seed the RNG first)."""
    if config.arch == "mlp":
        generator, discriminator = MLPGenerator(config), MLPDiscriminator(config)
    else:
        generator, discriminator = DCGANGenerator(config), DCGANDiscriminator(config)
    if config.arch == "dcgan":
        generator.apply(init_weights)
        discriminator.apply(init_weights)
    return generator, discriminator


def build_generator(config: GANConfig) -> nn.Module:
    """An uninitialised-weights generator of the right shape (to load a state dict into)."""
    return MLPGenerator(config) if config.arch == "mlp" else DCGANGenerator(config)


# ----------------------------------------------------------------------------- checkpoint formats

CHECKPOINT_FORMAT = 2
"""Format 2 (this code): the DCGAN's 7x7 feature maps are flattened in (h, w, channel) order, a free view of the
channels-last layout. Format 1 flattened them in (channel, h, w) order; `upgrade_checkpoint` converts."""


def _nchw_to_nhwc(channels: int) -> torch.Tensor:
    """Index map: new flat position i (order h, w, c) holds old flat position result[i] (order c, h, w)."""
    return torch.arange(channels * 49).view(channels, 7, 7).permute(1, 2, 0).flatten()  # (49 * channels,)


def upgrade_checkpoint(state: dict) -> dict:
    """Convert a format-1 GAN checkpoint to the current format in place (and return it); others pass through.

    Only the DCGAN changed: the rows of the generator's first linear layer (and its EMA), the columns of the
    discriminator's head and projection embedding, and the matching Adam moments are reordered, so the
    upgraded networks compute exactly what they computed before.
    """
    if state.get("format", 1) >= CHECKPOINT_FORMAT:
        return state
    config = GANConfig.from_dict(state["config"])
    if config.arch == "dcgan":
        order = _nchw_to_nhwc(2 * config.channels)
        generator, discriminator = build_models(config)
        rows = {"project.0.weight": 0}  # parameter name -> dimension indexed by the 7x7 x 2C feature
        cols = {"head.weight": 1, "class_embed.weight": 1}
        for net, model, opt, changed in (
            ("generator", generator, "opt_g", rows),
            ("discriminator", discriminator, "opt_d", cols),
        ):
            names = [name for name, _ in model.named_parameters()]
            tensors = [state[net]] + ([state["ema"]] if net == "generator" else [])
            for name, dim in changed.items():
                if name not in names:
                    continue
                for sd in tensors:
                    sd[name] = sd[name].index_select(dim, order)
                moments = state.get(opt, {}).get("state", {}).get(names.index(name), {})
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in moments:
                        moments[key] = moments[key].index_select(dim, order)
    state["format"] = CHECKPOINT_FORMAT
    return state
