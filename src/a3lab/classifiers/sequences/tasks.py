"""Problem 1, sequences: the two tasks' random sequences and labels, and how a network sees them.

Legend: B batch, T time steps (sequence length).
"""

from __future__ import annotations

import torch

from a3lab.classifiers.sequences.config import TASKS
from a3lab.errors import UserError
from a3lab.rnn import rule_batch


def make_batch(
    task: str, batch_size: int, length: int, generator: torch.Generator, max_value: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random sequences of one length and their labels.

    "alternating": integers in [-max_value, max_value], label 1 when the alternating sum (h_0 = 0) is > 0,
    0 when < 0, 0.5 on a tie. "parity": bits, label = sum mod 2.

    Shapes: -> raw inputs float64 `[B, T]` (exact integers), labels float64 `[B]`.
    """
    if task == "alternating":
        return rule_batch(batch_size, length, max_value, generator)
    if task == "parity":
        x = torch.randint(0, 2, (batch_size, length), generator=generator, dtype=torch.int64)
        return x.double(), (x.sum(-1) % 2).double()
    raise UserError(f"`tasks` must be among {', '.join(TASKS)}, got {task!r}")


def encode(task: str, x: torch.Tensor, max_value: int = 100) -> torch.Tensor:
    """Network input: integers scaled to [-1, 1] for "alternating", bits as -1/+1 for "parity".

    The symmetric bit code keeps the zero padding of the CNN and the MLP distinct from a 0 bit.
    Shapes: `[B, T]` float64 -> `[B, T]` float32.
    """
    return (x / max_value if task == "alternating" else 2.0 * x - 1.0).float()


def parity_recurrence(x: torch.Tensor) -> torch.Tensor:
    """The hand-wired parity cell h_t = |x_t - h_(t-1)|, h_0 = 0: for bits, XOR with the running parity.

    Shapes: bits `[B, T]` -> h_T `[B]` (the parity, exactly).
    """
    h = x.new_zeros(x.shape[0])
    for t in range(x.shape[1]):
        h = (x[:, t] - h).abs()
    return h
