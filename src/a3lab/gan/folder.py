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
