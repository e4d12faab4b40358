"""Problem 2: the hand-wired RNN h_t = x_t - h_(t-1), y_t = sigmoid(500 h_t).

Legend: B batch, T time steps.

Unrolling the recurrence for an even length T gives

    h_T = x_T - x_(T-1) + x_(T-2) - ... + x_2 - x_1 + h_0,

so even positions enter with +, odd positions with -, and y_T = sigmoid(500 h_T) is about 1 exactly
when h_0 plus the even-position inputs outweigh the odd-position inputs (0.5 on a tie). For
consecutive inputs a, a+1, ..., a+T-1 every pair (x_2k - x_2k-1) adds 1, so h_T = T/2 + h_0 for any a.
For odd T the signs flip: h_T = x_T - x_(T-1) + ... - x_2 + x_1 - h_0 (odd positions +, h_0 with -).
In general h_T = sum_t (-1)^(T-t) x_t + (-1)^T h_0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from a3lab.errors import TrainingDiverged, UserError
from a3lab.utils import progress, save_figure


def alternating_sum(x: torch.Tensor, h0: float | torch.Tensor = 0) -> torch.Tensor:
    """Closed form of the last hidden state h_T, without a loop over time.

    h_T = sum_{t=1..T} (-1)^(T-t) x_t + (-1)^T h_0: the last input enters with +, its neighbour with -,
    and so on; h_0 enters with + for even T (including T = 0, where h_T = h_0) and with - for odd T.

    Exactness: integer dtypes are exact (int64 up to 2^63). float64 is exact for integer-valued
    inputs while T * max|x_t| + |h_0| <= 2^53. float32 is exact for integer-valued inputs while
    T * max|x_t| + |h_0| <= 2^24 = 16,777,216 (every partial sum is then an integer float32 holds):
    e.g. T <= 16 with values up to 10^6, or T <= 16,777 with values up to 1,000. Past that bound
    float32 rounds (x = [-1, 2^24] gives 2^24 instead of 2^24 + 1).

    Shapes: x `[..., T]`, h0 a scalar or `[...]` -> `[...]`.

    >>> alternating_sum(torch.tensor([1, 2, 3, 4]), h0=0).item()  # 4 - 3 + 2 - 1 + 0
    2
    >>> alternating_sum(torch.tensor([[1, 2, 3], [5, 0, 0]]), h0=1).tolist()  # odd T: h_0 enters with -
    [1, 4]
    """
    T = x.shape[-1]
    # 0-based position t enters with (-1)^(T-1-t): + where t has the parity of T-1, - elsewhere.
    # Two strided sums: no sign tensor, no [..., T] temporary.
    plus = x[..., (T - 1) % 2 :: 2].sum(-1)  # [...]
    minus = x[..., T % 2 :: 2].sum(-1)  # [...]
    h0 = torch.as_tensor(h0, dtype=x.dtype, device=x.device)
    return plus - minus + (h0 if T % 2 == 0 else -h0)


def recurrence(
    x: torch.Tensor,
    h0: float | torch.Tensor = 0,
    w_x: float | torch.Tensor = 1,
    w_h: float | torch.Tensor = -1,
    b: float | torch.Tensor = 0,
) -> torch.Tensor:
    """The recurrence h_t = w_x x_t + w_h h_(t-1) + b, step by step (differentiable).

    Works in any dtype, integers included (with integer weights), so it can be checked exactly.

    Shapes: x `[B, T]`, h0 a scalar or `[B]` -> hidden states `[B, T]`.
    """
    B, T = x.shape
    h = torch.as_tensor(h0, dtype=x.dtype, device=x.device).expand(B)
    states = []
    for t in range(T):
        h = w_x * x[:, t] + w_h * h + b  # [B]
        states.append(h)
    return torch.stack(states, dim=1) if states else x.new_zeros(B, 0)


@dataclass
class AlternatingRNNConfig:
    """The one-unit linear cell; the defaults are the write-up's hand-wired network."""

    w_x: float = 1.0
    """weight of the input"""
    w_h: float = -1.0
    """weight of the previous hidden state"""
    b: float = 0.0
    """bias"""
    gain: float = 500.0
    """output gain g in y = sigmoid(g h)"""

    def __post_init__(self) -> None:
        for name in ("w_x", "w_h", "b", "gain"):
            if not math.isfinite(getattr(self, name)):
                raise UserError(f"`{name}` must be a finite number, got {getattr(self, name)}")


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


# ----------------------------------------------------------------------------- learning the weights


@dataclass
class LearnConfig:
    """Training a one-unit linear RNN, from random weights, to the alternating-sum rule."""

    steps: int = 6000
    """optimisation steps"""
    batch_size: int = 1024
    """sequences per step"""
    min_length: int = 2
    """shortest training sequence"""
    max_length: int = 20
    """longest training sequence"""
    max_value: int = 100
    """inputs are integers drawn uniformly from [-max_value, max_value]"""
    lr: float = 0.05
    """Adam learning rate"""
    eval_lengths: tuple[int, ...] = (50, 200, 1000)
    """sequence lengths to test on (never seen in training)"""
    eval_size: int = 2000
    """test sequences per length"""
    seed: int = 0
    """random seed"""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise UserError(f"`steps` must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise UserError(f"`batch_size` must be >= 1, got {self.batch_size}")
        if not 1 <= self.min_length <= self.max_length:
            raise UserError(f"need 1 <= `min_length` <= `max_length`, got {self.min_length}, {self.max_length}")
        if self.max_value < 1:
            raise UserError(f"`max_value` must be >= 1, got {self.max_value}")
        if any(n < 1 for n in self.eval_lengths):
            raise UserError(f"`eval_lengths` must all be >= 1, got {self.eval_lengths}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"`lr` must be a finite number > 0, got {self.lr}")


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
    import time

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
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
    }


# ----------------------------------------------------------------------------- the report's measurements


def coefficients(T: int) -> list[int]:
    """The weight with which each x_t (t = 1..T) enters h_T, read off the recurrence itself (unit inputs).

    >>> coefficients(4)
    [-1, 1, -1, 1]
    """
    eye = torch.eye(T, dtype=torch.int64)  # row t: x = e_t
    return recurrence(eye)[:, -1].tolist() if T else []


def exactness_checks(seed: int = 0, sequences_per_length: int = 200, max_length: int = 64) -> dict:
    """Closed form against the step-by-step recurrence (int64) on random sequences, values up to 10^6,
    every length 0..max_length; the write-up's sign pattern; the consecutive-input claim; the y_T rule."""
    gen = torch.Generator().manual_seed(seed)
    mismatches, checked = 0, 0
    for T in range(max_length + 1):
        x = torch.randint(-(10**6), 10**6 + 1, (sequences_per_length, T), generator=gen)
        h0 = torch.randint(-(10**6), 10**6 + 1, (sequences_per_length,), generator=gen)
        closed = alternating_sum(x, h0)
        recur = recurrence(x, h0)[:, -1] if T else h0
        mismatches += int((closed != recur).sum())
        checked += sequences_per_length
    consecutive = []
    for T, start, h0 in ((4, 1, 0), (10, 1, 0), (10, -7, 3), (100, 12345, -20), (1000, -(10**6), 10**6)):
        x = torch.arange(start, start + T, dtype=torch.int64).view(1, T)
        consecutive.append(
            {"T": T, "start": start, "h0": h0, "h_T": recurrence(x, h0)[0, -1].item(), "T/2+h0": T // 2 + h0}
        )
    # The output rule on even lengths: y_T > 0.5 iff h_0 + even-position sum > odd-position sum; 0.5 on a tie.
    model = AlternatingRNN().double()
    agree, total, ties = 0, 0, 0
    for T in range(2, 41, 2):
        x = torch.randint(-3, 4, (500, T), generator=gen)  # small values: many ties
        h0 = torch.randint(-3, 4, (500,), generator=gen)
        with torch.no_grad():
            y = model(x.double(), h0.double())[1][:, -1]
        lhs, rhs = h0 + x[:, 1::2].sum(-1), x[:, 0::2].sum(-1)
        expected = torch.where(lhs > rhs, 1, torch.where(lhs < rhs, -1, 0))
        got = torch.where(y > 0.5, 1, torch.where(y < 0.5, -1, 0))
        agree += int((expected == got).sum())
        total += len(x)
        ties += int((expected == 0).sum())
    return {
        "checked_sequences": checked,
        "max_length": max_length,
        "max_abs_value": 10**6,
        "mismatches": mismatches,
        "coefficients_T8": coefficients(8),
        "coefficients_T7": coefficients(7),
        "consecutive": consecutive,
        "consecutive_all_match": all(c["h_T"] == c["T/2+h0"] for c in consecutive),
        "rule_agreement": agree / total,
        "rule_sequences": total,
        "rule_ties": ties,
    }


PRESETS: dict[str, dict] = {"quick": {}, "full": {}}
"""LearnConfig overrides of `report_experiment`'s presets (the defaults train in seconds: both use them)."""


def report_experiment(preset: str, out_dir, device: str = "cpu", seed: int = 0) -> dict:
    """Problem 2's measurements for the report.

    Returns a dict with keys: "exact" (see `exactness_checks`), "learn" (see `learn`, `LearnConfig` with the
    preset's overrides), "budget" ({"work", "unit": "steps", "planned", "done", "images": None,
    "stopped": None}) and "images" (["rnn_learning.png"]: w_h during training).
    """
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    exact = exactness_checks(seed)
    config = LearnConfig(seed=seed, **PRESETS[preset])
    # A one-unit RNN's ops are too small to split: more threads only add synchronisation (and, on a busy
    # machine, threads waiting for each other), so learn on one and restore the caller's setting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        learned = learn(config)
    finally:
        torch.set_num_threads(threads)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    hist = learned["history"]
    ax.plot([h["step"] for h in hist], [h["w_h"] for h in hist], marker=".")
    ax.axhline(-1, color="grey", linestyle="--", linewidth=1, label="w_h = -1 (hand-wired)")
    ax.set_xlabel("training step")
    ax.set_ylabel("w_h")
    ax.set_title("One-unit linear RNN learning the alternating-sum rule")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_dir / "rnn_learning.png", dpi=110)
    budget = {
        "work": f"{config.steps:,} Adam steps of {config.batch_size} sequences",
        "unit": "steps",
        "planned": config.steps,
        "done": config.steps,
        "images": None,
        "stopped": None,
    }
    return {"exact": exact, "learn": learned, "budget": budget, "images": ["rnn_learning.png"]}
