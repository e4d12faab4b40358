"""Helpers the GAN tests share: tiny configs and presets, and comparisons of training states."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from a3lab.gan import (
    GANConfig,
    Trainer,
)
from a3lab.gan import evaluate as gan_evaluate
from a3lab.gan import reproduce as gan_reproduce
from a3lab.gan.config import EvalConfig, Preset
from test_gan_metrics import BarClassifier


def without_timing(history: dict) -> dict:
    return {**history, "epochs": [{k: v for k, v in e.items() if k != "images_per_second"} for e in history["epochs"]]}


def tiny_config(**overrides) -> GANConfig:
    """A few steps per epoch on the tiny data: 100 images, batch 25, a narrow DCGAN."""
    base = dict(arch="dcgan", channels=4, batch_size=25, train_examples=100, epochs=1, log_every=2, seed=3)
    base.update(overrides)
    return GANConfig(**base)


def all_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {}
    for name, module in (("G", trainer.generator), ("D", trainer.discriminator), ("EMA", trainer.ema)):
        out.update({f"{name}.{k}": v.clone() for k, v in module.state_dict().items()})
    for name, opt in (("optG", trainer.opt_g), ("optD", trainer.opt_d)):
        for pid, s in opt.state_dict()["state"].items():
            out.update({f"{name}.{pid}.{k}": v.clone() for k, v in s.items()})
    return out


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SMALL = EvalConfig(n=100, real_n=60, batch_size=32, kid_subsets=5, kid_subset_size=30)


TINY = Preset(
    name="tiny",
    arch="dcgan",
    loss="bce",
    epochs=1,
    batch_size=32,
    train_examples=32,
    eval=EvalConfig(n=40, real_n=40, batch_size=40, kid_subsets=2, kid_subset_size=20),
    gan_options={"channels": 8},
)


def train_tiny(tmp_path_factory: pytest.TempPathFactory, **overrides) -> tuple[Path, Trainer]:
    """One finished run of `tiny_config(**overrides)` on a tiny MNIST of its own; (run folder, trainer).

    `trainer.elapsed` is the wall time of its `run()`, and `trainer.summary` what it returned."""
    from conftest import write_tiny_dataset

    root = tmp_path_factory.mktemp("data")
    write_tiny_dataset(root, "mnist")
    out = tmp_path_factory.mktemp("trained") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("A3LAB_DATA", str(root))
        trainer = Trainer(tiny_config(**overrides), out, progress_bar=False)
        started = time.monotonic()
        trainer.summary = trainer.run()
        trainer.elapsed = time.monotonic() - started
    torch.set_num_threads(threads)
    return out, trainer


def use_judge(monkeypatch: pytest.MonkeyPatch) -> BarClassifier:
    """The known classifier stands in for the domain CNN wherever evaluation or reproduce would load it."""
    clf = BarClassifier()
    for module in (gan_evaluate, gan_reproduce):
        monkeypatch.setattr(module, "load_classifier", lambda dataset, root=None, device="cpu": clf)
    return clf
