"""Problem 1, sequences: does recurrence generalise to longer inputs where a fixed window does not?

Legend: B batch, T time steps (sequence length), C channels, H hidden units, L the MLP's fixed input length.

The write-up claims RNNs are the better choice for sequential data. We test it on two tasks of variable-length
sequences, training on lengths 1..20 only and testing on lengths 20, 50, 100, 500 and 1000:

- "alternating": integers x_t uniform in [-100, 100]; the label is 1 when the alternating sum
  h_T = x_T - x_(T-1) + x_(T-2) - ... is positive (Problem 2's rule, `a3lab.rnn.rule_batch`; ties, label 0.5,
  are left out of the accuracy). The state a model must carry grows with T.
- "parity": bits x_t in {0, 1}; the label is their sum mod 2 (Minsky & Papert's classic; a two-state automaton).
  The state is one bit at any length.

Models: a GRU (Cho et al., 2014) and an LSTM (Hochreiter & Schmidhuber, 1997) classifying from the last hidden
state; a 1-D CNN with a fixed receptive field (1 + layers * (kernel - 1) steps) and global average pooling; an
MLP on left-zero-padded input of fixed length L = 20 (so it has no answer for longer inputs); and a hand-wired
reference: Problem 2's network h_t = x_t - h_(t-1) (`a3lab.rnn.AlternatingRNN`) for "alternating", and the
one-unit cell h_t = |x_t - h_(t-1)| (XOR of the bit and the running parity) for "parity". The claim holds where
the recurrent models stay accurate on lengths they never saw while the fixed-window models fall to chance.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.classifiers.sequences.config import PRESETS, TASKS, THREADS, SequenceConfig
from a3lab.classifiers.sequences.models import HandWired, SequenceCNN, SequenceMLP, build_model
from a3lab.classifiers.sequences.tasks import encode, make_batch
from a3lab.errors import TrainingDiverged, UserError
from a3lab.section import budget
from a3lab.timing import intra_op_threads
from a3lab.utils import progress, resolve_device, save_figure, seed_everything, write_json


def train_model(
    model: nn.Module,
    task: str,
    config: SequenceConfig,
    device: torch.device,
    progress_bar: bool = True,
    desc: str = "",
) -> dict[str, float]:
    """Adam on binary cross-entropy with logits (soft label 0.5 on ties), one length per step.

    Lengths are drawn uniformly from [train_min_length, longest], where `longest` grows linearly from 2 to
    train_max_length over the first `config.curriculum` share of the steps (parity is not learned in a few
    hundred steps without it: its loss gives no signal on long sequences until short ones are solved).
    The training sequences come from a generator seeded by `config.seed` alone, so every model of a task
    sees the same stream. Returns {"train_seconds", "final_loss" (mean of the last 50 steps)}.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    ramp = config.curriculum * config.steps
    for step in progress(range(config.steps), desc=desc, disable=None if progress_bar else True):
        longest = config.train_max_length
        if step < ramp:
            longest = min(longest, 2 + int((longest - 2) * step / ramp))
        low = min(config.train_min_length, longest)
        length = int(torch.randint(low, longest + 1, (1,), generator=gen))
        x, y = make_batch(task, config.batch_size, length, gen, config.max_value)
        logits = model(encode(task, x, config.max_value).to(device))  # (B,)
        loss = F.binary_cross_entropy_with_logits(logits, y.float().to(device))
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise TrainingDiverged(f"{desc or task}: the loss became {losses[-1]} at step {step}; try a smaller --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    tail = losses[-50:]
    return {"train_seconds": time.perf_counter() - t0, "final_loss": sum(tail) / len(tail)}


@torch.inference_mode()
def accuracy(model: nn.Module, task: str, x: torch.Tensor, y: torch.Tensor, max_value: int = 100) -> float:
    """Share of sequences whose logit has the label's sign (ties, label 0.5, left out), in chunks of 250.

    Shapes: raw inputs `[B, T]`, labels `[B]`.
    """
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    raw = isinstance(model, HandWired)
    logits = torch.cat(
        [
            model(chunk if raw else encode(task, chunk, max_value).to(device)).double().cpu()
            for chunk in x.split(250)  # (250, T) at a time: a GRU keeps (B, T, H) outputs
        ]
    )
    keep = y != 0.5
    return ((logits > 0).double() == y)[keep].double().mean().item()


def make_test_sets(task: str, config: SequenceConfig) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """The fixed test sequences of one task, {length: (x `[eval_size, T]`, y `[eval_size]`)}, shared by all models."""
    gen = torch.Generator().manual_seed(10_000 + 1_000 * config.seed + TASKS.index(task))
    return {n: make_batch(task, config.eval_size, n, gen, config.max_value) for n in config.test_lengths}


def chance_level(sets: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Accuracy of always answering the majority label, over all test sets (ties left out)."""
    y = torch.cat([labels[labels != 0.5] for _, labels in sets.values()])
    p = y.mean().item()
    return max(p, 1.0 - p)


def run_sequences(
    config: SequenceConfig,
    device: str | torch.device = "cpu",
    progress_bar: bool = True,
    threads: int | None = THREADS,
) -> dict[str, Any]:
    """Train every model on every task (lengths up to `train_max_length`) and test it on `test_lengths`.

    Returns:
        {"config": the resolved config, "tasks": {task: {"train_max_length", "lengths", "chance",
        "models": {model: {str(length): accuracy}}, "details": {model: {"params", "train_seconds",
        "final_loss", "receptive_field" (cnn1d) or "max_length" (mlp)}}}}}. The MLP has no entry for lengths
        longer than `train_max_length`. Runs on `threads` intra-op threads (None: the caller's setting),
        which it restores afterwards.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    with intra_op_threads(threads) if threads is not None else contextlib.nullcontext():
        return _run_sequences(config, device, progress_bar)


def _run_sequences(config: SequenceConfig, device: torch.device, progress_bar: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"config": asdict(config), "tasks": {}}
    for task in config.tasks:
        sets = make_test_sets(task, config)
        entry: dict[str, Any] = {
            "train_max_length": config.train_max_length,
            "lengths": list(config.test_lengths),
            "chance": chance_level(sets),
            "models": {},
            "details": {},
        }
        for kind in config.models:
            seed_everything(config.seed)
            model = build_model(kind, task, config).to(device)
            details: dict[str, Any] = {"params": sum(p.numel() for p in model.parameters())}
            if kind != "hand_wired":
                details.update(train_model(model, task, config, device, progress_bar, desc=f"{task} {kind}"))
            if isinstance(model, SequenceCNN):
                details["receptive_field"] = model.receptive_field
            if isinstance(model, SequenceMLP):
                details["max_length"] = model.max_length
            entry["models"][kind] = {
                str(n): accuracy(model, task, x, y, config.max_value)
                for n, (x, y) in sets.items()
                if not (isinstance(model, SequenceMLP) and n > model.max_length)
            }
            entry["details"][kind] = details
        out["tasks"][task] = entry
    return out


def format_table(result: dict[str, Any]) -> str:
    """Accuracy (%) per task, model and length as plain text; '-' where a model takes no such length."""
    lines = []
    for task, entry in result["tasks"].items():
        lengths = entry["lengths"]
        head = f"{task} (trained on lengths <= {entry['train_max_length']}, chance {100 * entry['chance']:.1f}%)"
        lines += [head, f"  {'model':<11}" + "".join(f"{'T=' + str(n):>9}" for n in lengths)]
        for kind, accs in entry["models"].items():
            cells = "".join(f"{100 * accs[str(n)]:>9.1f}" if str(n) in accs else f"{'-':>9}" for n in lengths)
            lines.append(f"  {kind:<11}{cells}")
        lines.append("")
    return "\n".join(lines).rstrip()


_STYLE = {
    "gru": ("tab:orange", "o"),
    "lstm": ("tab:green", "s"),
    "cnn1d": ("tab:blue", "^"),
    "mlp": ("tab:red", "D"),
    "hand_wired": ("black", "x"),
}


def plot_sequences(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy against test length (log x), one panel per task, chance and the training range marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False, constrained_layout=True)
    for ax, (task, entry) in zip(axes[0], tasks.items()):
        for kind, accs in entry["models"].items():
            lengths = [n for n in entry["lengths"] if str(n) in accs]
            colour, marker = _STYLE.get(kind, ("gray", "."))
            ax.plot(lengths, [100 * accs[str(n)] for n in lengths], marker=marker, color=colour, label=kind)
        ax.axhline(100 * entry["chance"], color="gray", linestyle="--", linewidth=1, label="chance")
        ax.axvline(entry["train_max_length"], color="gray", linestyle=":", linewidth=1, label="longest training")
        ax.set_xscale("log")
        ax.set_xticks(entry["lengths"], [str(n) for n in entry["lengths"]])
        ax.minorticks_off()
        ax.set_ylim(40, 102)
        ax.set_xlabel("test sequence length T")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(task)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "Sequences: accuracy on lengths never seen in training")
    return save_figure(fig, path)


def section_experiment(
    preset: str, out_dir: str | os.PathLike, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Any]:
    """Problem 1 (sequences) for the report: every model on both tasks, accuracy against length.

    Presets: "quick" trains each model for 500 steps and tests 400 sequences per length (about 2 minutes on
    a 2-core CPU); "full" 3,000 steps and 2,000 sequences. Writes `sequences_accuracy_vs_length.png` and
    `sequences.json` (the full record, with parameters and training times) into `out_dir`.

    Returns:
        {"images": [PNG file names in out_dir],
         "preset_note": what the preset trained,
         "tasks": {task: {"train_max_length": 20, "lengths": [20, 50, 100, 500, 1000],
         "chance": float, "models": {model: {str(length): accuracy 0..1}}}},
         "budget": {"work", "unit": "steps", "planned", "done", "images": None, "stopped": None}}
        for tasks "alternating" and "parity", models gru, lstm, cnn1d, mlp (lengths <= 20 only) and
        hand_wired.
    """
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    config = SequenceConfig(seed=seed, **PRESETS[preset])
    result = run_sequences(config, device)
    out_dir = Path(out_dir)
    image = "sequences_accuracy_vs_length.png"
    plot_sequences(result, out_dir / image, title=f"Sequences ({preset} preset, seed {seed})")
    write_json({"preset": preset, **result}, out_dir / "sequences.json")
    note = (
        f"{preset} preset: {config.steps} Adam steps of {config.batch_size} sequences (lengths "
        f"{config.train_min_length}..{config.train_max_length}) per model, {config.eval_size} test sequences per length"
    )
    tasks = {
        task: {key: entry[key] for key in ("train_max_length", "lengths", "chance", "models")}
        for task, entry in result["tasks"].items()
    }
    trained = len(config.tasks) * sum(kind != "hand_wired" for kind in config.models)
    work = budget(
        f"{trained} models x {config.steps:,} steps of {config.batch_size} sequences",
        "steps",
        planned=trained * config.steps,
        done=trained * config.steps,
    )
    return {"images": [image], "preset_note": note, "budget": work, "tasks": tasks}
