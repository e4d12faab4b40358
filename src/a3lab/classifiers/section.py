"""The report's image-classifier and sequence sections: their result types, renderers and run functions
(which import the experiments inside their bodies, so this module imports no torch and stays out of the
sections' cache keys)."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from a3lab.blocks import Block, pct, spread_row, table_block
from a3lab.section import Budget, Section

# ----------------------------------------------------------------------------- images


class ImageScores(TypedDict):
    accuracy: float
    params: int
    flops_per_image: int
    train_seconds_per_epoch: float
    inference_images_per_second: float
    epochs: int
    train_examples: int


class RatioSpread(TypedDict):
    median: float
    low: float
    high: float
    rounds: int
    values: list[float]


class InferenceTiming(TypedDict):
    device: str
    threads: int
    batch_size: int
    images: int
    rounds: int
    ratios: dict[str, dict[str, RatioSpread]]
    """{dataset: {"gru"|"lstm": CNN images/s over the RNN's, per round}}"""


class ImagesResult(TypedDict):
    images: list[str]
    preset_note: str
    budget: Budget
    results: dict[str, dict[str, ImageScores]]
    """{dataset: {model: scores}}"""
    timing: InferenceTiming


def run_images(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    from a3lab.classifiers.compare import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render_images(r: dict) -> list[Block]:
    rows = []
    for ds, models in r["results"].items():
        for m, v in models.items():
            rows.append(
                [ds, m, pct(v["accuracy"]), f"{v['params']:,}", f"{v['flops_per_image'] / 1e6:.2f}",
                 round(v["train_seconds_per_epoch"], 1), round(v["inference_images_per_second"]), v.get("epochs")]
            )  # fmt: skip
    headers = [
        "data set", "model", "test accuracy", "parameters", "MFLOP/image", "train s/epoch", "inference images/s",
        "epochs",
    ]  # fmt: skip
    return [table_block(headers, rows), *render_image_timing(r)]


def render_image_timing(r: dict) -> list[Block]:
    t = r.get("timing")
    if not t:
        return []
    rows = [spread_row([ds, m], stats) for ds, by_model in t["ratios"].items() for m, stats in by_model.items()]
    return [
        (
            "p",
            f"Inference side by side: {t['rounds']} interleaved rounds, {t['threads']} thread(s), batch "
            f"{t['batch_size']}, {t['images']:,} test images a call, on {t['device']}; the ratio is formed per round.",
        ),
        table_block(["data set", "RNN", "CNN images/s / RNN images/s (median)", "lowest", "highest", "rounds"], rows),
    ]


IMAGES = Section(
    name="classifiers",
    title="Image classifiers",
    run=run_images,
    render=render_images,
    result=ImagesResult,
    timing_keys=frozenset({"timing", "train_seconds_per_epoch", "inference_images_per_second"}),
    cost=6.0,
)


# ----------------------------------------------------------------------------- sequences


class SequenceTaskResult(TypedDict):
    train_max_length: int
    lengths: list[int]
    chance: float
    models: dict[str, dict[str, float]]
    """{model: {str(length): accuracy}}; the MLP has no entry for lengths beyond its input"""


class SequencesResult(TypedDict):
    images: list[str]
    preset_note: str
    budget: Budget
    tasks: dict[str, SequenceTaskResult]


def run_sequences(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    from a3lab.classifiers.sequences import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render_sequences(r: dict) -> list[Block]:
    blocks: list[Block] = []
    for task, t in r["tasks"].items():
        lengths = [str(n) for n in t["lengths"]]
        rows = [[m] + [pct(accs[n]) if n in accs else None for n in lengths] for m, accs in t["models"].items()]
        blocks.append(
            ("p", f"Task '{task}': trained on lengths up to {t['train_max_length']}, chance {pct(t['chance'])}.")
        )
        blocks.append(table_block(["model"] + [f"length {n}" for n in lengths], rows))
    return blocks


SEQUENCES = Section(
    name="sequences",
    title="Sequence tasks",
    run=run_sequences,
    render=render_sequences,
    result=SequencesResult,
    cost=2.0,
)
