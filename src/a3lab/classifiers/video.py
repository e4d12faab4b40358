"""Problem 1, video: are RNNs preferred for "sequential images at different points of time"?

Legend: N clips, B batch, T frames (the training length), S frame side, K classes.

Every model (`video_models`) is trained on clips of T frames (`video_data`) for a fixed number of steps and
tested on fresh clips of T, 2T and 4T frames made from the test split's items. Reported per task and model:
accuracy at each length, parameters, forward FLOPs per clip of T frames (`torch.utils.flop_counter`) and
inference clips per second (median and spread over interleaved rounds, all models in one process).

Before the clip models train, one frame CNN learns to classify single items (`pretrain_steps`); every clip
model starts from it, so the comparison is about how each model combines frames, not about who learns digits
fastest.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.classifiers.video_data import (
    DIRECTIONS,
    NUM_CLASSES,
    ORDER_BLIND_CEILING,
    ORDER_TASKS,
    TASKS,
    ItemBank,
    cached_clips,
    load_bank,
)
from a3lab.classifiers.video_models import (
    MODELS,
    RECURRENT,
    FrameCNN,
    VideoModelConfig,
    build_video_model,
    load_frame_cnn,
)
from a3lab.errors import TrainingDiverged, UserError
from a3lab.utils import progress, resolve_device, save_figure, seed_everything, write_json

__all__ = ["DIRECTIONS", "MODELS", "ORDER_TASKS", "PRESETS", "TASKS", "VideoConfig", "run_video"]


@dataclass
class VideoConfig:
    """The video experiment: data, models, work budget and test lengths."""

    dataset: str = "mnist"
    """item source: mnist or fashion-mnist"""
    tasks: tuple[str, ...] = ("first", "direction", "increasing", "max")
    """tasks: first, direction, increasing (order-dependent), max, sum (order-blind controls)"""
    models: tuple[str, ...] = MODELS
    """models: mean_pool, gru, c3d, transformer"""
    length: int = 8
    """T: frames per training clip"""
    test_factors: tuple[int, ...] = (1, 2, 4)
    """test on clips of T times each factor"""
    train_clips: int = 8000
    """training clips per task (drawn once, sampled with replacement)"""
    test_clips: int = 1000
    """test clips per task and length"""
    steps: int = 600
    """optimisation steps per model and task"""
    batch_size: int = 32
    """clips per step"""
    lr: float = 3e-3
    """peak AdamW learning rate (linear warm-up over 5% of the steps, cosine decay to 0)"""
    pretrain_steps: int = 400
    """steps of the shared frame CNN on single items (batch 128)"""
    model: VideoModelConfig = field(default_factory=VideoModelConfig)
    """model sizes"""
    seed: int = 0
    """seeds the clips, the weights and the batch order"""

    def __post_init__(self) -> None:
        from a3lab.data import DATASETS

        if isinstance(self.model, dict):
            self.model = VideoModelConfig(**self.model)
        self.tasks, self.models = tuple(self.tasks), tuple(self.models)
        self.test_factors = tuple(int(f) for f in self.test_factors)
        if self.dataset not in DATASETS:
            raise UserError(f"`dataset` must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        for name, values, known in (("tasks", self.tasks, TASKS), ("models", self.models, MODELS)):
            bad = [v for v in values if v not in known]
            if bad or not values:
                raise UserError(f"`{name}` must be one or more of {', '.join(known)}, got {list(values)}")
        if not self.test_factors or min(self.test_factors) < 1:
            raise UserError(f"`test_factors` must be integers >= 1, got {self.test_factors}")
        if self.length < 2:
            raise UserError(f"`length` must be >= 2, got {self.length}")
        for name in ("train_clips", "test_clips", "steps", "batch_size", "pretrain_steps"):
            if getattr(self, name) < 1:
                raise UserError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UserError(f"`lr` must be > 0, got {self.lr}")
        if self.seed < 0:
            raise UserError(f"`seed` must be >= 0, got {self.seed}")

    @property
    def test_lengths(self) -> tuple[int, ...]:
        return tuple(self.length * f for f in self.test_factors)


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "tasks": ("first", "direction", "max"),
        "length": 6,
        "steps": 180,
        "batch_size": 16,
        "pretrain_steps": 200,
        "train_clips": 3000,
        "test_clips": 200,
    },
    "full": {"steps": 600, "batch_size": 32, "pretrain_steps": 800, "train_clips": 20000, "test_clips": 1000},
}
"""VideoConfig overrides of each preset."""


# ----------------------------------------------------------------------------- training


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warm = max(1, steps // 20)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
    """AdamW on cross-entropy over random batches of uint8 inputs (scaled to [0, 1] per batch).

    The losses stay on the device until the end (no host sync per step). Returns {"steps", "steps_planned",
    "final_loss" (mean of the last 10% of steps), "train_seconds", "train_cpu_seconds" (this process's CPU
    time: the work done, nearly independent of other processes' load)}.

    Raises:
        TrainingDiverged: the loss is not finite at the end.

    Shapes: inputs uint8 `[N, ...]`, labels int64 `[N]`.
    """
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = warmup_cosine(opt, steps)
    losses = torch.zeros(steps, device=device)
    model.train()
    t0, cpu0, done = time.perf_counter(), time.process_time(), 0
    for step in progress(range(steps), desc=desc):
        idx = torch.randint(0, len(inputs), (batch_size,), generator=g)
        x = inputs[idx].to(device).float().div_(255.0)
        loss = F.cross_entropy(model(x), labels[idx].to(device))
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


def pretrain_frame_cnn(
    train: ItemBank, test: ItemBank, config: VideoConfig, device: torch.device
) -> tuple[FrameCNN, float]:
    """The shared frame CNN, trained to classify single items; returns it and its test-split accuracy."""
    seed_everything(config.seed)
    cnn = FrameCNN(config.model)
    net = nn.Sequential(cnn, nn.Linear(config.model.feature_dim, 10)).to(device)
    fit(net, train.images.unsqueeze(1), train.labels, config.pretrain_steps, 128, config.lr, config.seed, "frame CNN")
    with torch.inference_mode():
        net.eval()
        x = test.images.unsqueeze(1).to(device).float().div_(255.0)  # (N, 1, S, S)
        acc = (net(x).argmax(1) == test.labels.to(device)).float().mean().item()
    return cnn.cpu(), acc


@torch.inference_mode()
def accuracy(model: nn.Module, clips: torch.Tensor, labels: torch.Tensor, batch_size: int = 250) -> float:
    """Share of clips classified right (eval mode). Shapes: clips uint8 `[N, T, S, S]`, labels `[N]`."""
    model.eval()
    device = next(model.parameters()).device
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, len(clips), batch_size):
        x = clips[start : start + batch_size].to(device).float().div_(255.0)
        correct += (model(x).argmax(1) == labels[start : start + batch_size].to(device)).sum()
    return correct.item() / len(clips)


def count_clip_flops(model: nn.Module, length: int, frame_size: int) -> int:
    """Forward FLOPs of one clip (matrix products and convolutions, 2 per multiply-add); oneDNN off so the
    GRU's products are visible to the counter."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    model.eval()
    x = torch.zeros(1, length, frame_size, frame_size, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as fc:
            model(x)
    return int(fc.get_total_flops())


@torch.inference_mode()
def clips_per_second(models: dict[str, nn.Module], clips: torch.Tensor, rounds: int = 5) -> dict[str, dict]:
    """Inference throughput of each model on the same batch, in interleaved rounds (A B C A B C ...), so a
    change of machine load hits every model alike. Returns {model: {"median", "min", "max"}} clips/s."""
    x = clips.float().div(255.0)
    times: dict[str, list[float]] = {k: [] for k in models}
    for m in models.values():
        m.eval()(x.to(next(m.parameters()).device))  # warm-up
    for _ in range(rounds):
        for kind, m in models.items():
            t0 = time.perf_counter()
            m(x.to(next(m.parameters()).device)).sum().item()
            times[kind].append(len(x) / (time.perf_counter() - t0))
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in times.items()}


# ----------------------------------------------------------------------------- the experiment


def _task_data(config: VideoConfig, task: str, banks: dict[bool, ItemBank]) -> tuple[tuple, dict[int, tuple]]:
    """Training clips of T frames, and test clips per length (from the test split, seeds apart from training)."""
    train = cached_clips(config.dataset, True, task, config.train_clips, config.length, config.seed, banks[True])
    tests = {
        n: cached_clips(
            config.dataset, False, task, config.test_clips, n, 1_000_003 + config.seed * 101 + n, banks[False]
        )
        for n in config.test_lengths
    }
    return train, tests


def _run_task(
    config: VideoConfig, task: str, cnn: FrameCNN, banks: dict[bool, ItemBank], device: torch.device
) -> dict[str, Any]:
    (clips, labels), tests = _task_data(config, task, banks)
    entry: dict[str, Any] = {"classes": NUM_CLASSES[task], "order_blind_ceiling": ORDER_BLIND_CEILING[task]}
    entry["chance"] = torch.bincount(tests[config.length][1]).max().item() / config.test_clips
    entry.update(models={}, details={})
    trained: dict[str, nn.Module] = {}
    for kind in config.models:
        seed_everything(config.seed)
        model = build_video_model(kind, NUM_CLASSES[task], config.model)
        load_frame_cnn(model, cnn)
        model.to(device)
        details = fit(model, clips, labels, config.steps, config.batch_size, config.lr, config.seed, f"{task} {kind}")
        details["params"] = sum(p.numel() for p in model.parameters())
        details["flops_per_clip"] = count_clip_flops(model, config.length, clips.shape[-1])
        entry["models"][kind] = {str(n): accuracy(model, x, y) for n, (x, y) in tests.items()}
        entry["details"][kind] = details
        trained[kind] = model
    speed = clips_per_second(trained, tests[config.length][0][:64])
    for kind, s in speed.items():
        entry["details"][kind]["clips_per_second"] = s
    return entry


def run_video(config: VideoConfig, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Pretrain the frame CNN, then train and test every model on every task.

    Returns:
        {"config", "frame_cnn_accuracy", "recurrent": [...], "order_tasks": [...], "length", "lengths",
         "tasks": {task: {"classes", "chance", "order_blind_ceiling", "models": {model: {str(T): accuracy}},
         "details": {model: {"params", "flops_per_clip", "clips_per_second": {"median", "min", "max"}, "steps",
         "steps_planned", "final_loss", "train_seconds", "train_cpu_seconds"}}}}}
    """
    device = resolve_device(device) if isinstance(device, str) else device
    banks = {train: load_bank(config.dataset, train) for train in (True, False)}
    cnn, cnn_acc = pretrain_frame_cnn(banks[True], banks[False], config, device)
    out: dict[str, Any] = {
        "config": asdict(config),
        "frame_cnn_accuracy": cnn_acc,
        "recurrent": list(RECURRENT),
        "order_tasks": [t for t in config.tasks if t in ORDER_TASKS],
        "length": config.length,
        "lengths": list(config.test_lengths),
        "tasks": {},
    }
    for task in config.tasks:
        out["tasks"][task] = _run_task(config, task, cnn, banks, device)
    return out


def format_table(result: dict[str, Any]) -> str:
    """Accuracy (%) per task, model and clip length, with parameters, MFLOP per clip and clips/s."""
    lengths = result["lengths"]
    lines = [f"frame CNN on single test items: {100 * result['frame_cnn_accuracy']:.1f}%"]
    for task, entry in result["tasks"].items():
        lines.append(
            f"{task} (trained on T={result['length']}; chance {100 * entry['chance']:.1f}%, "
            f"order-blind ceiling {100 * entry['order_blind_ceiling']:.0f}%)"
        )
        lines.append(
            f"  {'model':<12}"
            + "".join(f"{'T=' + str(n):>8}" for n in lengths)
            + f"{'params':>9}{'MFLOP':>8}{'clips/s':>9}"
        )
        for kind, accs in entry["models"].items():
            d = entry["details"][kind]
            cells = "".join(f"{100 * accs[str(n)]:>8.1f}" for n in lengths)
            speed = d["clips_per_second"]["median"]
            lines.append(f"  {kind:<12}{cells}{d['params']:>9,}{d['flops_per_clip'] / 1e6:>8.2f}{speed:>9,.0f}")
    return "\n".join(lines)


_STYLE = {"mean_pool": ("tab:blue", "^"), "gru": ("tab:orange", "o"), "c3d": ("tab:green", "s"),
          "transformer": ("tab:purple", "D")}  # fmt: skip


def plot_video(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy against clip length, one panel per task; chance and the order-blind ceiling dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), squeeze=False, constrained_layout=True)
    for ax, (task, entry) in zip(axes[0], tasks.items()):
        for kind, accs in entry["models"].items():
            colour, marker = _STYLE.get(kind, ("gray", "."))
            ax.plot(result["lengths"], [100 * accs[str(n)] for n in result["lengths"]], marker=marker, color=colour,
                    label=kind)  # fmt: skip
        ax.axhline(100 * entry["chance"], color="gray", linestyle="--", linewidth=1, label="chance")
        if entry["order_blind_ceiling"] < 1:
            ax.axhline(100 * entry["order_blind_ceiling"], color="tab:blue", linestyle=":", linewidth=1,
                       label="order-blind ceiling")  # fmt: skip
        ax.axvline(result["length"], color="gray", linestyle=":", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_xticks(result["lengths"], [str(n) for n in result["lengths"]])
        ax.minorticks_off()
        ax.set_ylim(0, 102)
        ax.set_xlabel("frames per clip (trained on the first)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(task + (" (control)" if task not in ORDER_TASKS else ""))
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title or "Video: accuracy against clip length")
    return save_figure(fig, path)


def report_experiment(
    preset: str, out_dir: str | os.PathLike, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Any]:
    """Problem 1 (video) for the report: every model on MNIST clips, accuracy against clip length.

    Writes `video_accuracy_vs_length.png` and `video.json` into `out_dir`. Returns {"images", "preset_note",
    "budget": {"work", "unit": "steps", "planned", "done", "images" (training clips), "stopped": None},
    **run_video's result without the config}.
    """
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    config = VideoConfig(seed=seed, **PRESETS[preset])
    result = run_video(config, device)
    out_dir = Path(out_dir)
    image = "video_accuracy_vs_length.png"
    plot_video(result, out_dir / image, title=f"Video clips ({preset} preset, seed {seed})")
    write_json({"preset": preset, **result}, out_dir / "video.json")
    note = (
        f"{preset} preset: frame CNN {config.pretrain_steps} steps of 128 items; then {config.steps} AdamW steps "
        f"of {config.batch_size} clips of {config.length} frames per model and task ({config.train_clips} "
        f"training clips); {config.test_clips} test clips per length"
    )
    runs = [d for entry in result["tasks"].values() for d in entry["details"].values()]
    budget = {
        "work": f"frame CNN {config.pretrain_steps:,} steps, then {len(runs)} models x {config.steps:,} steps of "
        f"{config.batch_size} clips",
        "unit": "steps",
        "planned": config.pretrain_steps + sum(d["steps_planned"] for d in runs),
        "done": config.pretrain_steps + sum(d["steps"] for d in runs),
        "images": config.train_clips * len(config.tasks),
        "stopped": None,
    }
    kept = {k: v for k, v in result.items() if k != "config"}
    return {"images": [image], "preset_note": note, "budget": budget, **kept}
