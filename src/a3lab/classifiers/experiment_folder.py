"""The run folders of `a3lab classify`: `train` (weights and record per run, beside `compare`'s), and
`sequences` and `video` (one experiment's JSON and its accuracy plot), written under the folder's lock, every
output checked before any training."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from a3lab.classifiers.config import RUN_FOLDER, TrainConfig, experiment_folder
from a3lab.errors import UserError
from a3lab.runs import check_cache_dir, check_outputs, open_run
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


def train_into(config: TrainConfig, out: str | Path, *, install: bool, force: bool, device: str) -> dict:
    """Train one classifier into `out` (`<dataset>-<model>-seed<seed>.safetensors` and `.json`, shared with
    `classify compare`'s runs) and, with `install`, also where the GAN metrics look for the domain CNN. Every
    output is checked before training."""
    from a3lab.classifiers.compare import format_table, summarise
    from a3lab.classifiers.training import domain_cnn_path, save_run, train_classifier

    if install and config.model != "cnn":
        raise UserError(f"`install` needs `model` cnn (the GAN metrics' feature extractor), got {config.model}")
    stem = Path(out) / f"{config.dataset}-{config.model}-seed{config.seed}"
    installed = domain_cnn_path(config.dataset)
    stems = (stem, installed.with_suffix("")) if install else (stem,)
    if install:
        check_cache_dir(installed.parent.name)
    files = [("out", s.with_name(s.name + ext)) for s in stems for ext in (".safetensors", ".json")]
    with open_run(out, RUN_FOLDER, reuse=True):
        check_outputs(files, force=force)
        model, results = train_classifier(config, device=device)
        weights, record = save_run(model, results, stem)
        print(format_table(summarise([results])), f"wrote {weights} and {record}", sep="\n")
        if install:
            save_run(model, results, installed.with_suffix(""))
            print(f"installed as the {config.dataset} domain CNN: {installed}")
    return results
