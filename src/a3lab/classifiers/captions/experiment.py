"""Problem 1, captions: is an RNN "ideal to understand what is happening in an image, e.g. to caption it"?

Legend: N strips, B batch, L items per strip, W = 28 L.

Every model of `captions.models` is trained on strips of 1..4 items (one length per step, drawn uniformly)
for a fixed number of steps, then tested on fresh strips of the test split with 1..8 items: exact-caption
accuracy and word error rate per length, summarised over the seen lengths 1..4 and the unseen 5..8.

`captions.folder` writes the run folder of every model trained here and reads it back to caption a user's
strips.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a3lab.catalog import DATASETS
from a3lab.classifiers.captions.config import (
    MODELS,
    PRESETS,
    RECURRENT,
    SEEN,
    UNSEEN,
    CaptionConfig,
)
from a3lab.classifiers.captions.data import caption, caption_metrics, strip_sets
from a3lab.classifiers.captions.models import StripEncoder, build_caption_model
from a3lab.classifiers.fit import fit, fit_steps
from a3lab.errors import UserError
from a3lab.section import budget
from a3lab.utils import resolve_device, save_figure, seed_everything, write_json


def pretrain_encoder(dataset: str, config: CaptionConfig, device: torch.device) -> tuple[StripEncoder, float]:
    """The shared encoder, trained to classify single items (a strip of one); returns it and its test accuracy.

    Every caption model starts from it, so the comparison is about how each model turns columns into words,
    not about who learns to recognise items fastest.
    """
    from a3lab.data import load_images

    seed_everything(config.seed)
    encoder = StripEncoder(config.model)
    net = nn.Sequential(encoder, nn.Flatten(), nn.Linear(7 * config.model.feature_dim, 10)).to(device)
    images, labels = load_images(dataset, train=True)
    fit(net, images.unsqueeze(1), labels, config.pretrain_steps, 128, config.lr, config.seed, f"{dataset} encoder")
    test_images, test_labels = load_images(dataset, train=False)
    with torch.inference_mode():
        net.eval()
        logits = torch.cat([net(x.to(device).unsqueeze(1).float() / 255.0) for x in test_images.split(1000)])
        acc = (logits.argmax(1).cpu() == test_labels).float().mean().item()
    return encoder.cpu(), acc


def fit_captioner(
    model: nn.Module, train: dict[int, tuple[torch.Tensor, torch.Tensor]], config: CaptionConfig, desc: str = ""
) -> dict[str, Any]:
    """AdamW on the model's own loss, one strip length per step; losses stay on the device until the end.

    Returns {"steps", "steps_planned", "final_loss" (mean of the last 10% of steps), "train_seconds",
    "train_cpu_seconds" (this process's CPU time: the work, nearly independent of other load)}.
    """
    g = torch.Generator().manual_seed(config.seed)
    lengths = sorted(train)

    def step_loss(device: torch.device) -> torch.Tensor:
        strips, classes = train[lengths[int(torch.randint(0, len(lengths), (1,), generator=g))]]
        idx = torch.randint(0, len(strips), (config.batch_size,), generator=g)
        x = strips[idx].to(device).unsqueeze(1).float().div_(255.0)  # (B, 1, 28, W)
        return model.loss(x, classes[idx].to(device))

    return fit_steps(model, step_loss, config.steps, config.lr, desc)


@torch.inference_mode()
def predict_strips(model: nn.Module, strips: torch.Tensor, batch_size: int = 250, **kw) -> list[list[int]]:
    """Captions (class lists) of uint8 strips `[N, 28, W]`, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    out: list[list[int]] = []
    for start in range(0, len(strips), batch_size):
        x = strips[start : start + batch_size].to(device).unsqueeze(1).float().div_(255.0)
        out += model.predict(x, **kw)
    return out


def evaluate_captioner(model: nn.Module, tests: dict[int, tuple], **kw) -> dict[str, Any]:
    """Exact accuracy and WER per length, and their means over seen (1..4) and unseen (5..8) lengths."""
    by_length = {str(n): caption_metrics(predict_strips(model, x, **kw), y) for n, (x, y) in tests.items()}
    out: dict[str, Any] = {"by_length": by_length}
    for name, group in (("seen", SEEN), ("unseen", UNSEEN)):
        rows = [by_length[str(n)] for n in group if str(n) in by_length]
        for metric in ("exact", "wer"):
            out[f"{metric}_{name}"] = sum(r[metric] for r in rows) / len(rows) if rows else None
    return out


def run_captions(config: CaptionConfig, device: str | torch.device = "cpu") -> tuple[dict[str, Any], dict]:
    """Train and test every model. Returns (results, {model: trained module}).

    results: {"config", "dataset", "recurrent", "encoder_accuracy", "models": {model: {"exact_seen",
    "exact_unseen", "wer_seen", "wer_unseen", "by_length": {str(L): {"exact", "wer"}}, "params", "steps",
    "steps_planned", "final_loss", "train_seconds", "train_cpu_seconds"}}}, "examples"; the models include
    "show_tell_greedy" (the show_tell weights decoded greedily) when show_tell ran.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    train = strip_sets(config.dataset, True, SEEN, config.train_per_length, config.seed)
    tests = strip_sets(config.dataset, False, SEEN + UNSEEN, config.test_per_length, config.seed)
    encoder, encoder_acc = pretrain_encoder(config.dataset, config, device)
    results: dict[str, Any] = {"config": asdict(config), "dataset": config.dataset, "recurrent": list(RECURRENT)}
    results["encoder_accuracy"], results["models"], trained = encoder_acc, {}, {}
    for kind in config.models:
        seed_everything(config.seed)
        model = build_caption_model(kind, config.model)
        model.encoder.load_state_dict(encoder.state_dict())
        model.to(device)
        details = fit_captioner(model, train, config, desc=f"{config.dataset} {kind}")
        details["params"] = sum(p.numel() for p in model.parameters())
        results["models"][kind] = {**evaluate_captioner(model, tests), **details}
        if kind == "show_tell":
            results["models"]["show_tell_greedy"] = {**evaluate_captioner(model, tests, beam_size=1), **details}
        trained[kind] = model
    results["examples"] = _examples(trained, tests, config.dataset)
    return results, trained


def _examples(trained: dict[str, nn.Module], tests: dict[int, tuple], dataset: str) -> list[dict[str, Any]]:
    """One test strip of each of a few lengths, its true caption and each model's."""
    rows = []
    for n in (2, 4, 6, 8):
        if n not in tests:
            continue
        strips, classes = tests[n]
        row = {"length": n, "truth": caption(classes[0], dataset), "captions": {}}
        for kind, model in trained.items():
            row["captions"][kind] = caption(predict_strips(model, strips[:1])[0], dataset)
        rows.append(row)
    return rows


def best_model(results: dict[str, Any]) -> str:
    """The trained model with the highest exact accuracy on seen lengths (unseen lengths break ties)."""
    models = {k: v for k, v in results["models"].items() if k in MODELS}
    return max(models, key=lambda k: (models[k]["exact_seen"], models[k]["exact_unseen"] or 0.0))


# ----------------------------------------------------------------------------- the run folder


# ----------------------------------------------------------------------------- tables and figures


def format_table(results: dict[str, Any]) -> str:
    """Exact-caption accuracy (%) per length, seen / unseen means and WER, one row per model."""
    lengths = [str(n) for n in SEEN + UNSEEN]
    head = f"  {'model':<17}" + "".join(f"{'L=' + n:>7}" for n in lengths)
    lines = [
        f"{results['dataset']}: exact-caption accuracy (%), trained on 1..4 items",
        head + "   1..4   5..8  WER 1..4 WER 5..8",
    ]
    for kind, r in results["models"].items():
        cells = "".join(f"{100 * r['by_length'][n]['exact']:>7.1f}" for n in lengths if n in r["by_length"])
        means = f"{100 * r['exact_seen']:>7.1f}{100 * (r['exact_unseen'] or 0):>7.1f}"
        wers = f"{100 * r['wer_seen']:>9.1f}{100 * (r['wer_unseen'] or 0):>9.1f}"
        lines.append(f"  {kind:<17}{cells}{means}{wers}")
    return "\n".join(lines)


def plot_examples(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Example test strips (redrawn from the results' seeds) with the true caption and each model's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = results["config"]
    rows = results["examples"]
    tests = strip_sets(
        results["dataset"], False, tuple(r["length"] for r in rows), config["test_per_length"], config["seed"]
    )
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.9 * len(rows)), squeeze=False, constrained_layout=True)
    for ax, row in zip(axes[:, 0], rows):
        ax.imshow(tests[row["length"]][0][0].numpy(), cmap="gray")
        text = [f"truth: {row['truth']}"] + [f"{k}: {c}" for k, c in row["captions"].items()]
        ax.set_title("\n".join(text), fontsize=7, loc="left")
        ax.set_axis_off()
    fig.suptitle(f"{results['dataset']}: example test strips and captions")
    return save_figure(fig, path)


def section_experiment(
    preset: str, out_dir: str | os.PathLike, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Any]:
    """Problem 1 (captions) for the report: every model on MNIST and Fashion-MNIST strips.

    Writes `captions_<dataset>.json` and `captions_examples_<dataset>.png` into `out_dir`. Returns {"images",
    "preset_note", "budget", "recurrent", "encoder_accuracy": {dataset: single-item test accuracy},
    "datasets": {dataset: {model: {"exact_seen", "exact_unseen", "wer_seen", "wer_unseen", "by_length",
    "params", "steps", "steps_planned"}}}}.
    """
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    out_dir = Path(out_dir)
    images, datasets, encoder_accuracy = [], {}, {}
    for dataset in DATASETS:
        config = CaptionConfig(dataset=dataset, seed=seed, **PRESETS[preset])
        results, _ = run_captions(config, device)
        write_json(results, out_dir / f"captions_{dataset}.json")
        image = f"captions_examples_{dataset}.png"
        plot_examples(results, out_dir / image)
        images.append(image)
        keys = ("exact_seen", "exact_unseen", "wer_seen", "wer_unseen", "by_length", "params", "steps", "steps_planned")
        datasets[dataset] = {k: {f: r[f] for f in keys} for k, r in results["models"].items()}
        encoder_accuracy[dataset] = results["encoder_accuracy"]
    runs = [r for models in datasets.values() for k, r in models.items() if k in MODELS]
    work = budget(
        f"per data set: encoder {config.pretrain_steps:,} steps, then {len(config.models)} models x "
        f"{config.steps:,} steps of {config.batch_size} strips",
        "steps",
        planned=2 * config.pretrain_steps + sum(r["steps_planned"] for r in runs),
        done=2 * config.pretrain_steps + sum(r["steps"] for r in runs),
        images=2 * len(SEEN) * config.train_per_length,
    )
    note = (
        f"{preset} preset, per data set and model: {config.steps} AdamW steps of {config.batch_size} strips of "
        f"1..4 items ({config.train_per_length} training strips per length); {config.test_per_length} test "
        "strips per length 1..8"
    )
    return {
        "images": images,
        "preset_note": note,
        "budget": work,
        "recurrent": list(RECURRENT),
        "encoder_accuracy": encoder_accuracy,
        "datasets": datasets,
    }
