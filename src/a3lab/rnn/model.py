"""The one-unit linear RNN of Problem 2, as a module whose weights can be hand-wired or learned.

Legend: B batch, T time steps.
"""

from __future__ import annotations

import torch
from torch import nn

from a3lab.rnn.closed_form import recurrence
from a3lab.rnn.config import AlternatingRNNConfig

__all__ = ["AlternatingRNN"]


class AlternatingRNN(nn.Module):
    """One-unit linear RNN: h_t = w_x x_t + w_h h_(t-1) + b (identity activation), y_t = sigmoid(g h_t).

    The defaults (w_x=1, w_h=-1, b=0, g=500) are the write-up's network. `w_x`, `w_h` and `b` are
    parameters, so the same module is trained from random weights by `learn`; `gain` is a buffer.
    """

    def __init__(self, config: AlternatingRNNConfig | None = None) -> None:
        super().__init__()
        c = config or AlternatingRNNConfig()
        self.w_x = nn.Parameter(torch.tensor(float(c.w_x)))
        self.w_h = nn.Parameter(torch.tensor(float(c.w_h)))
        self.b = nn.Parameter(torch.tensor(float(c.b)))
        self.register_buffer("gain", torch.tensor(float(c.gain)))

    def forward(self, x: torch.Tensor, h0: float | torch.Tensor = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the recurrence step by step.

        Shapes: x `[B, T]` -> (hidden states `[B, T]`, outputs `[B, T]`).
        """
        if x.ndim != 2:
            raise ValueError(f"x must be [B, T], got shape {tuple(x.shape)}")
        x = x.to(self.w_x.dtype)
        h = recurrence(x, h0, self.w_x, self.w_h, self.b)
        return h, torch.sigmoid(self.gain * h)

    def logits(self, x: torch.Tensor, h0: float | torch.Tensor = 0) -> torch.Tensor:
        """g * h_T, the pre-sigmoid output at the last step (use with BCEWithLogits). Shapes: `[B, T]` -> `[B]`."""
        h, _ = self(x, h0)
        return self.gain * h[:, -1]
