"""The one configuration of a GAN run (`a3lab gan train` flags map onto its fields one to one)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from a3lab.data import DATASETS, NUM_CLASSES
from a3lab.errors import UserError

# The best configuration measured per data set (docs/gan.md): a field left unset (None) takes this data set's
# value, so `a3lab gan train --dataset D` and the full preset of `gan reproduce` train the same networks.
BEST_BY_DATASET: dict[str, dict[str, Any]] = {
    # The MLP pair learns MNIST faster than the DCGAN for the same compute; hinge beats bce there.
    "mnist": {"arch": "mlp", "loss": "hinge", "projection": True},
    # Fashion-MNIST's textures need the convolutions; bce beats hinge for the DCGAN.
    "fashion-mnist": {"arch": "dcgan", "loss": "bce", "projection": True},
}
# Fields that BEST_BY_DATASET may set.
BEST_FIELDS = ("arch", "loss", "projection")


def best_options(dataset: str) -> dict[str, Any]:
    """The GANConfig fields of the best measured configuration on `dataset` (arch, loss, projection).

    >>> best_options("fashion-mnist")["arch"]
    'dcgan'
    """
    if dataset not in BEST_BY_DATASET:
        raise UserError(f"`dataset` must be one of {', '.join(BEST_BY_DATASET)}, got {dataset!r}")
    return dict(BEST_BY_DATASET[dataset])


def describe_best(field: str) -> str:
    """`field`'s best value per data set, for --help: "mlp on mnist, dcgan on fashion-mnist".

    >>> describe_best("loss")
    'hinge on mnist, bce on fashion-mnist'
    """
    words = {True: "yes", False: "no"}
    return ", ".join(f"{words.get(o[field], o[field])} on {dataset}" for dataset, o in BEST_BY_DATASET.items())


@dataclass
class GANConfig:
    """What to train and how; saved as `config.json` beside every run and inside its checkpoint."""

    dataset: str = "mnist"
    """mnist or fashion-mnist"""
    arch: Literal["mlp", "dcgan"] | None = None
    """mlp: the tutorial's fully connected pair; dcgan: transposed/strided convolutions (None: the data set's
    best, `BEST_BY_DATASET`)"""
    conditional: bool = True
    """feed the class label to both networks (conditional GAN) or not (plain GAN)"""
    loss: Literal["bce", "hinge"] | None = None
    """bce: non-saturating GAN loss; hinge: hinge loss (None: the data set's best)"""
    projection: bool | None = None
    """projection discriminator (Miyato and Koyama 2018) instead of label concatenation (None: the data set's
    best); a plain GAN has no labels, so there it is ignored (stored as False), and one setting serves both
    kinds of run"""
    latent_dim: int = 100
    """size of the noise vector z"""
    embedding_dim: int = 10
    """size of the label embedding concatenated to z (and to the MLP discriminator's input)"""
    channels: int = 32
    """dcgan width: feature maps at 14x14 (twice as many at 7x7); 32, not the paper's 64, for CPU-sized epochs
    (the full preset's width)"""
    batch_size: int = 64
    """real images per step and rank (as many fakes)"""
    epochs: int = 5
    """passes over the training images"""
    lr: float = 2e-4
    """Adam learning rate of the generator (and of the discriminator unless `discriminator_lr` is set)"""
    discriminator_lr: float | None = None
    """Adam learning rate of the discriminator (None: `lr`); a larger one than G's is the two time-scale update
    rule (TTUR, Heusel et al. 2017)"""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas"""
    lr_decay: float = 0.0
    """the last fraction of the run's steps (set by `epochs`) over which both learning rates fall linearly to
    zero; 0 keeps them constant"""
    ema_decay: float = 0.999
    """decay of the generator's exponential moving average (0 keeps a plain copy)"""
    seed: int = 0
    """seeds the weights, the noise, the data order and the fixed sample-grid noise"""
    train_examples: int | None = None
    """use only the first N training images (None: all 60,000)"""
    log_every: int = 20
    """steps per history.json point (losses averaged over them)"""

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # JSON gives a list
        if self.dataset not in DATASETS:
            raise UserError(f"`dataset` must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        for name, value in best_options(self.dataset).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.arch not in ("mlp", "dcgan"):
            raise UserError(f"`arch` must be mlp or dcgan, got {self.arch!r}")
        if self.loss not in ("bce", "hinge"):
            raise UserError(f"`loss` must be bce or hinge, got {self.loss!r}")
        if not self.conditional:
            self.projection = False
        for name in ("latent_dim", "embedding_dim", "channels", "batch_size", "epochs", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"`{name}` must be an integer >= 1, got {value!r}")
        if self.batch_size < 2:
            raise UserError(f"`batch_size` must be >= 2 (batch norm needs two examples), got {self.batch_size}")
        if not self.lr > 0:
            raise UserError(f"`lr` must be > 0, got {self.lr}")
        if self.discriminator_lr is not None and not self.discriminator_lr > 0:
            raise UserError(f"`discriminator_lr` must be > 0, got {self.discriminator_lr}")
        if not 0.0 <= self.lr_decay <= 1.0:
            raise UserError(f"`lr_decay` must be in [0, 1], got {self.lr_decay}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise UserError(f"`beta1` and `beta2` must be in [0, 1), got {self.betas}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"`ema_decay` must be in [0, 1), got {self.ema_decay}")
        if self.seed < 0:
            raise UserError(f"`seed` must be >= 0, got {self.seed}")
        if self.train_examples is not None and self.train_examples < self.batch_size:
            raise UserError(
                f"`train_examples` must be at least `batch_size` ({self.batch_size}), got {self.train_examples}"
            )

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (betas as a list)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GANConfig:
        """Inverse of `to_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown GAN config keys: {', '.join(unknown)}")
        return cls(**d)
