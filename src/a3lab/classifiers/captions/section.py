"""The report's captions section: its result type, its renderer and its run function (which imports the
experiment inside its body, so this module imports no torch and stays out of the section's cache key)."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from a3lab.blocks import Block, pct, table_block
from a3lab.section import Budget, Section


class LengthScores(TypedDict):
    exact: float
    wer: float


class CaptionScores(TypedDict):
    exact_seen: float
    exact_unseen: float | None
    wer_seen: float
    wer_unseen: float | None
    by_length: dict[str, LengthScores]
    """{str(items per strip): scores}"""
    params: int
    steps: int
    steps_planned: int


class CaptionsResult(TypedDict):
    images: list[str]
    preset_note: str
    budget: Budget
    recurrent: list[str]
    encoder_accuracy: dict[str, float]
    """{dataset: single-item test accuracy of the shared encoder}"""
    datasets: dict[str, dict[str, CaptionScores]]
    """{dataset: {model: scores}}; "show_tell_greedy" is show_tell's weights decoded greedily"""


def run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    from a3lab.classifiers.captions.experiment import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render(r: dict) -> list[Block]:
    blocks: list[Block] = []
    for ds, models in r["datasets"].items():
        lengths = [str(n) for n in range(1, 9)]
        blocks.append(
            ("p", f"{ds}: exact-caption accuracy by number of items (trained on 1..4); encoder on single items "
                  f"{pct(r['encoder_accuracy'][ds])}.")
        )  # fmt: skip
        rows = [
            [m, *(pct(v["by_length"][n]["exact"]) for n in lengths), pct(v["exact_seen"]), pct(v["exact_unseen"]),
             pct(v["wer_seen"]), pct(v["wer_unseen"]), v["params"]]
            for m, v in models.items()
        ]  # fmt: skip
        headers = ["model", *(f"L={n}" for n in lengths), "1..4", "5..8", "WER 1..4", "WER 5..8", "params"]
        blocks.append(table_block(headers, rows))
    return blocks


CAPTIONS = Section(
    name="captions",
    title="Image captions",
    run=run,
    render=render,
    result=CaptionsResult,
    cost=4.0,
)
