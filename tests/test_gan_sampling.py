"""a3lab.gan.sampling: uint8 pixels, balanced labels, seeded eval-mode samples, standing BN statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from a3lab.data import ImageBatches
from a3lab.errors import CheckpointError, UserError
from a3lab.gan import (
    GANConfig,
    Trainer,
    balanced_labels,
    build_models,
    load_generator,
    refresh_batch_norm,
    sample,
    to_uint8,
)
from a3lab.gan.sampling import class_label, grid_shape, save_samples
from test_gan_fixtures import (
    tiny_config,
    train_tiny,
)


def test_to_uint8_inverts_the_symmetric_scaling_exactly():
    pixels = torch.arange(256, dtype=torch.uint8).repeat(4)[:1000].view(-1, 10, 10)
    batches = ImageBatches(pixels, torch.zeros(len(pixels), dtype=torch.long), scale="symmetric")
    x = batches.normalise(pixels)
    assert x.min() == -1 and x.max() == 1
    assert torch.equal(to_uint8(x[:, 0]), pixels)


def test_balanced_labels_are_equal_shares():
    assert torch.bincount(balanced_labels(1000), minlength=10).tolist() == [100] * 10
    counts = torch.bincount(balanced_labels(25), minlength=10)
    assert counts.sum() == 25 and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_sample_runs_in_eval_mode_and_is_seeded(arch):
    config = GANConfig(arch=arch, channels=8)
    G, _ = build_models(config)
    G.train()
    images, labels = sample(G, config, 30, seed=1, batch_size=7)
    assert images.shape == (30, 28, 28) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and torch.bincount(labels, minlength=10).tolist() == [3] * 10
    assert G.training  # mode restored
    # Eval mode: an image does not depend on the others in its batch (train-mode batch norm would).
    again, _ = sample(G, config, 30, seed=1, batch_size=30)
    assert torch.equal(images, again)
    other, _ = sample(G, config, 30, seed=2)
    assert not torch.equal(images, other)
    _, five_labels = sample(G, config, 4, labels=5)
    assert five_labels.tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError, match=r"`label` must be in 0\.\.9"):
        sample(G, config, 2, labels=torch.tensor([0, 10]))


def test_sample_refuses_labels_for_an_unconditional_generator():
    config = GANConfig(arch="mlp", conditional=False)
    G, _ = build_models(config)
    images, labels = sample(G, config, 3)
    assert images.shape == (3, 28, 28) and labels is None
    with pytest.raises(ValueError, match="unconditional"):
        sample(G, config, 3, labels=torch.tensor([1, 2, 3]))


def test_refresh_batch_norm_measures_the_current_weights_and_leaves_the_rng_alone():
    config = GANConfig(arch="mlp", conditional=True)
    G, _ = build_models(config)
    norm = next(m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d))
    seen = []
    hook = norm.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    rng = torch.get_rng_state()
    refresh_batch_norm(G, config, seed=4, examples=512)
    hook.remove()
    assert torch.equal(torch.get_rng_state(), rng) and not G.training and norm.momentum == 0.1
    assert [len(batch) for batch in seen] == [256, 256]
    # A cumulative average over the refresh batches (not the momentum-0.1 trail of training).
    torch.testing.assert_close(norm.running_mean, torch.stack([b.mean(0) for b in seen]).mean(0))
    torch.testing.assert_close(norm.running_var, torch.stack([b.var(0) for b in seen]).mean(0))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Trainer]:
    return train_tiny(tmp_path_factory, epochs=2)


def test_load_generator_returns_the_ema_in_eval_mode(trained, tmp_path):
    out, trainer = trained
    G, config = load_generator(out)
    assert not G.training and config == tiny_config(epochs=2)
    for (name, p), q in zip(G.state_dict().items(), trainer.ema.state_dict().values()):
        assert torch.equal(p, q), name
    raw, _ = load_generator(out, ema=False)
    assert not all(torch.equal(p, q) for p, q in zip(raw.parameters(), G.parameters()))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_generator(broken)


def test_a_label_is_a_class_index_or_name():
    assert class_label(None, "mnist") is None and class_label("3", "mnist") == 3
    assert class_label("SNEAKER", "fashion-mnist") == 7
    with pytest.raises(UserError, match=r"`label` must be in 0\.\.9, got 10"):
        class_label("10", "mnist")
    with pytest.raises(UserError, match=r"neither 0\.\.9 nor a class of mnist"):
        class_label("sneaker", "mnist")


def test_a_grid_has_one_row_per_class_when_drawn_by_class(tmp_path):
    images, labels = torch.zeros(20, 28, 28, dtype=torch.uint8), balanced_labels(20)
    assert grid_shape(20, by_class=True) == 2 and grid_shape(20, by_class=False) == 4
    save_samples(images, labels, tmp_path / "grid.png", "mnist", by_class=True)
    save_samples(images, None, tmp_path / "plain.npz", "mnist", by_class=False)
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert set(np.load(tmp_path / "plain.npz").files) == {"images"}
