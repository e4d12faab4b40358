"""The run folder of `a3lab classify captions train`, read back by `a3lab classify captions predict`.

    run.json        data set, model sizes, the best model, and for each model its weights file and the
                    exact-caption accuracy it reached on the test strips of each length
    models/<m>.pt   the weights of every trained model
    results.json    every model's results; examples.png: example strips with each model's captions

A model is asked only about strips of a length it was measured to read: `caption_file` takes the model with the
best measured accuracy at the input's length, and refuses a length that no kept model reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a3lab.classifiers.captions.config import READS, CaptionModelConfig
from a3lab.classifiers.captions.data import ITEM, caption, read_strips
from a3lab.classifiers.captions.experiment import best_model, plot_examples, predict_strips
from a3lab.classifiers.captions.models import build_caption_model
from a3lab.errors import CheckpointError, UserError
from a3lab.utils import atomic_torch_save, resolve_device, write_json

FORMAT = 2
MODELS_DIR = "models"
RETRAIN = "write a new run with `a3lab classify captions train --out NEW_FOLDER`"


def save_run(results: dict[str, Any], trained: dict[str, nn.Module], out: str | os.PathLike) -> dict[str, Path]:
    """Write every model's weights, the run's settings, every model's results and the examples figure."""
    out = Path(out)
    models = {}
    for kind, model in trained.items():
        atomic_torch_save({k: v.cpu() for k, v in model.state_dict().items()}, out / MODELS_DIR / f"{kind}.pt")
        exact = {n: r["exact"] for n, r in results["models"][kind]["by_length"].items()}
        models[kind] = {"weights": f"{MODELS_DIR}/{kind}.pt", "exact_by_length": exact}
    run = {
        "format": FORMAT,
        "dataset": results["dataset"],
        "model": best_model(results),
        "model_config": results["config"]["model"],
        "models": models,
    }
    paths = {"run": write_json(run, out / "run.json"), "weights": out / MODELS_DIR}
    paths["results"] = write_json(dict(results), out / "results.json")
    paths["examples"] = plot_examples(results, out / "examples.png")
    return paths


def read_run(folder: str | os.PathLike) -> dict[str, Any]:
    """run.json of a run folder, with "models" filled in for a folder that kept only its best model (model.pt,
    its accuracies read from results.json).

    Raises:
        CheckpointError: not a captions run folder, or run.json is damaged.
    """
    folder = Path(folder)
    run_file = folder / "run.json"
    if not run_file.is_file():
        raise CheckpointError(f"{folder}: not a captions run folder (no run.json); {RETRAIN}")
    try:
        run = json.loads(run_file.read_text())
        if "models" not in run:  # a folder that kept only its best model
            results = json.loads((folder / "results.json").read_text()) if (folder / "results.json").is_file() else {}
            by_length = results.get("models", {}).get(run["model"], {}).get("by_length", {})
            exact = {n: r["exact"] for n, r in by_length.items()}
            run["models"] = {run["model"]: {"weights": "model.pt", "exact_by_length": exact}}
        for entry in run["models"].values():
            entry["exact_by_length"] = {int(n): float(v) for n, v in entry["exact_by_length"].items()}
        CaptionModelConfig(**run["model_config"])
        if not isinstance(run["dataset"], str) or run["model"] not in run["models"]:
            raise TypeError("dataset or model")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_file}: damaged ({type(e).__name__}); {RETRAIN}") from None
    return run


def choose_model(run: dict[str, Any], length: int, min_accuracy: float = READS) -> tuple[str, float]:
    """The kept model with the best measured exact-caption accuracy on strips of `length` items, and that accuracy.

    Raises:
        UserError: no kept model reached `min_accuracy` at that length (the message names the lengths that are read).
    """
    scores = {kind: m["exact_by_length"].get(length) for kind, m in run["models"].items()}
    measured = {kind: s for kind, s in scores.items() if s is not None}
    if measured and max(measured.values()) >= min_accuracy:
        kind = max(measured, key=measured.get)
        return kind, measured[kind]
    read = sorted({n for m in run["models"].values() for n, s in m["exact_by_length"].items() if s >= min_accuracy})
    best = (
        f"best: {max(measured, key=measured.get)} at {100 * max(measured.values()):.0f}%"
        if measured
        else "never tested"
    )
    what = f"no model of this run reads strips of {length} items ({best}, `min_accuracy` {min_accuracy:g})"
    if not read:
        raise UserError(f"{what}, nor of any length; {RETRAIN} and a larger --preset")
    shorter = [n for n in read if n < length]
    limit = f"strips of at most {shorter[-1]} items" if shorter else f"strips of {', '.join(map(str, read))} items"
    raise UserError(f"{what}; it reads {limit}: cut the strips, or lower `min_accuracy` to caption them anyway")


def load_model(folder: str | os.PathLike, run: dict[str, Any], kind: str, device: torch.device) -> nn.Module:
    """Model `kind` of a run folder, in eval mode on `device`.

    Raises:
        CheckpointError: its weights file is missing, not a weights file, or holds another model's weights.
    """
    path = Path(folder) / run["models"][kind]["weights"]
    model = build_caption_model(kind, CaptionModelConfig(**run["model_config"]))
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the run folder; {RETRAIN}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged file or one holding pickled objects: each library words it its own way
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise CheckpointError(f"{path}: not a weights file of a3lab ({reason}); {RETRAIN}") from None
    _check_state(path, state, model)
    model.load_state_dict(state)
    return model.to(device).eval()


def _check_state(path: Path, state: Any, model: nn.Module) -> None:
    """One line for weights that do not fit `model` (instead of torch's listing of every key)."""
    expected = model.state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: does not hold a model's weights; {RETRAIN}")
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        example = (missing or unexpected or shapes)[0]
        raise CheckpointError(
            f"{path}: weights of another model ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(shapes)} of another shape, e.g. {example!r}); {RETRAIN}"
        )


def load_run(
    folder: str | os.PathLike, device: str | torch.device = "cpu", length: int | None = None
) -> tuple[nn.Module, str]:
    """The model of a run folder that reads strips of `length` items best (None: the run's best model), in eval
    mode, and the run's data set."""
    run = read_run(folder)
    kind = run["model"] if length is None else choose_model(run, length)[0]
    return load_model(folder, run, kind, resolve_device(device) if isinstance(device, str) else device), run["dataset"]


def caption_file(
    folder: str | os.PathLike, images_file: str, device: str | torch.device = "cpu", min_accuracy: float = READS
) -> dict[str, Any]:
    """Caption every strip of a user's .npz file (uint8 `images` `[N, 28, 28 L]`, L <= 8) with the run's model
    that reads strips of L items best (`device` "auto", "cpu", "cuda" or a torch device).

    Returns:
        {"captions": [str], "model": the model used, "length": L, "exact": its test accuracy at L}.
    """
    strips = read_strips(images_file)
    run = read_run(folder)
    length = strips.shape[2] // ITEM
    kind, exact = choose_model(run, length, min_accuracy)
    model = load_model(folder, run, kind, resolve_device(device) if isinstance(device, str) else device)
    captions = [caption(c, run["dataset"]) for c in predict_strips(model, strips)]
    return {"captions": captions, "model": kind, "length": length, "exact": exact}


def predict_captions(folder: str | os.PathLike, images_file: str, device: str | torch.device = "cpu") -> list[str]:
    """The captions of `caption_file`."""
    return caption_file(folder, images_file, device)["captions"]


def describe_choice(done: dict[str, Any]) -> str:
    """Which model `caption_file` captioned with, and how well it read strips of that length."""
    return (
        f"captioned with {done['model']}, which read {100 * done['exact']:.0f}% of the run's test strips of "
        f"{done['length']} items exactly"
    )
