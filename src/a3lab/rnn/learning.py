"""Learning the weights of the one-unit linear RNN, from random ones, to the alternating-sum rule.

Legend: B batch, T time steps.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from a3lab.config import to_dict
from a3lab.errors import TrainingDiverged
from a3lab.rnn.closed_form import alternating_sum
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig
from a3lab.rnn.model import AlternatingRNN
from a3lab.utils import progress

__all__ = ["accuracy", "learn", "rule_batch"]


def rule_batch(
    batch_size: int, length: int, max_value: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random integer sequences labelled by the rule: 1 when the alternating sum h_T (h_0 = 0) > 0.

    Ties (h_T = 0) are redrawn as labels 0.5, the value sigmoid gives on a tie.
    Shapes: -> x float64 `[B, T]`, y float64 `[B]`.
    """
    x = torch.randint(-max_value, max_value + 1, (batch_size, length), generator=generator, dtype=torch.int64)
    h = alternating_sum(x)
    y = (h > 0).double() + 0.5 * (h == 0).double()
    return x.double(), y


def accuracy(model: AlternatingRNN, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of sequences whose y_T falls on the same side of 0.5 as the label (ties excluded)."""
    with torch.no_grad():
        h = model(x)[0][:, -1]
    keep = y != 0.5
    return ((h > 0).double() == y)[keep].double().mean().item()


def learn(config: LearnConfig, progress_bar: bool = True) -> dict:
    """Fit w_x, w_h, b of a one-unit linear RNN from random weights; return the weights and test accuracy.

    The loss is binary cross-entropy on logits h_T (not sigmoid(500 h) itself, whose BCE saturates);
    the scale of w_x sets the sharpness, so the learned gain is w_x * 500 in the write-up's terms.
    """
    gen = torch.Generator().manual_seed(config.seed)
    init = torch.empty(3, dtype=torch.float64).uniform_(-0.5, 0.5, generator=gen)
    model = AlternatingRNN(AlternatingRNNConfig(w_x=init[0].item(), w_h=init[1].item(), b=init[2].item())).double()
    start = {"w_x": model.w_x.item(), "w_h": model.w_h.item(), "b": model.b.item()}
    opt = torch.optim.Adam([model.w_x, model.w_h, model.b], lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    loss_fn = nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    history = []
    bar = progress(range(config.steps), desc="rnn learn", disable=None if progress_bar else True)
    for step in bar:
        length = int(torch.randint(config.min_length, config.max_length + 1, (1,), generator=gen))
        x, y = rule_batch(config.batch_size, length, config.max_value, gen)
        # Inputs scaled to [-1, 1] so the first steps are not dominated by their magnitude; the rule is
        # scale-free, and w_x absorbs the factor.
        h = model(x / config.max_value)[0][:, -1]
        loss = loss_fn(h, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == config.steps - 1:
            history.append({"step": step, "loss": loss.item(), "w_h": model.w_h.item()})
    seconds = time.perf_counter() - t0
    if not all(math.isfinite(p.item()) for p in (model.w_x, model.w_h, model.b)):
        raise TrainingDiverged(f"the weights became NaN or infinite with `lr` {config.lr}: lower it")
    eval_gen = torch.Generator().manual_seed(config.seed + 1)
    acc = {}
    for n in config.eval_lengths:
        x, y = rule_batch(config.eval_size, n, config.max_value, eval_gen)
        acc[str(n)] = accuracy(model, x / config.max_value, y)
    return {
        "start": start,
        "learned": {"w_x": model.w_x.item(), "w_h": model.w_h.item(), "b": model.b.item()},
        "w_h_error": abs(model.w_h.item() + 1.0),
        "accuracy": acc,
        "seconds": seconds,
        "history": history,
        "config": to_dict(config),
    }
