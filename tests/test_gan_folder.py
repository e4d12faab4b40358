"""a3lab.gan.folder: a run folder's files, named once; `--force` removes only a GAN run's own files."""

from __future__ import annotations

import json
from pathlib import Path

from a3lab.gan import folder


def test_remove_run_files_keeps_the_users_files(tmp_path: Path) -> None:
    for name in (*folder.RUN_FILES, folder.GRID_LATEST, folder.grid_of_epoch(2), "notes.txt", "grid.jpg"):
        (tmp_path / name).write_text("x")
    folder.remove_run_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.jpg", "notes.txt"]


def test_summary_and_dataset_of_a_run(tmp_path: Path) -> None:
    assert folder.read_summary(tmp_path) is None and folder.run_dataset(tmp_path) is None
    (tmp_path / folder.SUMMARY).write_text(json.dumps({"stopped": "completed"}))
    (tmp_path / folder.CONFIG).write_text(json.dumps({"dataset": "fashion-mnist"}))
    assert folder.read_summary(tmp_path) == {"stopped": "completed"}
    assert folder.run_dataset(tmp_path) == "fashion-mnist"
    assert [folder.run_name(d, c) for d in folder.DATASET_ORDER for c in (False, True)] == list(folder.RUN_NAMES)
