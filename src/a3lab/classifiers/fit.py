"""The training loop shared by the clip classifiers (`video`) and the caption models (`captions`): AdamW with
a linear warm-up and cosine decay (`a3lab.schedule`), gradient clipping, a fixed number of steps."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.errors import TrainingDiverged
from a3lab.schedule import warmup_cosine
from a3lab.utils import progress

WARMUP_FRACTION = 0.05
"""Share of the steps over which the learning rate warms up linearly."""


def fit_steps(
    model: nn.Module, step_loss: Callable[[torch.device], torch.Tensor], steps: int, lr: float, desc: str = ""
) -> dict[str, Any]:
    """`steps` AdamW steps on `step_loss(device)`, the loss of the step's batch (the callable draws it).

    The losses stay on the device until the end (no host sync per step). Returns {"steps", "steps_planned",
    "final_loss" (mean of the last 10% of steps), "train_seconds", "train_cpu_seconds" (this process's CPU
    time: the work done, nearly independent of other processes' load)}.

    Raises:
        TrainingDiverged: the loss is not finite at the end.
    """
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = warmup_cosine(opt, steps, WARMUP_FRACTION)
    losses = torch.zeros(steps, device=device)
    model.train()
    t0, cpu0, done = time.perf_counter(), time.process_time(), 0
    for step in progress(range(steps), desc=desc):
        loss = step_loss(device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses[step] = loss.detach()
        done += 1
    final = losses[-max(1, steps // 10) :].mean().item()
    if not math.isfinite(final):
        raise TrainingDiverged(f"{desc}: the loss became {final}; try a smaller `lr`")
    return {
        "steps": done,
        "steps_planned": steps,
        "final_loss": final,
        "train_seconds": time.perf_counter() - t0,
        "train_cpu_seconds": time.process_time() - cpu0,
    }


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str = "",
) -> dict[str, Any]:
    """`fit_steps` on cross-entropy over random batches of uint8 inputs (scaled to [0, 1] per batch).

    Shapes: inputs uint8 `[N, ...]`, labels int64 `[N]`.
    """
    g = torch.Generator().manual_seed(seed)

    def step_loss(device: torch.device) -> torch.Tensor:
        idx = torch.randint(0, len(inputs), (batch_size,), generator=g)
        x = inputs[idx].to(device).float().div_(255.0)
        return F.cross_entropy(model(x), labels[idx].to(device))

    return fit_steps(model, step_loss, steps, lr, desc)
