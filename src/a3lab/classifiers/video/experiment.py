"""Problem 1, video: are RNNs preferred for "sequential images at different points of time"?

Legend: N clips, B batch, T frames (the training length), S frame side, K classes.

Every model (`video.models`) is trained on clips of T frames (`video.data`) for a fixed number of steps and
tested on fresh clips of T, 2T and 4T frames made from the test split's items. Reported per task and model:
accuracy at each length, parameters, forward FLOPs per clip of T frames (`torch.utils.flop_counter`) and
inference clips per second (median and spread over interleaved rounds, all models in one process).

Before the clip models train, one frame CNN learns to classify single items (`pretrain_steps`); every clip
model starts from it, so the comparison is about how each model combines frames, not about who learns digits
fastest.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a3lab.classifiers.fit import fit
from a3lab.classifiers.video.config import ORDER_TASKS, PRESETS, RECURRENT, VideoConfig
from a3lab.classifiers.video.data import NUM_CLASSES, ORDER_BLIND_CEILING, ItemBank, cached_clips, load_bank
from a3lab.classifiers.video.models import FrameCNN, build_video_model, load_frame_cnn
from a3lab.errors import UserError
from a3lab.section import budget
from a3lab.timing import intra_op_threads
from a3lab.utils import resolve_device, save_figure, seed_everything, write_json

# ----------------------------------------------------------------------------- training and measuring


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


def run_video(config: VideoConfig, device: str | torch.device = "cpu", threads: int | None = None) -> dict[str, Any]:
    """Pretrain the frame CNN, then train and test every model on every task.

    Returns:
        {"config", "frame_cnn_accuracy", "recurrent": [...], "order_tasks": [...], "length", "lengths",
         "tasks": {task: {"classes", "chance", "order_blind_ceiling", "models": {model: {str(T): accuracy}},
         "details": {model: {"params", "flops_per_clip", "clips_per_second": {"median", "min", "max"}, "steps",
         "steps_planned", "final_loss", "train_seconds", "train_cpu_seconds"}}}}}. Runs on `threads` intra-op
        threads (None: the caller's setting), which it restores afterwards.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    with intra_op_threads(threads) if threads is not None else contextlib.nullcontext():
        return _run_video(config, device)


def _run_video(config: VideoConfig, device: torch.device) -> dict[str, Any]:
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


def section_experiment(
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
    work = budget(
        f"frame CNN {config.pretrain_steps:,} steps, then {len(runs)} models x {config.steps:,} steps of "
        f"{config.batch_size} clips",
        "steps",
        planned=config.pretrain_steps + sum(d["steps_planned"] for d in runs),
        done=config.pretrain_steps + sum(d["steps"] for d in runs),
        images=config.train_clips * len(config.tasks),
    )
    kept = {k: v for k, v in result.items() if k != "config"}
    return {"images": [image], "preset_note": note, "budget": work, **kept}
