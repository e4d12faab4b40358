"""The configurations of Problem 4: a GAN run (`GANConfig`), its evaluation (`EvalConfig`), drawing samples
(`SampleConfig`) and the write-up's presets of four runs (`Preset`, `PRESETS`).

Each field's bound is declared once, as its metadata (`a3lab.config.option`), and its help text is the
docstring under it: the `a3lab gan` flags are generated from these fields. This module imports no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from a3lab import config as cfg
from a3lab.catalog import DATASETS, NUM_CLASSES, DatasetName
from a3lab.config import MAX_SEED, Checked, option
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
# The standard Inception FID compares 10,000 generated with the 10,000 test images.
STANDARD_INCEPTION_N = 10_000


def best_options(dataset: str) -> dict[str, Any]:
    """The GANConfig fields of the best measured configuration on `dataset` (arch, loss, projection).

    >>> best_options("fashion-mnist")["arch"]
    'dcgan'
    """
    if dataset not in BEST_BY_DATASET:
        raise UserError(f"`dataset` must be one of {', '.join(BEST_BY_DATASET)}, got {dataset!r}")
    return dict(BEST_BY_DATASET[dataset])


def describe_best(name: str) -> str:
    """`name`'s best value per data set, for --help: "mlp on mnist, dcgan on fashion-mnist".

    >>> describe_best("loss")
    'hinge on mnist, bce on fashion-mnist'
    """
    words = {True: "yes", False: "no"}
    return ", ".join(f"{words.get(o[name], o[name])} on {dataset}" for dataset, o in BEST_BY_DATASET.items())


@dataclass
class GANConfig(Checked):
    """What to train and how; saved as `config.json` beside every run and inside its checkpoint."""

    dataset: DatasetName = "mnist"
    """data set"""
    arch: Literal["mlp", "dcgan"] | None = option(None, default_text=describe_best("arch"))
    """network pair. mlp: the tutorial's fully connected pair; dcgan: transposed/strided convolutions (None: the
    data set's best, `BEST_BY_DATASET`)"""
    conditional: bool = True
    """feed the class label to both networks (conditional GAN) or not (plain GAN)"""
    loss: Literal["bce", "hinge"] | None = option(None, default_text=describe_best("loss"))
    """GAN loss. bce: non-saturating GAN loss; hinge: hinge loss (None: the data set's best)"""
    projection: bool | None = option(None, default_text=describe_best("projection"))
    """projection discriminator (Miyato and Koyama 2018) instead of label concatenation (None: the data set's
    best); a plain GAN has no labels, so there it is ignored (stored as False), and one setting serves both
    kinds of run"""
    latent_dim: int = option(100, low=1, high=4096)
    """size of the noise vector z"""
    embedding_dim: int = option(10, low=1, high=4096)
    """size of the label embedding concatenated to z (and to the MLP discriminator's input)"""
    channels: int = option(32, low=1, high=1024)
    """dcgan width: feature maps at 14x14 (twice as many at 7x7); 32, not the paper's 64, for CPU-sized epochs"""
    batch_size: int = option(64, low=2, high=65_536)
    """real images per step and process (as many fakes); at least 2, as batch norm needs two examples"""
    epochs: int = option(5, low=1, high=100_000)
    """passes over the training images"""
    lr: float = option(2e-4, low=0, low_open=True)
    """Adam learning rate of the generator (and of the discriminator unless `discriminator_lr` is set)"""
    discriminator_lr: float | None = option(None, low=0, low_open=True, default_text="lr")
    """Adam learning rate of the discriminator (None: `lr`); a larger one than G's is the two time-scale update
    rule (TTUR, Heusel et al. 2017)"""
    betas: tuple[float, float] = option((0.5, 0.999), low=0, high=1, high_open=True, cli=False)
    """Adam betas (flags --beta1 and --beta2)"""
    lr_decay: float = option(0.0, low=0, high=1, metavar="FRACTION")
    """the last fraction of the run's steps (set by `epochs`) over which both learning rates fall linearly to
    zero; 0 keeps them constant"""
    ema_decay: float = option(0.999, low=0, high=1, high_open=True)
    """decay of the generator's exponential moving average (0 keeps a plain copy)"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """seeds the weights, the noise, the data order and the fixed sample-grid noise"""
    train_examples: int | None = option(None, low=1, default_text="all")
    """use only the first N training images (None: all 60,000)"""
    log_every: int = option(20, low=1)
    """steps per history.json point (losses averaged over them)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.betas) != 2:
            raise UserError(f"`betas` must be two numbers (`beta1`, `beta2`), got {self.betas}")
        self.betas = tuple(float(b) for b in self.betas)
        for name, value in best_options(self.dataset).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if not self.conditional:
            self.projection = False
        if self.train_examples is not None and self.train_examples < self.batch_size:
            raise UserError(
                f"`train_examples` must be at least `batch_size` ({self.batch_size}), got {self.train_examples}"
            )

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES

    @classmethod
    def given(cls, fields: dict[str, Any], beta1: float | None = None, beta2: float | None = None) -> GANConfig:
        """The config a fresh run asks for: `fields`, and each Adam beta given apart (None keeps the default)."""
        default1, default2 = cls().betas
        return cls(**fields, betas=(default1 if beta1 is None else beta1, default2 if beta2 is None else beta2))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (betas as a list)."""
        return cfg.to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GANConfig:
        """Inverse of `to_dict`; unknown keys are an error naming them."""
        return cfg.from_dict(cls, d)


@dataclass
class EvalConfig(Checked):
    """How a run is evaluated (`a3lab gan eval` flags map onto these fields)."""

    n: int = option(10_000, low=1, high=1_000_000)
    """generated images (for a conditional GAN in equal shares per class)"""
    real_n: int | None = option(None, low=2, default_text="the whole test split")
    """real test images compared against, and training images in the floor (None: the whole test split)"""
    batch_size: int = option(500, low=1, high=65_536)
    """images per forward pass of the generator and of the domain CNN"""
    k: int = option(3, low=1)
    """neighbours defining the manifolds of precision and recall (the paper's k = 3)"""
    kid_subsets: int = option(100, low=1)
    """random subsets KID is averaged over"""
    kid_subset_size: int = option(1000, low=2)
    """images per KID subset (capped at the smaller set)"""
    inception: bool = False
    """also compute the standard Inception FID (needs the `inception` extra; slow on a CPU, fast on a GPU)"""
    inception_n: int = option(STANDARD_INCEPTION_N, low=1)
    """images per side for the Inception FID (generated, test, and training images for its floor; capped at
    `n`, and at most the test split); published results use 10,000, fewer are faster on a CPU but bias the FID
    upward, and the output says how many were used"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """seeds the generator's noise, the real subsets and the KID subsets"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n <= self.k:
            raise UserError(f"`n` must be larger than `k` ({self.k}), got {self.n}")
        for name in ("n", "real_n"):
            if getattr(self, name) is not None and self.kid_subset_size > getattr(self, name):
                raise UserError(
                    f"`kid_subset_size` ({self.kid_subset_size}) must be <= `{name}` ({getattr(self, name)})"
                )


@dataclass
class SampleConfig(Checked):
    """What `a3lab gan sample` draws from a trained generator."""

    n: int = option(1000, low=1, high=1_000_000)
    """number of images"""
    label: str | None = option(None, default_text="all classes")
    """class index or name (conditional GAN only)"""
    raw: bool = False
    """the last step's weights instead of the EMA generator"""
    batch_size: int = option(500, low=1, high=65_536)
    """images per forward call"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """noise seed"""


@dataclass(frozen=True, kw_only=True)
class Preset(Checked):
    """Training and evaluation settings shared by the four runs of `reproduce`."""

    name: str
    arch: Literal["mlp", "dcgan"] | None = option(None, default_text="the preset's")
    """networks of all four runs (None: the data set's best, `BEST_BY_DATASET`)"""
    loss: Literal["bce", "hinge"] | None = option(None, default_text="the preset's")
    """GAN loss of all four runs (None: the data set's best)"""
    epochs: int = option(low=1, high=100_000, default_text="the preset's")
    """epochs a run"""
    max_minutes: float | None = option(None, low=0, low_open=True, default_text="the preset's")
    """wall-clock cap on each run's training (it stops with a checkpoint, possibly mid-epoch)"""
    batch_size: int = option(low=2, high=65_536)
    """real images per step of every run"""
    train_examples: int | None = option(None, low=1)
    """first N training images (None: all 60,000)"""
    eval: EvalConfig
    gan_options: dict[str, Any] = field(default_factory=dict)
    """further GANConfig fields"""
    by_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)
    """data set -> the GANConfig fields that differ there, e.g. {"fashion-mnist": {"arch": "dcgan"}}"""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.by_dataset) - set(DATASETS))
        if unknown:
            raise UserError(f"unknown data sets in the preset: {', '.join(unknown)}")
        for options in (self.gan_options, *self.by_dataset.values()):
            if options.get("arch") not in (None, "mlp", "dcgan"):
                raise UserError(f"`arch` must be mlp or dcgan, got {options['arch']!r}")
            if options.get("loss") not in (None, "bce", "hinge"):
                raise UserError(f"`loss` must be bce or hinge, got {options['loss']!r}")

    def options_for(self, dataset: str) -> dict[str, Any]:
        """The GANConfig fields this preset sets for the runs on `dataset`; GANConfig fills the rest with the
        data set's best configuration."""
        own = {k: v for k, v in (("arch", self.arch), ("loss", self.loss)) if v is not None}
        return {**own, **self.gan_options, **self.by_dataset.get(dataset, {})}

    def config_for(self, dataset: str, conditional: bool, seed: int = 0) -> GANConfig:
        """The GANConfig of this preset's run on `dataset` (fields the preset leaves unset: the data set's best)."""
        fields = {"epochs": self.epochs, **self.options_for(dataset)}  # by_dataset may set its own epochs
        return GANConfig(
            dataset=dataset,
            conditional=conditional,
            batch_size=self.batch_size,
            seed=seed,
            train_examples=self.train_examples,
            **fields,
        )

    def without(self, name: str) -> Preset:
        """The preset with field `name` no longer set per data set (`--arch` or `--loss` then sets all runs)."""
        by_dataset = {d: {k: v for k, v in o.items() if k != name} for d, o in self.by_dataset.items()}
        return dataclasses.replace(self, by_dataset={d: o for d, o in by_dataset.items() if o})

    def changed(self, changes: Mapping[str, Any], inception_n: int | None = None) -> Preset:
        """The preset with `changes` (arch, loss, epochs, max_minutes) made for all four runs, and the standard
        Inception FID at `inception_n` images; its name records them."""
        said = {**changes, **({} if inception_n is None else {"inception_n": inception_n})}
        if not said:
            return self
        preset = self
        for key in ("arch", "loss", "epochs"):  # one architecture (loss, epochs) for every run
            if key in changes:
                preset = preset.without(key)
        if inception_n is not None:
            preset = dataclasses.replace(
                preset, eval=cfg.replace(preset.eval, {"inception": True, "inception_n": inception_n})
            )
        name = self.name + "".join(f", {k.replace('_', '-')} {v}" for k, v in said.items())
        return dataclasses.replace(preset, name=name, **changes)  # Preset checks the values


PRESETS: dict[str, Preset] = {
    # The demo: the MLP pair on both data sets, which learns most in a couple of minutes on a CPU.
    # Its budget is the epochs; the time cap is only a safety stop, far above what the epochs take, so that a
    # busy machine makes the demo slower, not different. 2,000 generated vs 2,000 test images.
    "quick": Preset(
        name="quick",
        arch="mlp",
        loss="bce",
        epochs=2,
        batch_size=64,
        train_examples=None,
        eval=EvalConfig(n=2000, real_n=2000, kid_subsets=20, kid_subset_size=500),
        max_minutes=15.0,
        gan_options={"projection": True},
    ),
    # Each data set's best configuration (`BEST_BY_DATASET`, the defaults of `gan train`), for the epochs each
    # architecture trains in about 20 minutes of a 2-core CPU: 40 for the MLP, 16 for the DCGAN (docs/results.md).
    # The budget is the epochs; the time cap is a safety stop only, so a busy machine is slower, not different.
    # The standard Inception FID at 10,000 generated vs the 10,000 test images, as published results use.
    "full": Preset(
        name="full",
        epochs=40,
        batch_size=64,
        train_examples=None,
        eval=EvalConfig(n=10_000, inception=True, inception_n=10_000),
        max_minutes=120.0,
        by_dataset={"fashion-mnist": {"epochs": 16}},
    ),
}


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (or the preset itself)."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    return PRESETS[preset]
