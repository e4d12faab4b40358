"""a3lab.gan.trainer: the run folder, learning-rate decay, exact resume, signals, time limit, divergence."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from a3lab.data import load_images
from a3lab.errors import A3labError, CheckpointError, TrainingDiverged
from a3lab.gan import (
    GANConfig,
    Trainer,
    load_generator,
    sample,
    train,
)
from a3lab.gan import models as gan_models
from a3lab.gan.history import STAT_NAMES
from test_gan_fixtures import (
    all_state,
    assert_same_state,
    file_hash,
    tiny_config,
    train_tiny,
    without_timing,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Trainer]:
    """One finished 2-epoch run on the tiny MNIST, shared by the tests that only read it (or copy it first)."""
    return train_tiny(tmp_path_factory, epochs=2)


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
