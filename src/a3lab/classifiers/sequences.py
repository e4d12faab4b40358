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

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.errors import TrainingDiverged, UserError
from a3lab.rnn import AlternatingRNN, rule_batch
from a3lab.utils import progress, resolve_device, save_figure, seed_everything, write_json

TASKS: tuple[str, ...] = ("alternating", "parity")
MODELS: tuple[str, ...] = ("gru", "lstm", "cnn1d", "mlp", "hand_wired")
TEST_LENGTHS: tuple[int, ...] = (20, 50, 100, 500, 1000)


# ----------------------------------------------------------------------------- tasks


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


# ----------------------------------------------------------------------------- models


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


# ----------------------------------------------------------------------------- the experiment


@dataclass
class SequenceConfig:
    """The sequence experiment: tasks, models, training budget and test lengths."""

    tasks: tuple[str, ...] = TASKS
    """tasks to run: alternating, parity"""
    models: tuple[str, ...] = MODELS
    """models to run: gru, lstm, cnn1d, mlp, hand_wired"""
    train_min_length: int = 1
    """shortest training sequence"""
    train_max_length: int = 20
    """longest training sequence; also the MLP's fixed input length"""
    test_lengths: tuple[int, ...] = TEST_LENGTHS
    """lengths to test on"""
    steps: int = 1500
    """optimisation steps per model (one length per batch, drawn uniformly)"""
    batch_size: int = 128
    """sequences per step"""
    curriculum: float = 0.5
    """share of the steps over which the longest training length grows from 2 to train_max_length (0: none)"""
    lr: float = 1e-2
    """Adam learning rate (cosine decay to 0)"""
    hidden_size: int = 32
    """hidden units of the GRU and LSTM"""
    cnn_channels: int = 32
    """channels of the 1-D CNN"""
    cnn_kernel_size: int = 3
    """kernel of each 1-D convolution (odd)"""
    cnn_layers: int = 3
    """convolutions in the 1-D CNN; receptive field 1 + layers * (kernel - 1)"""
    mlp_hidden_size: int = 64
    """hidden units of the MLP"""
    max_value: int = 100
    """alternating task: integers drawn from [-max_value, max_value]"""
    eval_size: int = 1000
    """test sequences per length"""
    seed: int = 0
    """seeds the weights and the training and test sequences"""

    def __post_init__(self) -> None:
        self.tasks, self.models = tuple(self.tasks), tuple(self.models)
        self.test_lengths = tuple(int(n) for n in self.test_lengths)
        for task in self.tasks:
            if task not in TASKS:
                raise UserError(f"`tasks` must be among {', '.join(TASKS)}, got {task!r}")
        for model in self.models:
            if model not in MODELS:
                raise UserError(f"`models` must be among {', '.join(MODELS)}, got {model!r}")
        if not 1 <= self.train_min_length <= self.train_max_length:
            raise UserError(
                f"need 1 <= train min length <= `train_max_length`, got {self.train_min_length}, "
                f"{self.train_max_length}"
            )
        if not self.test_lengths or min(self.test_lengths) < 1:
            raise UserError(f"`lengths` must be one or more integers >= 1, got {self.test_lengths}")
        for name in ("steps", "batch_size", "hidden_size", "cnn_channels", "cnn_layers", "mlp_hidden_size"):
            if getattr(self, name) < 1:
                raise UserError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.cnn_kernel_size < 1 or self.cnn_kernel_size % 2 == 0:
            raise UserError(f"`cnn_kernel_size` must be odd and >= 1, got {self.cnn_kernel_size}")
        if not 0.0 <= self.curriculum <= 1.0:
            raise UserError(f"`curriculum` must be in [0, 1], got {self.curriculum}")
        if not self.lr > 0:
            raise UserError(f"`lr` must be > 0, got {self.lr}")
        if self.max_value < 1:
            raise UserError(f"`max_value` must be >= 1, got {self.max_value}")
        if self.eval_size < 1:
            raise UserError(f"`eval_size` must be >= 1, got {self.eval_size}")
        if self.seed < 0:
            raise UserError(f"`seed` must be >= 0, got {self.seed}")


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
    config: SequenceConfig, device: str | torch.device = "cpu", progress_bar: bool = True
) -> dict[str, Any]:
    """Train every model on every task (lengths up to `train_max_length`) and test it on `test_lengths`.

    Returns:
        {"config": the resolved config, "tasks": {task: {"train_max_length", "lengths", "chance",
        "models": {model: {str(length): accuracy}}, "details": {model: {"params", "train_seconds",
        "final_loss", "receptive_field" (cnn1d) or "max_length" (mlp)}}}}}. The MLP has no entry for lengths
        longer than `train_max_length`.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    threads = torch.get_num_threads()
    # These models are tiny: on CPU a second thread only adds synchronisation, which costs far more than it
    # saves, so run on one and restore the caller's setting afterwards.
    torch.set_num_threads(1)
    try:
        return _run_sequences(config, device, progress_bar)
    finally:
        torch.set_num_threads(threads)


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


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"steps": 500, "eval_size": 400},
    "full": {"steps": 3000, "eval_size": 2000},
}
"""SequenceConfig overrides of `report_experiment`'s presets."""


def report_experiment(
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
    budget = {
        "work": f"{trained} models x {config.steps:,} steps of {config.batch_size} sequences",
        "unit": "steps",
        "planned": trained * config.steps,
        "done": trained * config.steps,
        "images": None,
        "stopped": None,
    }
    return {"images": [image], "preset_note": note, "budget": budget, "tasks": tasks}
