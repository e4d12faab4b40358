"""Loss bookkeeping of a GAN run: each step's d_loss, g_loss, D(x) and D(G(z)), averaged into the points of
`history.json` (every `log_every` steps) and into one point per epoch.

The sums are float64 and travel in the checkpoint, so a resumed run writes the history the uninterrupted
run writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

STAT_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")


def named(values: list[float]) -> dict[str, float]:
    """The four stats by name."""
    return dict(zip(STAT_NAMES, values))


class LossLog:
    """Running sums of the step stats (float64 `[4]`) and the history they make.

    `history` is {"steps": [{"step", "epoch", d_loss, g_loss, d_real, d_fake}], "epochs": [{"epoch", "step",
    the four stats, "images_per_second"}]}.
    """

    def __init__(self, log_every: int) -> None:
        self.log_every = log_every
        self.history: dict = {"steps": [], "epochs": []}
        self.log_sum = torch.zeros(len(STAT_NAMES), dtype=torch.float64)
        self.epoch_sum = torch.zeros(len(STAT_NAMES), dtype=torch.float64)
        self.log_count = self.epoch_count = 0

    def add(self, stats: torch.Tensor, step: int, epoch: int) -> None:
        """Count one step's stats (float64 `[4]`); `step` is the global step done, `epoch` the current one
        (1-based)."""
        self.log_sum += stats
        self.epoch_sum += stats
        self.log_count += 1
        self.epoch_count += 1
        if self.log_count == self.log_every:
            self.flush(step, epoch)

    def flush(self, step: int, epoch: int) -> None:
        """One history point from the steps counted since the last one (none: nothing)."""
        if self.log_count:
            mean = (self.log_sum / self.log_count).tolist()
            self.history["steps"].append({"step": step, "epoch": epoch, **named(mean)})
        self.log_sum.zero_()
        self.log_count = 0

    def end_epoch(
        self,
        epoch: int,
        step: int,
        images_per_second: float,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Close epoch `epoch` (1-based) at global step `step`; `reduce` averages the epoch's means over ranks."""
        self.flush(step, epoch)
        mean = self.epoch_sum / max(self.epoch_count, 1)
        if reduce is not None:
            mean = reduce(mean)
        self.epoch_sum.zero_()
        self.epoch_count = 0
        self.history["epochs"].append(
            {"epoch": epoch, "step": step, **named(mean.tolist()), "images_per_second": images_per_second}
        )

    def final(self, mid_epoch: bool) -> dict[str, float]:
        """The last epoch's mean stats, or the partial epoch's when stopped mid-epoch (NaN before any step)."""
        if self.history["epochs"] and not mid_epoch:
            last = self.history["epochs"][-1]
            return {n: last[n] for n in STAT_NAMES}
        if self.epoch_count:
            return named((self.epoch_sum / self.epoch_count).tolist())
        return {n: math.nan for n in STAT_NAMES}

    def state_dict(self) -> dict:
        """The running sums, as a checkpoint's "meters"."""
        return {
            "log_sum": self.log_sum.clone(),
            "log_count": self.log_count,
            "epoch_sum": self.epoch_sum.clone(),
            "epoch_count": self.epoch_count,
        }

    def load_state_dict(self, meters: dict, history: dict) -> None:
        self.log_sum, self.log_count = meters["log_sum"].clone(), meters["log_count"]
        self.epoch_sum, self.epoch_count = meters["epoch_sum"].clone(), meters["epoch_count"]
        self.history = history
