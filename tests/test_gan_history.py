"""a3lab.gan.history: step stats averaged into history points and epochs, and carried through a checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from a3lab.gan.history import STAT_NAMES, LossLog


def stats(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_points_every_log_every_steps_and_one_per_epoch() -> None:
    log = LossLog(log_every=2)
    assert all(math.isnan(v) for v in log.final(mid_epoch=True).values())
    for step, v in enumerate((1.0, 3.0, 5.0), 1):
        log.add(stats(v, -v, 0.5, 0.25), step=step, epoch=1)
    assert log.history["steps"] == [
        {"step": 2, "epoch": 1, "d_loss": 2.0, "g_loss": -2.0, "d_real": 0.5, "d_fake": 0.25}
    ]
    assert log.final(mid_epoch=True)["d_loss"] == 3.0  # the partial epoch's mean
    log.end_epoch(1, step=3, images_per_second=10.0)
    assert [p["step"] for p in log.history["steps"]] == [2, 3]  # the remainder flushed at the epoch's end
    (epoch,) = log.history["epochs"]
    assert (epoch["epoch"], epoch["d_loss"], epoch["images_per_second"]) == (1, 3.0, 10.0)
    assert log.final(mid_epoch=False) == {n: epoch[n] for n in STAT_NAMES}


def test_a_reduce_averages_the_epoch_over_ranks() -> None:
    log = LossLog(log_every=10)
    log.add(stats(1.0, 1.0, 1.0, 1.0), step=1, epoch=1)
    log.end_epoch(1, step=1, images_per_second=1.0, reduce=lambda mean: mean * 3)
    assert log.history["epochs"][0]["g_loss"] == 3.0


def test_the_state_continues_exactly() -> None:
    straight, first = LossLog(3), LossLog(3)
    values = [stats(i, i / 2, 0.1 * i, 0.01 * i) for i in range(1, 8)]
    for step, v in enumerate(values, 1):
        straight.add(v, step, 1)
    for step, v in enumerate(values[:4], 1):
        first.add(v, step, 1)
    resumed = LossLog(3)
    resumed.load_state_dict(first.state_dict(), first.history)
    for step, v in enumerate(values[4:], 5):
        resumed.add(v, step, 1)
    assert resumed.history == straight.history
    assert resumed.final(mid_epoch=True) == pytest.approx(straight.final(mid_epoch=True))
