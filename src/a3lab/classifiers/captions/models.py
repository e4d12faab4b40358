"""Problem 1, captions: four ways to caption a strip of items, and their decoders.

Legend: B batch, W strip width in pixels (28 L), N = W / 4 columns of features, D feature width, H hidden
width, V = 10 words, K beam size.

All four share one convolutional encoder (separate weights): strip `[B, 1, 28, W]` -> columns `[B, N, D]`,
seven columns per item. What they put on top:

- "show_tell": a GRU decoder that writes one word per step (Vinyals et al. 2015, Show and Tell), attending
  over the columns at each step (Xu et al. 2015, Show, Attend and Tell; Bahdanau et al. 2015); the columns
  carry sinusoidal positions. Greedy or beam-search decoding.
- "per_position": no recurrence; the flattened columns of a strip padded to 8 items feed one softmax for the
  length and one per position (Goodfellow et al. 2013, multi-digit numbers).
- "ctc": no recurrence; a 1-D convolution over the columns and a per-column softmax over words and a blank,
  trained with CTC (Graves et al. 2006).
- "crnn": a bidirectional GRU over the columns before the same CTC read-out (Shi et al. 2015, CRNN).

Every model takes float strips in [0, 1] and has `loss(x, classes) -> scalar` (classes int64 `[B, L]`, one L
per batch) and `predict(x) -> list of class lists`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.classifiers.captions.config import MODELS, CaptionModelConfig
from a3lab.classifiers.captions.data import ITEM, MAX_ITEMS
from a3lab.classifiers.layers import sinusoidal_positions
from a3lab.errors import UserError

VOCAB = 10
END = VOCAB  # decoder output token that ends a caption
START = VOCAB  # decoder input token that starts one (a separate embedding table, so no clash with END)


class StripEncoder(nn.Module):
    """Halve the strip, three conv-ReLU layers (pooling to 1/4 of the width), then each column's pixels to D.

    Shapes: `[B, 1, 28, W]` -> `[B, W / 4, D]`.
    """

    def __init__(self, config: CaptionModelConfig) -> None:
        super().__init__()
        c1, c2, c3 = config.channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.column = nn.Linear(c3 * 3, config.feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2)  # (B, 1, 14, W/2)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, C1, 7, W/4)
        x = F.max_pool2d(F.relu(self.conv2(x)), (2, 1))  # (B, C2, 3, W/4)
        x = F.relu(self.conv3(x))  # (B, C3, 3, W/4)
        return self.column(x.permute(0, 3, 1, 2).flatten(2))  # (B, W/4, C3 * 3) -> (B, N, D)


# ----------------------------------------------------------------------------- CTC models


def ctc_greedy_decode(log_probs: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: the argmax per column, repeats merged, blanks dropped; labels shifted down by one.

    Shapes: log_probs `[B, N, V + 1]` (blank at index `blank`) -> B lists of class indices.

    >>> ctc_greedy_decode(torch.log(torch.tensor([[[.1, .9, 0], [.1, .9, 0], [.9, .1, 0], [.1, .9, 0]]])))
    [[0, 0]]
    """
    best = log_probs.argmax(-1)  # (B, N)
    keep = best != blank
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    return [[int(t) - 1 for t in row[mask]] for row, mask in zip(best.cpu(), keep.cpu())]


class CTCCaptioner(nn.Module):
    """Columns -> per-column word/blank log-probabilities, through a 1-D convolution ("ctc") or a BiGRU ("crnn")."""

    def __init__(self, config: CaptionModelConfig, recurrent: bool) -> None:
        super().__init__()
        D, H = config.feature_dim, config.hidden_dim
        self.encoder = StripEncoder(config)
        self.recurrent = recurrent
        if recurrent:
            self.mix = nn.GRU(D, H, batch_first=True, bidirectional=True)
            out = 2 * H
        else:
            self.mix = nn.Conv1d(D, 2 * H, 5, padding=2)
            out = 2 * H
        self.out = nn.Linear(out, VOCAB + 1)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        cols = self.encoder(x)  # (B, N, D)
        if self.recurrent:
            mixed = self.mix(cols)[0]  # (B, N, 2H)
        else:
            mixed = F.relu(self.mix(cols.transpose(1, 2))).transpose(1, 2)  # (B, N, 2H)
        return F.log_softmax(self.out(mixed), -1)  # (B, N, V + 1)

    def loss(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        lp = self.log_probs(x)
        B, N, _ = lp.shape
        input_lengths = torch.full((B,), N, dtype=torch.long)
        target_lengths = torch.full((B,), classes.shape[1], dtype=torch.long)
        return F.ctc_loss(lp.transpose(0, 1), classes + 1, input_lengths, target_lengths, zero_infinity=True)

    def predict(self, x: torch.Tensor) -> list[list[int]]:
        return ctc_greedy_decode(self.log_probs(x))


# ----------------------------------------------------------------------------- per-position heads


class PerPositionCaptioner(nn.Module):
    """Goodfellow et al.'s multi-digit model: a length softmax (0..8 items) and one class softmax per position.

    Strips are padded with black on the right to 8 items, so a strip of more than 8 items has no answer.
    """

    def __init__(self, config: CaptionModelConfig) -> None:
        super().__init__()
        self.encoder = StripEncoder(config)
        columns = MAX_ITEMS * ITEM // 4
        self.hidden = nn.Linear(columns * config.feature_dim, 2 * config.hidden_dim)
        self.length = nn.Linear(2 * config.hidden_dim, MAX_ITEMS + 1)
        self.positions = nn.Linear(2 * config.hidden_dim, MAX_ITEMS * VOCAB)

    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pad(x, (0, MAX_ITEMS * ITEM - x.shape[-1]))  # (B, 1, 28, 224)
        h = F.relu(self.hidden(self.encoder(x).flatten(1)))  # (B, 56 * D) -> (B, 2H)
        return self.length(h), self.positions(h).view(-1, MAX_ITEMS, VOCAB)  # (B, 9), (B, 8, V)

    def loss(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        length_logits, class_logits = self.logits(x)
        B, L = classes.shape
        length_loss = F.cross_entropy(length_logits, torch.full((B,), L, dtype=torch.long, device=x.device))
        return length_loss + F.cross_entropy(class_logits[:, :L].reshape(B * L, VOCAB), classes.reshape(-1)) * L

    def predict(self, x: torch.Tensor) -> list[list[int]]:
        length_logits, class_logits = self.logits(x)
        lengths = length_logits.argmax(-1).tolist()
        best = class_logits.argmax(-1).tolist()  # (B, 8)
        return [row[:n] for row, n in zip(best, lengths)]


# ----------------------------------------------------------------------------- decoder with attention

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""(previous tokens `[M]`, state `[M, ...]`) -> (log-probabilities `[M, V + 1]`, new state)."""


def greedy_search(step: StepFn, state: torch.Tensor, start: int, end: int, max_steps: int) -> list[list[int]]:
    """The most probable next token at every step, until `end` or `max_steps` tokens (end not included)."""
    M = state.shape[0]
    tokens = torch.full((M,), start, dtype=torch.long, device=state.device)
    out, done = [], torch.zeros(M, dtype=torch.bool, device=state.device)
    for _ in range(max_steps):
        log_probs, state = step(tokens, state)
        tokens = log_probs.argmax(-1)
        out.append(tokens)
        done |= tokens == end
        if bool(done.all()):
            break
    seqs = torch.stack(out, 1).tolist()
    return [row[: row.index(end)] if end in row else row for row in seqs]


def beam_search(
    step: StepFn, state: torch.Tensor, start: int, end: int, max_steps: int, beam_size: int
) -> list[list[int]]:
    """The highest-scoring sequence (sum of log-probabilities, `end` included) among `beam_size` beams.

    A finished beam stays in the beam with its score and only extends with `end` at no cost.
    Shapes: state `[B, ...]` for B inputs -> B token lists (end not included).
    """
    B, K = state.shape[0], beam_size
    state = state.repeat_interleave(K, 0)  # (B K, ...)
    device = state.device
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep one
    tokens = torch.full((B * K,), start, dtype=torch.long, device=device)
    history = torch.zeros(B, K, 0, dtype=torch.long, device=device)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    for _ in range(max_steps):
        log_probs, state = step(tokens, state)
        V = log_probs.shape[-1]
        log_probs = log_probs.view(B, K, V)
        frozen = torch.full((V,), float("-inf"), device=device)
        frozen[end] = 0.0
        log_probs = torch.where(finished[..., None], frozen, log_probs)
        top, flat = (scores[..., None] + log_probs).view(B, K * V).topk(K, -1)  # (B, K)
        beam, token = flat // V, flat % V
        history = torch.cat(
            [history.gather(1, beam[..., None].expand(-1, -1, history.shape[-1])), token[..., None]], -1
        )
        finished = finished.gather(1, beam) | (token == end)
        scores = top
        rows = (beam + torch.arange(B, device=device)[:, None] * K).view(-1)
        state, tokens = state[rows], token.view(-1)
        if bool(finished.all()):
            break
    best = history[torch.arange(B), scores.argmax(1)].tolist()
    return [row[: row.index(end)] if end in row else row for row in best]


class ShowAttendTell(nn.Module):
    """A GRU decoder over encoded columns with dot-product attention; trained with teacher forcing."""

    def __init__(self, config: CaptionModelConfig) -> None:
        super().__init__()
        D, H = config.feature_dim, config.hidden_dim
        self.encoder = StripEncoder(config)
        self.keys = nn.Linear(D, H)
        self.init = nn.Linear(D, H)
        self.embed = nn.Embedding(VOCAB + 1, H)  # 10 words and START
        self.cell = nn.GRUCell(H + D, H)
        self.query = nn.Linear(H, H)
        self.out = nn.Linear(H + D, VOCAB + 1)  # 10 words and END
        self.beam_size = config.beam_size

    def memory(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cols = self.encoder(x)  # (B, N, D)
        cols = cols + sinusoidal_positions(cols.shape[1], cols.shape[2], cols.device)
        return cols, self.keys(cols), torch.tanh(self.init(cols.mean(1)))  # (B, N, D), (B, N, H), (B, H)

    def _step(self, cols, keys, prev: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step. Shapes: cols `[M, N, D]`, keys `[M, N, H]`, prev `[M]`, h `[M, H]`."""
        scores = torch.einsum("mnh,mh->mn", keys, self.query(h)) / keys.shape[-1] ** 0.5  # (M, N)
        context = torch.einsum("mn,mnd->md", scores.softmax(-1), cols)  # (M, D)
        h = self.cell(torch.cat([self.embed(prev), context], -1), h)  # (M, H)
        return self.out(torch.cat([h, context], -1)), h  # logits (M, V + 1)

    def loss(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        cols, keys, h = self.memory(x)
        B, L = classes.shape
        inputs = torch.cat([torch.full((B, 1), START, device=x.device, dtype=torch.long), classes], 1)  # (B, L+1)
        targets = torch.cat([classes, torch.full((B, 1), END, device=x.device, dtype=torch.long)], 1)
        logits = []
        for t in range(L + 1):
            out, h = self._step(cols, keys, inputs[:, t], h)
            logits.append(out)
        return F.cross_entropy(torch.stack(logits, 1).flatten(0, 1), targets.flatten())

    def predict(self, x: torch.Tensor, beam_size: int | None = None) -> list[list[int]]:
        beam_size = beam_size or self.beam_size
        cols, keys, h = self.memory(x)
        K = beam_size
        if K > 1:
            cols, keys = cols.repeat_interleave(K, 0), keys.repeat_interleave(K, 0)

        def step(prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits, state = self._step(cols, keys, prev, state)
            return logits.log_softmax(-1), state

        max_steps = cols.shape[1] // 7 + 2  # room for one word per item and END
        if K == 1:
            return greedy_search(step, h, START, END, max_steps)
        return beam_search(step, h, START, END, max_steps, K)


def build_caption_model(kind: str, config: CaptionModelConfig | None = None) -> nn.Module:
    """A fresh caption model of one kind (random weights)."""
    config = config or CaptionModelConfig()
    if kind == "show_tell":
        return ShowAttendTell(config)
    if kind == "per_position":
        return PerPositionCaptioner(config)
    if kind in ("ctc", "crnn"):
        return CTCCaptioner(config, recurrent=kind == "crnn")
    raise UserError(f"`models` must be among {', '.join(MODELS)}, got {kind!r}")
