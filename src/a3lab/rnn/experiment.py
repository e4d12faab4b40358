"""Problem 2's measurements for the report: the closed form checked against the recurrence, and a learning
run from random weights."""

from __future__ import annotations

from pathlib import Path

import torch

from a3lab.errors import UserError
from a3lab.rnn.closed_form import alternating_sum, coefficients, recurrence
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig
from a3lab.rnn.explain import explanation
from a3lab.rnn.learning import learn
from a3lab.rnn.model import AlternatingRNN
from a3lab.section import budget
from a3lab.utils import save_figure

__all__ = ["PRESETS", "exactness_checks", "explained_run", "section_experiment"]


def explained_run(xs: list[float], h0: float, cell: AlternatingRNNConfig, derivation: bool = False) -> str:
    """Run the hand-wired network on `xs` from `h0` and explain the result (`a3lab rnn run`)."""
    x = torch.tensor([xs], dtype=torch.float64)  # [1, T]
    with torch.no_grad():
        h, y = AlternatingRNN(cell).double()(x, h0)  # [1, T] each
    closed = alternating_sum(x[0], h0).item()
    return explanation(xs, h0, h[0].tolist(), y[0].tolist(), closed, cell.gain, derivation=derivation)


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
"""LearnConfig overrides of `section_experiment`'s presets (the defaults train in seconds: both use them)."""


def section_experiment(preset: str, out_dir, device: str = "cpu", seed: int = 0) -> dict:
    """Problem 2's measurements for the report.

    Returns a dict with keys: "exact" (see `exactness_checks`), "learn" (see `learn`, `LearnConfig` with the
    preset's overrides), "budget" (a `Budget` in steps) and "images" (["rnn_learning.png"]: w_h during
    training). `a3lab.rnn.section.RNNResult` is its type.
    """
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
    plot_learning(learned["history"], out_dir / "rnn_learning.png")
    work = budget(f"{config.steps:,} Adam steps of {config.batch_size} sequences", "steps", config.steps, config.steps)
    return {"exact": exact, "learn": learned, "budget": work, "images": ["rnn_learning.png"]}


def plot_learning(history: list[dict], path: Path) -> None:
    """w_h against the training step, beside the hand-wired -1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot([h["step"] for h in history], [h["w_h"] for h in history], marker=".")
    ax.axhline(-1, color="grey", linestyle="--", linewidth=1, label="w_h = -1 (hand-wired)")
    ax.set_xlabel("training step")
    ax.set_ylabel("w_h")
    ax.set_title("One-unit linear RNN learning the alternating-sum rule")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
