"""a3lab.gan.checkpoint: old formats upgraded to the same networks, what resuming checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from a3lab.errors import CheckpointError, UserError
from a3lab.gan import (
    GANConfig,
    Trainer,
    build_models,
    checkpoint,
    folder,
    load_generator,
)
from a3lab.gan import models as gan_models
from test_gan_fixtures import all_state, assert_same_state, tiny_config, train_tiny


def _as_format_1(state: dict, config: GANConfig) -> dict:
    """The checkpoint the old code would have written: 7x7 features flattened in (channel, h, w) order."""
    old = torch.argsort(gan_models._nchw_to_nhwc(2 * config.channels))  # new flat order -> old flat order
    G, D = build_models(config)
    g_names, d_names = [n for n, _ in G.named_parameters()], [n for n, _ in D.named_parameters()]
    for sd in (state["generator"], state["ema"]):
        sd["project.0.weight"] = sd["project.0.weight"][old]
    for sd in (state["discriminator"],):
        sd["head.weight"] = sd["head.weight"][:, old]
        sd["class_embed.weight"] = sd["class_embed.weight"][:, old]
    for opt, names, key, dim in (
        ("opt_g", g_names, "project.0.weight", 0),
        ("opt_d", d_names, "head.weight", 1),
        ("opt_d", d_names, "class_embed.weight", 1),
    ):
        moments = state[opt]["state"][names.index(key)]
        for m in ("exp_avg", "exp_avg_sq"):
            moments[m] = moments[m].index_select(dim, old)
    state["format"] = 1
    return state


def test_a_format_1_dcgan_checkpoint_is_upgraded_to_the_same_networks(tiny_data, tmp_path):
    config = tiny_config(epochs=1, conditional=True, projection=True)
    Trainer(config, tmp_path / "new", progress_bar=False).run()
    state = torch.load(tmp_path / "new" / "checkpoint.pt", weights_only=True)
    assert state["format"] == gan_models.CHECKPOINT_FORMAT == 2
    (tmp_path / "old").mkdir()
    old_state = _as_format_1(torch.load(tmp_path / "new" / "checkpoint.pt", weights_only=True), config)
    torch.save(old_state, tmp_path / "old" / "checkpoint.pt")

    # The old code's forward with the old weights equals the new forward: the conversion is the layout change.
    G, _ = load_generator(tmp_path / "new")
    z, y = torch.randn(6, config.latent_dim), torch.arange(6)
    old_G = build_models(config)[0].eval()
    old_G.load_state_dict(old_state["ema"])
    h = old_G.project(old_G.input(z, y)).view(-1, 2 * config.channels, 7, 7)  # format 1: (channel, h, w)
    torch.testing.assert_close(old_G.net(h), G(z, y))
    _, D = build_models(config)
    D.load_state_dict(state["discriminator"])
    D.eval()
    x = torch.randn(6, 1, 28, 28)
    old_logits = torch.nn.functional.linear(D.net(x).flatten(1), old_state["discriminator"]["head.weight"])
    old_logits = old_logits.squeeze(1) + D.head.bias
    old_logits += (old_state["discriminator"]["class_embed.weight"][y] * D.net(x).flatten(1)).sum(1)
    torch.testing.assert_close(old_logits, D(x, y))

    # Loading and resuming an old run gives what the new run gives.
    for name, p in load_generator(tmp_path / "old")[0].state_dict().items():
        assert torch.equal(p, G.state_dict()[name]), name
    more = tiny_config(epochs=2, conditional=True, projection=True)
    a = Trainer(more, tmp_path / "new", resume=True, progress_bar=False)
    b = Trainer(more, tmp_path / "old", resume=True, progress_bar=False)
    a.run(), b.run()
    assert_same_state(all_state(a), all_state(b))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished one-epoch run (the tests copy it before changing it)."""
    return train_tiny(tmp_path_factory)[0]


def test_read_checkpoint_gives_the_state_and_its_config(run: Path, tmp_path: Path) -> None:
    state, config = checkpoint.read_checkpoint(run / folder.CHECKPOINT)
    assert config == tiny_config() and state["progress"]["epoch"] == 1 and state["format"] == 2
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"is not a GAN training checkpoint \(it holds weights\)"):
        checkpoint.read_checkpoint(tmp_path / "other.pt")
    torch.save({**state, "config": {**state["config"], "colour": 1}}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="does not hold a GAN run: unknown GANConfig keys: colour"):
        checkpoint.read_checkpoint(tmp_path / "odd.pt")


def test_resume_config_checks_before_anything_is_written(run: Path, tmp_path: Path) -> None:
    assert checkpoint.resume_config(run) == tiny_config()
    assert checkpoint.resume_config(run, epochs=3).epochs == 3
    with pytest.raises(UserError, match="`epochs` 0 is below the 1 epochs the run has done"):
        checkpoint.resume_config(run, epochs=0)
    with pytest.raises(CheckpointError, match="no checkpoint was ever written; start the run again with --out"):
        checkpoint.resume_config(tmp_path)
    with pytest.raises(CheckpointError, match=r"first checkpoint write was interrupted .*\.checkpoint\.pt\.1234"):
        checkpoint.resume_config(tmp_path, removed_temps=[".checkpoint.pt.1234"])


def test_only_epochs_and_log_every_may_change_on_resume() -> None:
    checkpoint.check_resume_config(tiny_config(), tiny_config(epochs=9, log_every=1))
    with pytest.raises(UserError, match=r"lr: 0.0002 -> 0.1"):
        checkpoint.check_resume_config(tiny_config(), tiny_config(lr=0.1))


def test_last_good_checkpoint_names_its_epoch(run: Path, tmp_path: Path) -> None:
    assert (
        checkpoint.last_good_checkpoint(run)
        == f"; the last good checkpoint (epoch 1) is intact: continue with --resume {run}"
    )
    (tmp_path / folder.CHECKPOINT).write_bytes(b"broken")
    assert checkpoint.last_good_checkpoint(tmp_path) == ""
