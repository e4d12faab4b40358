"""Problem 1 comparisons: every model on every data set, the table, the plot and the report's experiment."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a3lab.classifiers.config import DEFAULT_BATCH_SIZE, MODEL_KINDS, TrainConfig
from a3lab.classifiers.training import domain_cnn_path, save_run, train_classifier
from a3lab.data import DATASETS, load_images
from a3lab.errors import UserError
from a3lab.utils import progress, resolve_device, save_figure, write_json

# ----------------------------------------------------------------------------- comparisons and the report

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "epochs": 1,
        "train_examples": 60000,
        "timing": {"images": 512, "batch_size": 256, "rounds": 7},
        "note": "quick preset: 1 epoch on each full training split, full test split",
    },
    "full": {
        "epochs": 3,
        "train_examples": None,
        "timing": {"images": 512, "batch_size": 256, "rounds": 7},
        "note": "full preset: 3 epochs on the full training split",
    },
}
"""Training budget of `section_experiment`'s presets, and how many test images, in batches of what size, the
inference timing classifies per call and in how many interleaved rounds (the same in both presets, so that the
quick report measures claim 2 exactly as the full one does)."""

REPORT_KEYS = (
    "accuracy",
    "params",
    "flops_per_image",
    "train_seconds_per_epoch",
    "inference_images_per_second",
    "epochs",
    "train_examples",
)


def run_comparison(
    datasets: Iterable[str],
    models: Iterable[str],
    seeds: Iterable[int],
    out_dir: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    reuse: bool = True,
    save_weights: bool = True,
    progress_bar: bool = True,
    **train_kwargs: Any,
) -> list[dict[str, Any]]:
    """Train (or reuse) every (data set, model, seed) and return their results, one dict per run.

    Each run's record is `<out_dir>/<dataset>-<model>-seed<seed>.json` (and `.safetensors` with
    `save_weights`). With `reuse`, a record whose training config equals the requested one is read back
    instead of retrained, so an interrupted comparison resumes where it stopped.
    """
    out_dir = Path(out_dir)
    jobs = [(d, m, s) for d in datasets for m in models for s in seeds]
    runs = []
    for dataset, kind, seed in progress(jobs, desc="classifiers", disable=None if progress_bar else True):
        config = TrainConfig(dataset=dataset, model=kind, seed=seed, **train_kwargs)
        stem = out_dir / f"{dataset}-{kind}-seed{seed}"
        record = stem.with_name(stem.name + ".json")
        if reuse and record.is_file():
            old = json.loads(record.read_text())
            if old.get("train_config") == json.loads(json.dumps(asdict(config))):
                runs.append(old)
                continue
        model, results = train_classifier(config, root, device, progress_bar)
        if save_weights:
            save_run(model, results, stem)
        else:
            write_json(results, record)
        runs.append(results)
    return runs


def summarise(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Group runs by data set and model: means over seeds, plus every seed's accuracy and the spread.

    Returns:
        {dataset: {model: {REPORT_KEYS (means; counts as ints), "seeds", "accuracy_per_seed",
        "accuracy_spread" (max - min)}}}.
    """
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in runs:
        grouped.setdefault(r["dataset"], {}).setdefault(r["model"], []).append(r)
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, by_model in grouped.items():
        for kind, rs in by_model.items():
            row: dict[str, Any] = {}
            for key in REPORT_KEYS:
                mean = sum(r[key] for r in rs) / len(rs)
                row[key] = round(mean) if isinstance(rs[0][key], int) else mean
            accs = [r["accuracy"] for r in rs]
            row["seeds"] = [r["seed"] for r in rs]
            row["accuracy_per_seed"] = accs
            row["accuracy_spread"] = max(accs) - min(accs)
            table.setdefault(dataset, {})[kind] = row
    return table


def format_table(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A plain-text table of `summarise`'s output, one line per data set and model."""
    head = (
        f"{'dataset':<14} {'model':<5} {'accuracy %':>18} {'params':>9} {'MFLOPs/img':>10} "
        f"{'s/epoch':>8} {'img/s infer':>11} {'epochs':>6} {'examples':>8}"
    )
    lines = [head, "-" * len(head)]
    for dataset, by_model in table.items():
        for kind, r in by_model.items():
            acc = f"{100 * r['accuracy']:.2f}"
            if len(r.get("accuracy_per_seed", [])) > 1:
                acc += f" ±{50 * r['accuracy_spread']:.2f} (n={len(r['accuracy_per_seed'])})"
            lines.append(
                f"{dataset:<14} {kind:<5} {acc:>18} {r['params']:>9,} {r['flops_per_image'] / 1e6:>10.2f} "
                f"{r['train_seconds_per_epoch']:>8.1f} {r['inference_images_per_second']:>11,.0f} "
                f"{r['epochs']:>6} {r['train_examples']:>8}"
            )
    return "\n".join(lines)


_MARKERS = {"mnist": "o", "fashion-mnist": "s"}
_COLOURS = {"cnn": "tab:blue", "gru": "tab:orange", "lstm": "tab:green", "mlp": "tab:red"}


def plot_comparison(table: dict[str, dict[str, dict[str, Any]]], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy against forward FLOPs per image and against training seconds per epoch (log x), one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    for ax, key, scale, label in (
        (axes[0], "flops_per_image", 1e-6, "forward MFLOPs per image (FlopCounterMode)"),
        (axes[1], "train_seconds_per_epoch", 1.0, "training seconds per epoch"),
    ):
        for dataset, by_model in table.items():
            for kind, r in by_model.items():
                x, y = r[key] * scale, 100 * r["accuracy"]
                ax.scatter(x, y, marker=_MARKERS.get(dataset, "^"), s=60, color=_COLOURS.get(kind, "gray"),
                           label=f"{kind} · {dataset}")  # fmt: skip
                ax.annotate(kind, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), title="model · data set")
    fig.suptitle(title or "Image classifiers: accuracy against computation and time")
    return save_figure(fig, path)


def time_inference(
    models: dict[str, nn.Module], images: torch.Tensor, batch_size: int, rounds: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds each model takes to classify `images`, in interleaved rounds on one intra-op thread.

    Shapes: images float `[N, 1, 28, 28]` in [0, 1], on `device`. Returns {model: [seconds per round]}.
    """
    from a3lab.timing import interleaved_rounds, intra_op_threads

    def classify(model: nn.Module):
        def call() -> None:
            with torch.inference_mode():
                for chunk in images.split(batch_size):
                    model(chunk)  # (B, K)

        return call

    with intra_op_threads(1):
        calls = {m: classify(model) for m, model in models.items()}
        return interleaved_rounds(calls, rounds, str(device), desc="classifier inference timing")


def _inference_ratios(models: dict[str, nn.Module], dataset: str, timing: dict, device: torch.device) -> dict:
    """Per RNN: CNN images/s over its images/s, round by round; and each model's images/s (median round)."""
    from a3lab.timing import ratio_spread, spread

    test_images = load_images(dataset, train=False)[0][: timing["images"]]
    x = test_images.float().div(255).unsqueeze(1).to(device)  # (N, 1, 28, 28)
    timing["images"] = len(x)  # a small test split (tests) holds fewer than the preset asks for
    seconds = time_inference(models, x, timing["batch_size"], timing["rounds"], device)
    speed = {m: len(x) / spread(t)["median"] for m, t in seconds.items()}
    ratios = {m: ratio_spread(seconds[m], seconds["cnn"]) for m in models if m in ("gru", "lstm")}
    return {"images_per_second": speed, "ratios": ratios}


def section_experiment(
    preset: str, out_dir: str | os.PathLike, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Any]:
    """Problem 1 (images) for the report: CNN, GRU, LSTM and MLP on MNIST and Fashion-MNIST, one seed.

    Budgets (`PRESETS`) are work: epochs over a seeded subset of the training split; both presets evaluate on
    the whole test split. After training, the four models of each data set classify the same test images
    side by side in interleaved rounds on one thread (`time_inference`): the speed ratios claim 2 reads.
    Writes `classifiers_accuracy_vs_flops.png` and `classifiers.json` (every run's full record) into
    `out_dir`. The trained CNNs are saved where `domain_cnn` looks for them when the run is full-data
    ("full"); the quick preset saves them only where no checkpoint exists yet.

    Returns:
        {"images": [PNG file names in out_dir],
         "preset_note": what the preset trained,
         "budget": {"work", "unit": "steps", "planned", "done", "images" (per run), "stopped": None},
         "results": {dataset: {model: {"accuracy": test accuracy 0..1, "params": int,
         "flops_per_image": int (forward, FlopCounterMode), "train_seconds_per_epoch": float,
         "inference_images_per_second": float (median of the rounds), "epochs": int, "train_examples": int}}},
         "timing": {"device", "threads", "batch_size", "images", "rounds",
         "ratios": {dataset: {"gru"|"lstm": CNN images/s over the RNN's: {"median", "low", "high", "rounds",
         "values"}}}}}
        for datasets mnist, fashion-mnist and models cnn, gru, lstm, mlp.
    """
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    spec = PRESETS[preset]
    device = resolve_device(device) if isinstance(device, str) else device
    timing = {"device": str(device), "threads": 1, **spec["timing"], "ratios": {}}
    runs, steps, trained = [], 0, {}
    for dataset, kind in progress([(d, m) for d in DATASETS for m in MODEL_KINDS], desc=f"classifiers ({preset})"):
        n_train = spec["train_examples"]
        if n_train is not None:  # a tiny data root (tests) may hold fewer images than the preset asks for
            n_train = min(n_train, len(load_images(dataset, train=True)[1]))
        config = TrainConfig(dataset=dataset, model=kind, epochs=spec["epochs"], train_examples=n_train, seed=seed)
        model, results = train_classifier(config, device=device)
        steps += config.epochs * math.ceil(results["train_examples"] / (config.batch_size or DEFAULT_BATCH_SIZE[kind]))
        runs.append(results)
        trained.setdefault(dataset, {})[kind] = model
        if kind == "cnn":
            target = domain_cnn_path(dataset)
            if (spec["train_examples"] is None and spec["epochs"] >= 3) or not target.is_file():
                save_run(model, results, target.with_suffix(""))
    table = summarise(runs)
    for dataset, models in trained.items():
        measured = _inference_ratios(models, dataset, timing, device)
        timing["ratios"][dataset] = measured["ratios"]
        for kind, speed in measured["images_per_second"].items():
            table[dataset][kind]["inference_images_per_second"] = speed
    return _report_outputs(preset, spec, seed, Path(out_dir), runs, table, timing, steps)


def _report_outputs(
    preset: str, spec: dict, seed: int, out_dir: Path, runs: list, table: dict, timing: dict, steps: int
) -> dict[str, Any]:
    """Plot, `classifiers.json` and the report's result dict of `section_experiment`."""
    image = "classifiers_accuracy_vs_flops.png"
    plot_comparison(table, out_dir / image, title=f"Image classifiers ({preset} preset, seed {seed})")
    write_json({"preset": preset, "note": spec["note"], "runs": runs, "timing": timing}, out_dir / "classifiers.json")
    results = {
        dataset: {kind: {key: row[key] for key in REPORT_KEYS} for kind, row in by_model.items()}
        for dataset, by_model in table.items()
    }
    images = runs[0]["train_examples"] if runs else 0
    budget = {
        "work": f"{len(runs)} runs x {spec['epochs']} epoch(s) x {images:,} training images",
        "unit": "steps",
        "planned": steps,
        "done": steps,
        "images": images,
        "stopped": None,
    }
    return {"images": [image], "preset_note": spec["note"], "budget": budget, "results": results, "timing": timing}


def accuracy_targets() -> dict[str, dict[str, float]]:
    """The accuracy each model should reach within 3 epochs: {dataset: {model: minimum test accuracy}}."""
    return {"mnist": {"cnn": 0.990, "gru": 0.980}, "fashion-mnist": {"cnn": 0.910, "gru": 0.880}}


def target_lines(table: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One line per `accuracy_targets` entry the table holds: every seed's accuracy and whether it met it."""
    lines = []
    for dataset, by_model in accuracy_targets().items():
        for kind, target in by_model.items():
            row = table.get(dataset, {}).get(kind)
            if row is None:
                continue
            accs = row["accuracy_per_seed"]
            per_seed = ", ".join(f"{100 * a:.2f}" for a in accs)
            verdict = "met" if min(accs) >= target else "NOT met"
            lines.append(
                f"target {kind} {dataset} >= {100 * target:.1f}% within 3 epochs: seeds {row['seeds']} -> "
                f"{per_seed}% ({row['epochs']} epochs, {row['train_examples']} images): {verdict}"
            )
    return lines
