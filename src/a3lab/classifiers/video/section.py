"""The report's video section: its result type, its renderer and its run function (which imports the
experiment inside its body, so this module imports no torch and stays out of the section's cache key)."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from a3lab.blocks import Block, pct, table_block
from a3lab.section import Budget, Section


class ClipsPerSecond(TypedDict):
    median: float
    min: float
    max: float


class VideoDetails(TypedDict):
    params: int
    flops_per_clip: int
    clips_per_second: ClipsPerSecond
    steps: int
    steps_planned: int
    final_loss: float
    train_seconds: float
    train_cpu_seconds: float


class VideoTaskResult(TypedDict):
    classes: int
    order_blind_ceiling: float
    chance: float
    models: dict[str, dict[str, float]]
    """{model: {str(frames): accuracy}}"""
    details: dict[str, VideoDetails]


class VideoResult(TypedDict):
    images: list[str]
    preset_note: str
    budget: Budget
    frame_cnn_accuracy: float
    recurrent: list[str]
    order_tasks: list[str]
    length: int
    lengths: list[int]
    tasks: dict[str, VideoTaskResult]


def run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    from a3lab.classifiers.video.experiment import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render(r: dict) -> list[Block]:
    lengths = [str(n) for n in r["lengths"]]
    blocks: list[Block] = [("p", f"Frame CNN on single test items: {pct(r['frame_cnn_accuracy'])}.")]
    for task, t in r["tasks"].items():
        kind = "order-dependent" if task in r["order_tasks"] else "order-blind control"
        blocks.append(
            (
                "p",
                f"Task '{task}' ({kind}): trained on {r['length']} frames; chance {pct(t['chance'])}, "
                f"order-blind ceiling {pct(t['order_blind_ceiling'])}.",
            )
        )
        rows = []
        for m, accs in t["models"].items():
            d = t["details"][m]
            speed = d["clips_per_second"]
            rows.append(
                [m, *(pct(accs[n]) for n in lengths), d["params"], round(d["flops_per_clip"] / 1e6, 2),
                 round(speed["median"]), f"{speed['min']:.0f}..{speed['max']:.0f}"]
            )  # fmt: skip
        headers = ["model", *(f"{n} frames" for n in lengths), "params", "MFLOP/clip", "clips/s", "clips/s range"]
        blocks.append(table_block(headers, rows))
    return blocks


VIDEO = Section(
    name="video",
    title="Video clips",
    run=run,
    render=render,
    result=VideoResult,
    timing_keys=frozenset({"clips_per_second", "train_seconds", "train_cpu_seconds"}),
    cost=3.0,
)
