"""Problem 1, sequences: the models, a GRU or LSTM, a 1-D CNN with a fixed receptive field, an MLP on a fixed
input length, and the hand-wired reference; `build_model`.

Legend: B batch, T time steps (sequence length), C channels, H hidden units, L the MLP's fixed input length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.classifiers.sequences.config import MODELS, SequenceConfig
from a3lab.classifiers.sequences.tasks import parity_recurrence
from a3lab.errors import UserError
from a3lab.rnn import AlternatingRNN


class SequenceRNN(nn.Module):
    """A GRU or LSTM over scalar inputs; a linear read-out of the last hidden state gives one logit.

    Shapes: `[B, T]` -> logits `[B]`, for any T.
    """

    def __init__(self, cell: str = "gru", hidden_size: int = 32) -> None:
        super().__init__()
        rnn_class = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn_class(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.unsqueeze(-1))  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


class SequenceCNN(nn.Module):
    """Stacked 'same'-padded 1-D convolutions (fixed receptive field), global average pooling, an MLP head.

    Each output position sees `receptive_field = 1 + num_layers * (kernel_size - 1)` inputs; the pooling
    averages them over T, so the model has no state that spans the sequence.

    Shapes: `[B, T]` -> logits `[B]`, for any T.
    """

    def __init__(self, channels: int = 32, kernel_size: int = 3, num_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for _ in range(num_layers):
            layers += [nn.Conv1d(in_channels, channels, kernel_size, padding=kernel_size // 2), nn.ReLU()]
            in_channels = channels
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, 1))
        self.receptive_field = 1 + num_layers * (kernel_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x.unsqueeze(1))  # (B, C, T)
        return self.head(h.mean(-1)).squeeze(-1)  # (B, C) -> (B,)


class SequenceMLP(nn.Module):
    """An MLP on the sequence left-padded with zeros to a fixed length L (the last input always at L-1).

    Shapes: `[B, T]` with T <= L -> logits `[B]`.
    """

    def __init__(self, max_length: int = 20, hidden_size: int = 64) -> None:
        super().__init__()
        self.max_length = max_length
        self.net = nn.Sequential(
            nn.Linear(max_length, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        if self.max_length < T:
            raise ValueError(f"the MLP takes sequences of length <= {self.max_length}, got {T}")
        return self.net(F.pad(x, (self.max_length - T, 0))).squeeze(-1)  # (B, L) -> (B,)


class HandWired(nn.Module):
    """The exact reference: Problem 2's h_t = x_t - h_(t-1) for "alternating", h_t = |x_t - h_(t-1)| for "parity".

    Works on the raw inputs (exact integers in float64). Shapes: `[B, T]` -> logits `[B]`: h_T for
    "alternating" (positive means label 1), h_T - 1/2 for "parity".
    """

    def __init__(self, task: str) -> None:
        super().__init__()
        self.task = task
        self.cell = AlternatingRNN().double() if task == "alternating" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cell is not None:
            return self.cell(x.double())[0][:, -1]
        return parity_recurrence(x.double()) - 0.5


def build_model(kind: str, task: str, config: SequenceConfig) -> nn.Module:
    """A fresh model of one kind for one task."""
    if kind in ("gru", "lstm"):
        return SequenceRNN(kind, config.hidden_size)
    if kind == "cnn1d":
        return SequenceCNN(config.cnn_channels, config.cnn_kernel_size, config.cnn_layers)
    if kind == "mlp":
        return SequenceMLP(config.train_max_length, config.mlp_hidden_size)
    if kind == "hand_wired":
        return HandWired(task)
    raise UserError(f"`models` must be among {', '.join(MODELS)}, got {kind!r}")
