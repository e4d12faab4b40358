"""The write-up's four GAN runs (GAN and cGAN on MNIST and Fashion-MNIST): train, evaluate, compare."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from a3lab.errors import UserError
from a3lab.gan import folder
from a3lab.gan.config import PRESETS, GANConfig, Preset, get_preset
from a3lab.gan.evaluate import evaluate_run, load_classifier, percent
from a3lab.gan.folder import run_name
from a3lab.section import Budget, budget
from a3lab.utils import atomic_copy, atomic_write_text, progress, write_json

__all__ = ["PRESETS", "Preset", "check_inputs", "comparison_markdown", "get_preset", "reproduce", "section_experiment"]


def check_inputs(preset: Preset, cache_dir: str | os.PathLike | None) -> None:
    """Before any work of `gan reproduce`: the preset's counts fit each data set's test split, and a given
    real-feature cache folder is usable."""
    from a3lab.catalog import DATASETS
    from a3lab.gan.evaluate import check_test_counts
    from a3lab.runs import check_folder

    for dataset in DATASETS:
        check_test_counts(dataset, preset.eval)
    if cache_dir is not None:
        check_folder(cache_dir, param="cache_dir")


def reproduce(
    preset: str | Preset,
    out_dir: str | os.PathLike,
    device: str = "cpu",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    resume: bool = False,
    classifier_for: Callable[[str], nn.Module] | None = None,
    progress_bar: bool = True,
    runs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train and evaluate the write-up's four runs; write `comparison.json`, `comparison.md` and the grids.

    Args:
        preset: "quick", "full" or a `Preset`.
        out_dir: one sub-folder per run (mnist-gan, ...), plus the comparison files and `<run>-grid.png`.
        device, seed: where to run, the seed of every run.
        cache_dir: real-feature cache folder (the data come from `A3LAB_DATA` or the cache, as in training).
        resume: continue runs whose folders hold a checkpoint instead of starting them afresh.
        classifier_for: dataset -> judge (default: the domain CNN, `load_classifier`).
        progress_bar: show the training progress bars.
        runs: only these runs (names as `run_name` gives them; default: all four). Two processes can share the
            work this way; a last call with `resume` over all four then reuses the finished runs.

    Returns:
        {"preset", "seed", "runs": {name: `evaluate_run`'s dict + train_seconds, epochs (done, fractional),
        epochs_planned, stopped, train_images_per_second, grid}, "images": [file names]}.
    """
    p = get_preset(preset)
    if seed < 0:
        raise UserError(f"`seed` must be >= 0, got {seed}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    eval_config = replace(p.eval, seed=seed)
    judges: dict[str, nn.Module] = {}
    results: dict[str, Any] = {}
    plan = _plan(runs)
    for dataset, conditional in progress(plan, total=len(plan), desc=f"gan reproduce ({p.name})"):
        name = run_name(dataset, conditional)
        config = p.config_for(dataset, conditional, seed)
        trained = _train_within_budget(config, out_dir / name, p.max_minutes, resume, device, progress_bar)
        if dataset not in judges:
            judges[dataset] = (classifier_for or (lambda d: load_classifier(d, device=device)))(dataset)
        result = evaluate_run(out_dir / name, eval_config, device, judges[dataset], cache_dir=cache_dir)
        # Wall time over every start of the run (a resumed, finished run reports its original time).
        result["train_seconds"] = trained["seconds"]
        result["epochs"] = round(trained["global_step"] / trained["steps_per_epoch"], 2)  # < planned on a time limit
        result["epochs_planned"] = p.epochs
        result["stopped"] = trained["stopped"]
        result["train_images_per_second"] = trained["images_per_second"]
        grid = out_dir / f"{name}-grid.png"
        if (out_dir / name / folder.GRID_LATEST).is_file():
            atomic_copy(out_dir / name / folder.GRID_LATEST, grid)
            result["grid"] = grid.name
        results[name] = result
    images = [r["grid"] for r in results.values() if r.get("grid")]
    summary = {"preset": p.name, "seed": seed, "runs": results, "images": images}
    write_json(summary, out_dir / "comparison.json")
    atomic_write_text(comparison_markdown(summary), out_dir / "comparison.md")
    return summary


def _plan(runs: Sequence[str] | None) -> list[tuple[str, bool]]:
    """(data set, conditional) of the runs to do, in the write-up's order; `runs` names a subset."""
    plan = [(d, c) for d in folder.DATASET_ORDER for c in (False, True)]
    if runs is None:
        return plan
    names = [run_name(d, c) for d, c in plan]
    unknown = sorted(set(runs) - set(names))
    if unknown or not runs:
        raise UserError(f"`runs` takes some of {', '.join(names)}; got {', '.join(unknown) or 'none'}")
    return [(d, c) for d, c in plan if run_name(d, c) in runs]


def _train_within_budget(
    config: GANConfig, run_dir: Path, max_minutes: float | None, resume: bool, device: str, progress_bar: bool
) -> dict[str, Any]:
    """Train one run of a preset, or continue it; `max_minutes` caps the run's wall time over every start.

    A resumed run that already stopped at the cap (or has used it up) is not trained further: its stored
    summary is returned, so re-running `reproduce` or the report evaluates what the preset trained.
    """
    from a3lab.gan.trainer import train

    resume = resume and (run_dir / folder.CHECKPOINT).is_file()
    previous = folder.read_summary(run_dir) if resume else None
    if previous is not None and max_minutes is not None:
        max_minutes -= previous["seconds"] / 60.0
        if previous["stopped"] == "time_limit" or max_minutes <= 0:
            return previous
    return train(config, run_dir, resume=resume, device=device, progress_bar=progress_bar, max_minutes=max_minutes)


def comparison_markdown(summary: dict[str, Any]) -> str:
    """One Markdown table of the four runs (floors beside FID and KID), the standard Inception FID beside the
    published best, then the sample grids."""
    lines = [
        f"# GAN vs conditional GAN ({summary['preset']} preset, seed {summary['seed']})",
        "",
        "FID and KID on the domain CNN's features against the test split; the floor is the same metric between",
        "real training and test images. Class entropy: log2(10) = 3.32 bits is a uniform spread over the classes.",
        "Conditional accuracy: the share of images generated for class c that the domain CNN calls c.",
        "",
        "| run | arch, loss | epochs | train s | FID (floor) | KID (floor) | precision | recall | class entropy (bits) "
        "| conditional accuracy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in summary["runs"].items():
        lines.append(
            f"| {name} | {r['arch']}, {r['loss']} | {r['epochs']} | {r['train_seconds']:.0f} "
            f"| {r['fid']:.2f} ({r['fid_floor']:.2f}) "
            f"| {r['kid']:.4f} ({r['kid_floor']:.4f}) | {r['precision']:.3f} | {r['recall']:.3f} "
            f"| {r['class_entropy_bits']:.2f} | {percent(r['conditional_accuracy'])} |"
        )
    if any(r.get("inception_fid") is not None for r in summary["runs"].values()):
        lines += ["", *inception_markdown(summary["runs"])]
    lines.append("")
    for name, r in summary["runs"].items():
        if r.get("grid"):
            lines += [f"**{name}**", "", f"![{name}]({r['grid']})", ""]
    return "\n".join(lines) + "\n"


def inception_markdown(runs: dict[str, dict[str, Any]]) -> list[str]:
    """The standard Inception FID of each run, its image count and floor, and Lucic et al. 2018's best beside it."""
    lines = [
        "Standard Inception FID (InceptionV3 pool3, generated vs test images) beside the best published for the",
        "data set (Lucic et al. 2018, non-saturating GAN, best of a large search, 10,000 vs 10,000 images).",
        "",
        "| run | Inception FID | images | floor (train vs test) | Lucic et al. 2018 best | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in runs.items():
        if r.get("inception_fid") is None:
            lines.append(
                f"| {name} | - | - | - | {r.get('inception_fid_published') or '-'} | {r.get('inception_note') or ''} |"
            )
            continue
        lines.append(
            f"| {name} | {r['inception_fid']:.2f} | {r['inception_n']} | {r['inception_fid_floor']:.2f} "
            f"| {r['inception_fid_published']} | {r['inception_note']} |"
        )
    return lines


REPORT_RUN_KEYS = (
    "dataset",
    "conditional",
    "arch",
    "loss",
    "epochs",
    "train_seconds",
    "fid",
    "kid",
    "fid_floor",
    "kid_floor",
    "precision",
    "recall",
    "class_histogram",
    "class_entropy_bits",
    "conditional_accuracy",
    "per_class_accuracy",
    "inception_fid",
    "inception_n",
    "inception_fid_floor",
    "inception_fid_published",
    "inception_note",
)


def section_experiment(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Problem 4 for `a3lab report`: the four runs trained, evaluated and compared.

    The "quick" preset trains MLP GANs (projection discriminator for the cGAN) for 2 epochs on all 60,000
    training images (at most 1.5 minutes a run) and evaluates 2,000 generated against 2,000 test images;
    "full" trains each data set's best configuration (the MLP with the hinge loss on MNIST for 40 epochs, the
    DCGAN with the non-saturating loss on Fashion-MNIST for 16) and evaluates 10,000 against the 10,000 test
    images, on the domain CNN and with the standard Inception FID.
    Runs already in out_dir are resumed (a finished one is only evaluated again), so an interrupted report
    continues where it stopped.

    Returns:
        "images": grid file names written into out_dir (`<run>-grid.png`);
        "runs": {run name (mnist-gan, mnist-cgan, fashion-mnist-gan, fashion-mnist-cgan): {
            "dataset": str, "conditional": bool, "arch": "mlp" | "dcgan", "loss": "bce" | "hinge",
            "epochs": float (epochs trained; fewer than planned when the time cap stopped the run),
            "train_seconds": float (wall clock of training, over every resume of the run),
            "fid", "kid": generated vs test on the domain CNN's features,
            "fid_floor", "kid_floor": the same between real training and test images,
            "precision", "recall": k-NN manifolds (k = 3) on the same features,
            "class_histogram": 10 floats summing to 1 (the domain CNN's calls on generated images),
            "class_entropy_bits": entropy of that histogram (uniform: 3.32),
            "conditional_accuracy": share of images made for class c called c (None for a plain GAN),
            "per_class_accuracy": 10 floats (None for a plain GAN)}}.
    """
    summary = reproduce(preset, out_dir, device=device, seed=seed, resume=True)
    runs = {name: {key: r[key] for key in REPORT_RUN_KEYS} for name, r in summary["runs"].items()}
    for name, r in summary["runs"].items():
        runs[name]["epochs_planned"] = r["epochs_planned"]
    return {"images": summary["images"], "runs": runs, "budget": _report_budget(get_preset(preset), Path(out_dir))}


def _report_budget(p: Preset, out_dir: Path) -> Budget:
    """The four runs' planned and trained steps (from each run's summary.json), for the report."""
    planned = done = 0
    stopped: dict[str, list[str]] = {}
    for name in sorted(d.name for d in out_dir.iterdir() if (d / folder.SUMMARY).is_file()):
        run = folder.read_summary(out_dir / name)
        planned += run["epochs"] * run["steps_per_epoch"]
        done += run["global_step"]
        if run["stopped"] != "completed":
            stopped.setdefault(run["stopped"].replace("_", " "), []).append(name)
    images = p.train_examples or 60_000
    return budget(
        work=f"4 runs x {p.epochs} epoch(s) of {images:,} images, batch {p.batch_size}",
        unit="steps",
        planned=planned,
        done=done,
        images=images,
        stopped="; ".join(f"the {why} ({', '.join(names)})" for why, names in stopped.items()) or None,
    )
