"""Problem 3's learning experiments for the report: pixel sequences, the long-range task, Linformer's error."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from a3lab.attention.linformer_error import linformer_error
from a3lab.attention.task_config import (
    PIXEL_KINDS,
    PRESETS,
    TASK_DATASET,
    LinformerErrorConfig,
    Preset,
    TrainConfig,
)
from a3lab.attention.tasks import RESULT_HEADER, result_line, sample_tokens, save_model, train_model
from a3lab.errors import UserError
from a3lab.section import Budget, budget
from a3lab.utils import progress, save_figure, write_json


def train_kinds(task: str, configs: list[TrainConfig], out: Path | None = None) -> dict[str, dict]:
    """Train one model per config in turn (`a3lab attention train`), printing a result line each; with `out`,
    save each model as `<task>_<kind>.pt` and every result in `results.json`. Returns the results by kind."""
    results = {}
    print(RESULT_HEADER)
    for config in configs:
        model, result = train_model(config)
        results[config.kind] = result
        print(result_line(config.kind, result), flush=True)
        if out is not None:
            save_model(model, out / f"{task}_{config.kind}.pt", config)
    if out is not None:
        write_json({"task": task, "results": results}, out / "results.json")
    return results


# ----------------------------------------------------------------------------------------------------------------
# plots


def plot_pixel(pixel: dict, path: Path) -> Path:
    """Bar chart of test accuracy per attention kind, one group per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(pixel)
    kinds = list(next(iter(pixel.values())))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        xs = [j + (i - (len(kinds) - 1) / 2) * width for j in range(len(datasets))]
        accs = [100 * pixel[d][kind]["accuracy"] for d in datasets]
        bars = ax.bar(xs, accs, width, label=kind)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("test accuracy (%)")
    steps = next(iter(next(iter(pixel.values())).values()))["steps"]
    ax.set_title(f"784-pixel sequences, equal budget ({steps} steps)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_long_range(long_range: dict, path: Path) -> Path:
    """Bar chart of long-range accuracy per kind, with chance marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = long_range["results"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bars = ax.bar(list(res), [100 * a for a in res.values()], color="tab:blue")
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.axhline(100 * long_range["chance"], color="k", ls="--", lw=1, label="chance")
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        f"first == last token? N={long_range['length']}, {long_range['layers']} layers, window {long_range['window']}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_linformer_error(err: dict, path: Path) -> Path:
    """Relative error against K (log-log), random and trained-activation inputs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    # K = N is exact for pooling (error 0): a log axis cannot show 0, so those points are left out
    for name, style in (("random", "o-"), ("trained", "s-")):
        if err.get(name) is None:
            continue
        pts = [(k, e) for k, e in zip(err["k"], err[name]) if e > 0]
        if pts:
            ax.plot(*zip(*pts), style, label=f"{name} q, k, v")
    exact = sorted({k for name in ("random", "trained") for k, e in zip(err["k"], err.get(name) or []) if e == 0})
    if exact:
        note = f"K = {', '.join(map(str, exact))}: error exactly 0 (not drawn)"
        ax.text(0.02, 0.03, note, transform=ax.transAxes, fontsize=7, color="0.3")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("Linformer rank K")
    ax.set_ylabel("||lin - full|| / ||full||")
    ax.set_title(f"Linformer error vs K ({err.get('projection', 'pool')} projection, N={err.get('seq_len')})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------------------------
# the report's experiment


def _train_runs(p: Preset, runs: list[tuple[str, str, str]], seed: int, device: str) -> tuple:
    """Train every run of a preset: (pixel results, long-range accuracies, every run's record, the trained
    full-attention MNIST model)."""
    pixel: dict = {TASK_DATASET[t]: {} for t in ("pixel-mnist", "pixel-fashion-mnist")}
    long_results: dict = {}
    details: dict = {}
    trained_full = None
    for section, task, kind in progress(runs, desc="attention tasks"):
        if section == "pixel":
            cfg = TrainConfig.create(
                task=task, kind=kind, steps=p.pixel_steps, batch_size=p.batch_size,
                train_examples=p.pixel_train_examples, test_examples=p.pixel_test_examples,
                seed=seed, device=device, **p.pixel,
            )  # fmt: skip
        else:
            cfg = TrainConfig.create(
                task=task, kind=kind, steps=p.long_range_steps, batch_size=p.long_range_batch_size,
                test_examples=p.long_range_test_examples, seed=seed, device=device, **p.long_range,
            )  # fmt: skip
        model, result = train_model(cfg)
        details[f"{task}/{kind}"] = result
        if section == "pixel":
            pixel[TASK_DATASET[task]][kind] = {
                key: result[key] for key in ("accuracy", "seconds_per_epoch", "steps", "train_examples")
            }
            if task == "pixel-mnist" and kind == "full":
                trained_full = model
        else:
            long_results[kind] = result["accuracy"]
    return pixel, long_results, details, trained_full


def _budget(p: Preset, runs: list[tuple[str, str, str]]) -> Budget:
    """The work of a preset's runs, for the report (no time limit: done is what was planned)."""
    steps = sum(p.pixel_steps if section == "pixel" else p.long_range_steps for section, _, _ in runs)
    return budget(
        f"{len(runs)} runs: {p.pixel_steps} pixel steps of {p.batch_size}, {p.long_range_steps} long-range "
        f"steps of {p.long_range_batch_size}",
        "steps",
        planned=steps,
        done=steps,
        images=p.pixel_train_examples,
    )


def section_experiment(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict:
    """Problem 3's learning experiments for `a3lab report`: pixel sequences, long range, Linformer's error.

    Budgets (`PRESETS`): "quick" trains each pixel kind 40 steps of 32 on a 1,280-image subset (500 test
    images) and each long-range kind but full 40 steps of 16 (128 test sequences); "full" 200 pixel steps on
    6,400 images (2,000 test) and 40 long-range steps with full attention too. Also writes
    `attention_tasks.json` (budget, every run's config, loss history and timings) into out_dir.

    Returns:
        {"images": [PNG file names written into out_dir],
         "pixel": {dataset ("mnist", "fashion-mnist"): {kind ("full", "sliding", "sliding_global",
             "linformer"): {"accuracy": float (test), "seconds_per_epoch": float (measured training seconds
             per pass over the train_examples), "steps": int, "train_examples": int}}},
         "long_range": {"length": int, "layers": int, "window": int, "chance": float,
             "results": {kind: test accuracy} for the preset's kinds among full, sliding, sliding_global,
             sliding_dilated, linformer},
         "linformer_error": {"k": [ints], "random": [floats], "trained": [floats]}}
        The relative errors are on random Gaussian q, k, v and on the first-layer q, k, v of the trained
        full-attention MNIST model on test images, with mean-pooling projections.
        "budget": {"work", "unit": "steps", "planned", "done", "images" (pixel training images), "stopped"}.
    """
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    p = PRESETS[preset]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    runs = [("pixel", task, kind) for task in ("pixel-mnist", "pixel-fashion-mnist") for kind in PIXEL_KINDS]
    runs += [("long_range", "long-range", kind) for kind in p.long_range_kinds]
    pixel, long_results, details, trained_full = _train_runs(p, runs, seed, device)

    full_config = TrainConfig(task="pixel-mnist", seed=seed)
    tokens = sample_tokens(full_config, p.linformer_examples).to(next(trained_full.parameters()).device)
    err = linformer_error(LinformerErrorConfig(examples=p.linformer_examples, seed=seed), trained_full, tokens)

    lr = p.long_range
    long_range = {
        "length": lr["length"],
        "layers": lr["depth"],
        "window": lr["window"],
        "chance": 0.5,
        "results": long_results,
    }
    images = [
        plot_pixel(pixel, out_dir / "attention_pixel.png").name,
        plot_long_range(long_range, out_dir / "attention_long_range.png").name,
        plot_linformer_error(err, out_dir / "attention_linformer_error.png").name,
    ]
    result = {
        "images": images,
        "pixel": pixel,
        "long_range": long_range,
        "linformer_error": {"k": err["k"], "random": err["random"], "trained": err["trained"]},
        "budget": _budget(p, runs),
    }
    write_json(
        {"preset": preset, "budget": asdict(p), "summary": result, "runs": details}, out_dir / "attention_tasks.json"
    )
    return result
