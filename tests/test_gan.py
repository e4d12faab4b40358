"""Tests for a3lab.gan: models, losses, sampling, training, checkpoints, exact resume, signals, divergence, CLI."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from a3lab import cli
from a3lab.data import DATASETS, ImageBatches
from a3lab.errors import A3labError, CheckpointError, TrainingDiverged, UserError
from a3lab.gan import (
    GANConfig,
    Trainer,
    balanced_labels,
    build_models,
    discriminator_loss,
    generator_loss,
    load_generator,
    refresh_batch_norm,
    sample,
    to_uint8,
    train,
)
from a3lab.gan import models as gan_models
from a3lab.gan.config import BEST_BY_DATASET, BEST_FIELDS
from a3lab.gan.history import STAT_NAMES
from a3lab.gan.plots import tile


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


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(arch="resnet"), "`arch`"),
        (dict(loss="wgan"), "`loss`"),
        (dict(dataset="cifar"), "`dataset`"),
        (dict(batch_size=1), "`batch_size`"),
        (dict(epochs=0), "`epochs`"),
        (dict(lr=0.0), "`lr`"),
        (dict(discriminator_lr=-1.0), "`discriminator_lr`"),
        (dict(lr_decay=1.5), "`lr_decay`"),
        (dict(ema_decay=1.0), "`ema_decay`"),
        (dict(betas=(0.5, 1.0)), "`beta"),
        (dict(batch_size=64, train_examples=10), "`train_examples`"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(overrides, message):
    with pytest.raises(UserError, match=message):
        GANConfig(**overrides)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("conditional", [True, False])
def test_unset_fields_take_the_data_sets_best_configuration(dataset, conditional):
    config = GANConfig(dataset=dataset, conditional=conditional)
    best = BEST_BY_DATASET[dataset]
    assert (config.arch, config.loss) == (best["arch"], best["loss"])
    assert config.projection is (best["projection"] and conditional)  # a plain GAN has no labels to project
    assert GANConfig(dataset=dataset, arch="dcgan", loss="bce", projection=False).to_dict() == {
        **config.to_dict(), "arch": "dcgan", "loss": "bce", "projection": False, "conditional": True,
    }  # fmt: skip
    assert set(BEST_BY_DATASET) == set(DATASETS) and set(best) == set(BEST_FIELDS)


def test_projection_is_ignored_for_the_plain_gan():
    assert GANConfig(conditional=False, projection=True).projection is False
    assert GANConfig(conditional=True, projection=True).projection is True


def test_config_round_trips_through_json():
    config = GANConfig(arch="mlp", conditional=False, loss="hinge", betas=(0.0, 0.9), train_examples=500)
    again = GANConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ValueError, match="unknown GANConfig keys: colour"):
        GANConfig.from_dict({**config.to_dict(), "colour": 1})


# ----------------------------------------------------------------------------- models and losses

MODEL_CASES = [
    ("mlp", False, False),
    ("mlp", True, False),
    ("mlp", True, True),
    ("dcgan", False, False),
    ("dcgan", True, False),
    ("dcgan", True, True),
]


@pytest.mark.parametrize(("arch", "conditional", "projection"), MODEL_CASES)
def test_models_shapes_and_ranges(arch, conditional, projection):
    config = GANConfig(arch=arch, conditional=conditional, projection=projection, channels=8, latent_dim=16)
    torch.manual_seed(0)
    G, D = build_models(config)
    z = torch.randn(5, 16)
    y = torch.tensor([0, 3, 9, 9, 1]) if conditional else None
    x = G(z, y)
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1
    logits = D(x, y)
    assert logits.shape == (5,)
    if conditional:
        # The label changes both networks' outputs.
        G.eval()
        other = torch.tensor([1, 4, 0, 2, 2])
        assert not torch.allclose(G(z, y), G(z, other))
        assert not torch.allclose(D(x, y), D(x, other))
        with pytest.raises(ValueError, match="needs labels"):
            D(x)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_dcgan_label_channel_shortcut_equals_the_concatenated_convolution(memory_format):
    torch.manual_seed(0)
    _, D = build_models(GANConfig(arch="dcgan", conditional=True, projection=False, channels=8))
    D.to(memory_format=memory_format)
    x, y = torch.randn(5, 1, 28, 28).contiguous(memory_format=memory_format), torch.tensor([0, 3, 3, 9, 1])
    stacked = torch.cat([x, D.embed(y).view(-1, 1, 28, 28)], dim=1)  # (B, 2, 28, 28): the label as a channel
    expected = D.net(stacked).permute(0, 2, 3, 1).flatten(1)  # (B, 49 * 2C)
    torch.testing.assert_close(D.features(x, y), expected, atol=1e-5, rtol=1e-5)


def test_mlp_generator_matches_the_tutorial_with_default_batchnorm_eps():
    G, D = build_models(GANConfig(arch="mlp", conditional=False))
    widths = [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 256, 512, 1024, 784]
    norms = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 3 and all(m.eps == 1e-5 for m in norms)  # not the tutorial's accidental 0.8
    assert [D.net[0].in_features, D.net[0].out_features, D.net[2].out_features, D.head.out_features] == [
        784,
        512,
        256,
        1,
    ]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_losses_match_their_definitions():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    bce = torch.nn.functional.binary_cross_entropy
    expected_d = bce(torch.sigmoid(real), torch.ones(2)) + bce(torch.sigmoid(fake), torch.zeros(2))
    torch.testing.assert_close(discriminator_loss(real, fake, "bce"), expected_d)
    torch.testing.assert_close(generator_loss(fake, "bce"), bce(torch.sigmoid(fake), torch.ones(2)))
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 2) / 2 + (1.5 + 0) / 2
    torch.testing.assert_close(discriminator_loss(real, fake, "hinge"), torch.tensor(1.75))
    torch.testing.assert_close(generator_loss(fake, "hinge"), torch.tensor(1.25))
    # At logit 0 (D undecided) the bce D loss is 2 log 2.
    assert discriminator_loss(torch.zeros(3), torch.zeros(3), "bce").item() == pytest.approx(2 * math.log(2))


# ----------------------------------------------------------------------------- sampling


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


def test_tile_places_images_row_by_row():
    images = torch.arange(1, 6, dtype=torch.uint8).view(5, 1, 1).expand(5, 28, 28)
    grid = tile(images, nrow=3, pad=2)
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert grid[2, 2] == 1 and grid[2, 32] == 2 and grid[32, 2] == 4 and grid[32, 32] == 5
    assert grid[32, 62] == 0 and grid[0, 0] == 0  # the missing sixth image and the padding stay black


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Trainer]:
    """One finished 2-epoch run on the tiny MNIST, shared by the tests that only read it (or copy it first)."""
    from conftest import write_tiny_dataset

    root = tmp_path_factory.mktemp("data")
    write_tiny_dataset(root, "mnist")
    out = tmp_path_factory.mktemp("trained") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("A3LAB_DATA", str(root))
        trainer = Trainer(tiny_config(epochs=2), out, progress_bar=False)
        started = time.monotonic()
        trainer.summary = trainer.run()
        trainer.elapsed = time.monotonic() - started
    torch.set_num_threads(threads)
    return out, trainer


def _summary_facts(out: Path, trainer: Trainer) -> tuple:
    s = trainer.summary
    return (s["stopped"], s["epochs_done"], s["global_step"], s["images_seen"]), ("completed", 2, 2 * 4, 2 * 100)


def _final_stats(out: Path, trainer: Trainer) -> tuple:
    final = trainer.summary["final"]
    return (sorted(final), all(math.isfinite(v) for v in final.values())), (sorted(STAT_NAMES), True)


def _times(out: Path, trainer: Trainer) -> tuple:
    s = trainer.summary  # wall time counted once, and training steps are part of it
    return (s["images_per_second"] > 0, s["train_seconds"] < s["seconds"] <= trainer.elapsed), (True, True)


def _files(out: Path, trainer: Trainer) -> tuple:
    names = {p.name for p in out.iterdir()}
    expected = {"config.json", "checkpoint.pt", "history.json", "summary.json", "losses.png", "grid_latest.png"}
    expected |= {"grid_epoch_001.png", "grid_epoch_002.png"}
    return names, expected  # no temporary or hidden files left behind


def _history(out: Path, trainer: Trainer) -> tuple:
    history = json.loads((out / "history.json").read_text())
    epochs, steps = [e["epoch"] for e in history["epochs"]], [p["step"] for p in history["steps"]]
    return (epochs, steps, 0 <= history["steps"][0]["d_real"] <= 1), ([1, 2], [2, 4, 6, 8], True)


def _checkpoint_keys(out: Path, trainer: Trainer) -> tuple:
    state = torch.load(out / "checkpoint.pt", weights_only=True)  # loads without pickled code
    needed = {"generator", "discriminator", "ema", "opt_g", "opt_d", "rng", "noise_rng", "data", "config"}
    return needed <= set(state), True


RUN_FOLDER_FACTS = [
    pytest.param(lambda out, t: (json.loads((out / "summary.json").read_text()), t.summary), id="summary.json"),
    pytest.param(_summary_facts, id="summary-counts"),
    pytest.param(_final_stats, id="final-stats"),
    pytest.param(_times, id="times"),
    pytest.param(_files, id="files"),
    pytest.param(_history, id="history.json"),
    pytest.param(
        lambda out, t: (GANConfig.from_dict(json.loads((out / "config.json").read_text())), tiny_config(epochs=2)),
        id="config.json",
    ),
    pytest.param(_checkpoint_keys, id="checkpoint"),
]


@pytest.mark.parametrize("fact", RUN_FOLDER_FACTS)
def test_train_writes_the_run_folder(trained, fact):
    actual, expected = fact(*trained)
    assert actual == expected


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


@pytest.mark.parametrize("discriminator_lr", [None, 4e-3])
def test_lr_decay_falls_linearly_to_zero_over_the_last_fraction(tiny_data, tmp_path, discriminator_lr):
    # 8 steps: constant for 4, then lr * (8 - s) / 4; D's own rate (TTUR) follows the same schedule.
    config = tiny_config(epochs=2, lr=1e-3, lr_decay=0.5, discriminator_lr=discriminator_lr)
    trainer = Trainer(config, tmp_path / "run", progress_bar=False)
    seen = []
    trainer.run(on_step=lambda t: seen.append((t.opt_g.param_groups[0]["lr"], t.opt_d.param_groups[0]["lr"])))
    schedule = [1.0] * 4 + [(8 - s) / 4 for s in range(4, 8)]
    d_lr = discriminator_lr or 1e-3
    assert [g for g, _ in seen] == pytest.approx([1e-3 * f for f in schedule])
    assert [d for _, d in seen] == pytest.approx([d_lr * f for f in schedule])
    assert Trainer(tiny_config(epochs=2), tmp_path / "flat", progress_bar=False).learning_rate() == 2e-4


def test_resume_after_epoch_k_equals_the_uninterrupted_run(tiny_data, tmp_path):
    config = tiny_config(epochs=2, conditional=True, loss="hinge")
    straight = Trainer(config, tmp_path / "straight", progress_bar=False)
    straight.run()

    first = Trainer(tiny_config(epochs=1, conditional=True, loss="hinge"), tmp_path / "split", progress_bar=False)
    first.run()
    resumed = Trainer(config, tmp_path / "split", resume=True, progress_bar=False)
    assert resumed.epoch == 1
    summary = resumed.run()
    assert summary["epochs_done"] == 2 and summary["global_step"] == straight.global_step == 8
    assert_same_state(all_state(straight), all_state(resumed))
    assert without_timing(resumed.history) == without_timing(straight.history)
    # A finished run resumed again has nothing left to do.
    assert Trainer(config, tmp_path / "split", resume=True, progress_bar=False).run()["global_step"] == 8


def interrupt_at(step: int, signum: int):
    """An `on_step` hook that sends this process `signum` right after global step `step`."""

    def on_step(trainer: Trainer) -> None:
        if trainer.global_step == step:
            os.kill(os.getpid(), signum)

    return on_step


def test_sigint_mid_epoch_checkpoints_and_resumes_exactly(tiny_data, tmp_path):
    config = tiny_config(arch="mlp", epochs=2, conditional=True)
    straight = Trainer(config, tmp_path / "straight", progress_bar=False)
    straight.run()

    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN when started in the background
    # The 6th step, in the middle of epoch 2.
    summary = Trainer(config, tmp_path / "split", progress_bar=False).run(on_step=interrupt_at(6, signal.SIGINT))
    assert summary["stopped"] == "interrupted" and summary["global_step"] == 6 and summary["epochs_done"] == 1
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    state = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert state["progress"]["step_in_epoch"] == 2

    resumed = Trainer(config, tmp_path / "split", resume=True, progress_bar=False)
    assert resumed.run()["stopped"] == "completed"
    assert_same_state(all_state(straight), all_state(resumed))


def test_sigterm_stops_cleanly_with_a_checkpoint(tiny_data, tmp_path):
    previous = signal.getsignal(signal.SIGTERM)
    trainer = Trainer(tiny_config(epochs=5), tmp_path / "run", progress_bar=False)
    summary = trainer.run(on_step=interrupt_at(1, signal.SIGTERM))
    assert summary["stopped"] == "interrupted" and summary["global_step"] == 1
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["progress"]["global_step"] == 1
    assert (tmp_path / "run" / "grid_latest.png").is_file()
    assert signal.getsignal(signal.SIGTERM) is previous


def test_time_limit_stops_with_a_checkpoint(tiny_data, tmp_path):
    summary = train(tiny_config(epochs=50), tmp_path / "run", progress_bar=False, max_minutes=1e-6)
    assert summary["stopped"] == "time_limit" and summary["global_step"] == 1
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["progress"]["global_step"] == 1
    with pytest.raises(ValueError, match="`max_minutes`"):
        train(tiny_config(), tmp_path / "other", progress_bar=False, max_minutes=0)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(trained, tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(trained[0], out)
    before = file_hash(out / "checkpoint.pt")

    calls = {"n": 0}
    real_loss = gan_models.generator_loss

    def loss_turning_nan(logits, kind):
        calls["n"] += 1
        loss = real_loss(logits, kind)
        return loss * float("nan") if calls["n"] >= 3 else loss

    monkeypatch.setattr(gan_models, "generator_loss", loss_turning_nan)
    with pytest.raises(TrainingDiverged, match=r"epoch 3, step 3 .*g_loss=nan.*last good checkpoint"):
        train(tiny_config(epochs=3), out, resume=True, progress_bar=False)
    assert file_hash(out / "checkpoint.pt") == before
    assert torch.load(out / "checkpoint.pt", weights_only=True)["progress"]["epoch"] == 2


def test_run_folder_guards(trained, tiny_data, tmp_path):
    out = trained[0]
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(tiny_config(), tmp_path / "empty", resume=True, progress_bar=False)
    with pytest.raises(A3labError, match="already holds a run"):
        train(tiny_config(), out, progress_bar=False)
    with pytest.raises(ValueError, match="arch: 'dcgan' -> 'mlp'"):
        train(tiny_config(arch="mlp", epochs=2), out, resume=True, progress_bar=False)
    with pytest.raises(ValueError, match="`batch_size` 250 is larger than the 200 training images"):
        Trainer(tiny_config(batch_size=250, train_examples=None), tmp_path / "big", progress_bar=False)


@pytest.mark.slow
def test_conditional_gan_learns_the_class_it_is_asked_for(tiny_root, tmp_path):
    """On the tiny data a class is a bar at its own height: each sample must be nearest its class's mean image.

    1,000 steps (the 200 images repeated ten times, 10 epochs of batch 20); about 3 minutes on a loaded 2-core CPU.
    """
    from a3lab.data import load_images

    real, real_labels = load_images("mnist", train=True, root=tiny_root)
    config = GANConfig(
        arch="mlp", conditional=True, batch_size=20, epochs=10, lr=5e-4, ema_decay=0.9, log_every=50, seed=0
    )
    Trainer(config, tmp_path / "run", progress_bar=False, data=(real.repeat(10, 1, 1), real_labels.repeat(10))).run()
    G, _ = load_generator(tmp_path / "run")
    images, labels = sample(G, config, 200, seed=5)
    means = torch.stack([real[real_labels == c].float().mean(0) for c in range(10)])  # (10, 28, 28)
    distance = torch.cdist(images.float().flatten(1), means.flatten(1))  # (200, 10)
    accuracy = (distance.argmin(1) == labels).float().mean().item()
    assert accuracy >= 0.9, f"nearest-class-mean accuracy {accuracy:.2f}"


# ----------------------------------------------------------------------------- CLI


def test_cli_sample(trained, tmp_path):
    out = trained[0]
    npz = tmp_path / "s.npz"
    assert cli.main(["gan", "sample", str(out), "--n", "30", "--out", str(npz), "--device", "cpu"]) == 0
    data = np.load(npz)
    assert data["images"].shape == (30, 28, 28) and data["images"].dtype == np.uint8
    assert np.bincount(data["labels"], minlength=10).tolist() == [3] * 10
    G, config = load_generator(out)
    assert np.array_equal(data["images"], sample(G, config, 30, seed=0)[0].numpy())  # EMA generator, seed 0
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--label", "7", "--raw", "--out", str(npz), "--force"]) == 0
    assert np.load(npz)["labels"].tolist() == [7] * 5
    png = tmp_path / "s.png"
    assert cli.main(["gan", "sample", str(out), "--n", "20", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--out", str(tmp_path / "s.jpg")]) == 2
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--label", "10", "--out", str(npz)]) == 2
    assert cli.main(["gan", "sample", str(tmp_path / "nothing"), "--out", str(npz)]) == 2


def test_cli_train_and_resume(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--device", "cpu", "--no-progress", "--channels", "4", "--batch-size", "25", "--train-examples", "100"]
    assert cli.main(["gan", "train", "--dataset", "fashion-mnist", "--epochs", "1", "--out", str(out), *common]) == 0
    assert "completed: 1/1 epochs" in capsys.readouterr().out
    npz = tmp_path / "s.npz"
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--label", "sneaker", "--out", str(npz)]) == 0
    assert np.load(npz)["labels"].tolist() == [7] * 5

    assert cli.main(["gan", "train", "--resume", str(out), "--arch", "mlp"]) == 2
    assert "only --epochs may be given" in capsys.readouterr().err
    assert cli.main(["gan", "train", "--resume", str(out), "--epochs", "2", "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs_done"] == 2


def test_cli_refuses_a_label_for_the_plain_gan(tiny_data, tmp_path, capsys):
    out = tmp_path / "plain"
    args = ["gan", "train", "--unconditional", "--epochs", "1", "--channels", "4", "--batch-size", "50"]
    assert cli.main([*args, "--train-examples", "100", "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    npz = tmp_path / "s.npz"
    assert cli.main(["gan", "sample", str(out), "--n", "10", "--out", str(npz)]) == 0
    assert "labels" not in np.load(npz).files
    capsys.readouterr()
    assert cli.main(["gan", "sample", str(out), "--n", "10", "--label", "3", "--out", str(npz), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("a3lab: error:") and "unconditional" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["gan", "train", "--unconditional", "--projection", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("kind", ["--conditional", "--unconditional"])
def test_cli_train_defaults_are_the_full_presets_configuration(dataset, kind):
    from a3lab.commands.gan import config_from_args
    from a3lab.gan.reproduce import PRESETS

    args = cli.build_parser().parse_args(["gan", "train", "--dataset", dataset, kind, "--out", "x"])
    preset = PRESETS["full"].config_for(dataset, conditional=kind == "--conditional")
    assert config_from_args(args).to_dict() == {**preset.to_dict(), "epochs": GANConfig().epochs}
    flags = ["gan", "train", "--dataset", dataset, "--arch", "dcgan", "--loss", "bce", "--no-projection", "--out", "x"]
    explicit = config_from_args(cli.build_parser().parse_args(flags))
    assert (explicit.arch, explicit.loss, explicit.projection) == ("dcgan", "bce", False)  # flags win


def test_cli_train_help_names_each_data_sets_best_configuration(capsys, monkeypatch):
    from a3lab.gan.config import describe_best

    monkeypatch.setenv("COLUMNS", "500")  # one line per flag
    with pytest.raises(SystemExit):
        cli.main(["gan", "train", "--help"])
    help_text = capsys.readouterr().out
    assert describe_best("arch") == "mlp on mnist, dcgan on fashion-mnist"
    for field in BEST_FIELDS:
        assert f"(default: {describe_best(field)})" in help_text
    assert "(default: 5)" in help_text and "(default: 0.0002)" in help_text  # GANConfig's defaults, not retyped
