"""The layout of a GAN run folder and of the write-up's four runs, written down once. No torch.

A run folder (`a3lab gan train --out DIR`) holds `config.json`, `checkpoint.pt`, `history.json`,
`grid_epoch_XXX.png`, `grid_latest.png`, `losses.png`, once training stops `summary.json`, and once it is
evaluated `eval.json`. `a3lab gan reproduce` writes one run folder per run (`RUN_NAMES`) beside
`comparison.json`, `comparison.md` and `<run>-grid.png`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from a3lab.runs import Kind

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
SUMMARY = "summary.json"
HISTORY = "history.json"
LOSSES = "losses.png"
GRID_LATEST = "grid_latest.png"
EVAL_FILE = "eval.json"
RUN_FILES = (CHECKPOINT, CONFIG, SUMMARY, HISTORY, LOSSES, EVAL_FILE)
RUN_FILE_PATTERNS = ("grid_*.png",)

DATASET_ORDER = ("mnist", "fashion-mnist")
RUN_NAMES = ("mnist-gan", "mnist-cgan", "fashion-mnist-gan", "fashion-mnist-cgan")
COMPARISON = ("comparison.json", "comparison.md")

RUN = Kind("gan", "gan train", (*RUN_FILES, *RUN_FILE_PATTERNS), (CHECKPOINT, CONFIG))
"""A run folder of `a3lab gan train`."""
REPRODUCE = Kind("gan-reproduce", "gan reproduce", (*COMPARISON, "*-grid.png", *RUN_NAMES), (*COMPARISON, *RUN_NAMES))
"""The folder of `a3lab gan reproduce`: its four run folders and the comparison."""


def grid_of_epoch(epoch: int) -> str:
    """The sample grid kept for an epoch's end.

    >>> grid_of_epoch(3)
    'grid_epoch_003.png'
    """
    return f"grid_epoch_{epoch:03d}.png"


def run_name(dataset: str, conditional: bool) -> str:
    """The write-up's name of a run.

    >>> run_name("fashion-mnist", True)
    'fashion-mnist-cgan'
    """
    return f"{dataset}-{'cgan' if conditional else 'gan'}"


def remove_run_files(folder: Path) -> None:
    """Remove the files a previous run left in the folder (only a GAN run's own files)."""
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    for pattern in RUN_FILE_PATTERNS:
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The run's `summary.json` (written when training stops), or None when there is none yet."""
    path = Path(folder) / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else None


def run_dataset(folder: Path) -> str | None:
    """The data set named by the run's `config.json`, or None without one."""
    path = Path(folder) / CONFIG
    return json.loads(path.read_text()).get("dataset") if path.is_file() else None


def describe_summary(summary: dict[str, Any]) -> str:
    """What a run's summary says in one line: how it stopped, its work and speed, the last epoch's losses."""
    f = summary["final"]
    return (
        f"{summary['stopped']}: {summary['epochs_done']}/{summary['epochs']} epochs, {summary['global_step']} steps, "
        f"{summary['seconds']:.1f} s, {summary['images_per_second']:,.0f} img/s; last epoch D loss {f['d_loss']:.3f}, "
        f"G loss {f['g_loss']:.3f}, D(x) {f['d_real']:.3f}, D(G(z)) {f['d_fake']:.3f}"
    )
