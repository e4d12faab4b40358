"""The run folder of `a3lab classify sequences` and `classify video`: one experiment's JSON and its accuracy
plot, written under the folder's lock, both checked before any training."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from a3lab.classifiers.config import experiment_folder
from a3lab.runs import check_outputs, open_run
from a3lab.utils import write_json


def run_into(
    name: str, config: Any, out: str | Path, *, preset: str, device: str, threads: int | None, force: bool
) -> dict:
    """Run `a3lab.classifiers.<name>.run_<name>(config)` into `out`: print its table, write `<name>.json`
    (with the preset's name) and `<name>_accuracy_vs_length.png`."""
    area = importlib.import_module(f"a3lab.classifiers.{name}")
    record, image = Path(out) / f"{name}.json", Path(out) / f"{name}_accuracy_vs_length.png"
    with open_run(out, experiment_folder(name), reuse=True):
        check_outputs([("out", record), ("out", image)], force=force)
        result = getattr(area, f"run_{name}")(config, device, threads=threads)
        write_json({"preset": preset, **result}, record)
        print(area.format_table(result))
        print(f"wrote {record} and {getattr(area, f'plot_{name}')(result, image)}")
    return result
