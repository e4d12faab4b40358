"""Problem 1 measuring and training: parameters, FLOPs, accuracy, `train_classifier`, saving and loading,
and the domain CNN (the GAN metrics' feature extractor)."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.classifiers.config import TrainConfig
from a3lab.classifiers.models import (
    CNN,
    IMAGE_SIZE,
    MODEL_KINDS,
    Classifier,
    _check_dataset,
    _config_from_dict,
    build_model,
    make_config,
)
from a3lab.data import ImageBatches, load_images
from a3lab.errors import CheckpointError, TrainingDiverged, UserError
from a3lab.utils import (
    atomic_torch_save,
    atomic_write_bytes,
    cache_dir,
    load_checkpoint,
    progress,
    resolve_device,
    write_json,
)

# ----------------------------------------------------------------------------- measuring


def count_parameters(model: nn.Module) -> int:
    """Trainable and frozen parameters (buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, example_shape: Sequence[int] = (1, IMAGE_SIZE, IMAGE_SIZE)) -> int:
    """Forward FLOPs for one example, counted by `torch.utils.flop_counter.FlopCounterMode`.

    The counter sees matrix products and convolutions (2 FLOPs per multiply-add); elementwise work,
    pooling and normalisation are not counted. oneDNN is switched off while counting because its fused
    LSTM kernel hides the matrix products from the counter (the GRU and LSTM then run as plain addmm).
    The model is run in eval mode on one zero example; its training mode is restored afterwards.

    Shapes: `example_shape` is one example without the batch dimension, e.g. `(1, 28, 28)`.
    """
    from torch.utils.flop_counter import FlopCounterMode

    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros((1, *example_shape), device=device)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # oneDNN's "TF32 not available" notice
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as fc:
                model(x)
    finally:
        model.train(was_training)
    return int(fc.get_total_flops())


@torch.inference_mode()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000, device: str = "cpu"
) -> dict[str, float]:
    """Test accuracy, mean cross-entropy and inference throughput over a whole split (eval mode).

    Shapes: images uint8 `[N, 28, 28]`, labels int64 `[N]`.

    Returns:
        {"accuracy": share correct, "loss": mean cross-entropy, "seconds": wall time of the pass,
        "images_per_second": N / seconds}.
    """
    was_training = model.training
    model.eval()
    batches = ImageBatches(images, labels, batch_size=batch_size, shuffle=False, scale="unit", device=device)
    correct, loss_sum = 0, 0.0
    t0 = time.perf_counter()
    for x, y in batches:
        logits = model(x)  # (B, K)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum())
    seconds = time.perf_counter() - t0
    model.train(was_training)
    n = len(labels)
    return {"accuracy": correct / n, "loss": loss_sum / n, "seconds": seconds, "images_per_second": n / seconds}


# ----------------------------------------------------------------------------- training


def _subset(images: torch.Tensor, labels: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n == len(labels):
        return images, labels
    if n > len(labels):
        raise UserError(f"`train_examples` must be <= {len(labels)} (the training split), got {n}")
    idx = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], labels[idx]


FINITE_CHECK_EVERY = 50
"""Steps between checks that the loss is finite: each check waits for the device, so not every step."""


def _train_epoch(model, batches, opt, sched, config: TrainConfig, epoch: int, bar) -> dict[str, float]:
    """One pass over `batches`; returns the epoch's train loss, accuracy and seconds.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (checked every `FINITE_CHECK_EVERY` steps and at the end).
    """
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(batches, 1):
        logits = model(x)  # (B, K)
        loss = F.cross_entropy(logits, y)
        finite &= torch.isfinite(loss)
        if (step % FINITE_CHECK_EVERY == 0 or step == len(batches)) and not finite:
            raise TrainingDiverged(
                f"{config.model} on {config.dataset}: the loss became {loss.item()} in epoch {epoch + 1}; "
                "try a smaller lr"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        sched.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        bar.update(1)
    n = len(batches.labels)
    return {
        "epoch": epoch + 1,
        "train_loss": loss_sum.item() / n,
        "train_accuracy": correct.item() / n,
        "seconds": time.perf_counter() - t0,
    }


def train_classifier(
    config: TrainConfig,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress_bar: bool = True,
) -> tuple[Classifier, dict[str, Any]]:
    """Train one classifier on the in-memory batches, then evaluate it on the test split.

    AdamW with a one-cycle learning-rate schedule, cross-entropy loss, gradient clipping. Deterministic on
    CPU for a given `config.seed` (same threads, same machine).

    Returns:
        the trained model (eval mode) and its results: "dataset", "model", "accuracy" (test, 0..1),
        "test_loss", "params", "flops_per_image", "train_seconds_per_epoch", "inference_images_per_second",
        "epochs", "train_examples", "seed", "history" (per epoch: train loss and accuracy, seconds),
        "train_config", "model_config", "device", "threads".

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    from a3lab.utils import seed_everything

    device = resolve_device(device) if isinstance(device, str) else device
    seed_everything(config.seed)
    images, labels = load_images(config.dataset, train=True, root=root)
    images, labels = _subset(images, labels, config.train_examples, config.seed)
    test_images, test_labels = load_images(config.dataset, train=False, root=root)

    model_config = make_config(config.model, config.dataset, **config.model_overrides)
    model = build_model(model_config).to(device)
    batches = ImageBatches(images, labels, batch_size=config.batch_size, shuffle=True, seed=config.seed, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * len(batches)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total_steps, pct_start=0.2)

    history: list[dict[str, float]] = []
    bar = progress(total=total_steps, desc=f"{config.dataset} {config.model}", disable=None if progress_bar else True)
    model.train()
    for epoch in range(config.epochs):
        history.append(_train_epoch(model, batches, opt, sched, config, epoch, bar))
    bar.close()
    model.eval()
    test = evaluate(model, test_images, test_labels, device=device)
    return model, _record(config, model, model_config, history, test, len(labels), device)


def _record(
    config: TrainConfig, model: Classifier, model_config: Any, history: list, test: dict, n: int, device
) -> dict:
    """The results of `train_classifier`: test scores, counts, timings and the configs."""
    return {
        "dataset": config.dataset,
        "model": config.model,
        "accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "params": count_parameters(model),
        "flops_per_image": count_flops(model),
        "train_seconds_per_epoch": sum(h["seconds"] for h in history) / config.epochs,
        "inference_images_per_second": test["images_per_second"],
        "epochs": config.epochs,
        "train_examples": n,
        "seed": config.seed,
        "history": history,
        "train_config": asdict(config),
        "model_config": asdict(model_config),
        "device": str(device),
        "threads": torch.get_num_threads(),
    }


# ----------------------------------------------------------------------------- saving and loading


def _kind_of(model: nn.Module) -> str:
    kind = getattr(model, "kind", None)
    if kind not in MODEL_KINDS:
        raise TypeError(f"not an a3lab classifier: {type(model).__name__}")
    return kind


def save_classifier(model: Classifier, path: str | os.PathLike) -> Path:
    """Save weights and config atomically: safetensors (config in its metadata) for `.safetensors`, else torch.save.

    Loading never runs pickled code: safetensors holds only tensors, and the torch.save format is read back
    with `weights_only=True`.
    """
    path = Path(path)
    kind = _kind_of(model)
    config = asdict(model.config)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        metadata = {"a3lab_kind": kind, "a3lab_config": json.dumps(config)}
        return atomic_write_bytes(save(state, metadata=metadata), path)
    return atomic_torch_save({"kind": kind, "config": config, "state_dict": state}, path)


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Load a classifier written by `save_classifier`, in eval mode.

    Raises:
        CheckpointError: the file is missing, corrupt, or does not match the model it names.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
            kind, config = metadata["a3lab_kind"], json.loads(metadata["a3lab_config"])
        except Exception as e:  # safetensors raises SafetensorError, OSError, KeyError ... on bad files
            raise CheckpointError(f"cannot load classifier {path}: {type(e).__name__}: {e}") from None
    else:
        blob = load_checkpoint(path)
        if not isinstance(blob, dict) or not {"kind", "config", "state_dict"} <= set(blob):
            raise CheckpointError(f"{path} is not an a3lab classifier checkpoint")
        kind, config, state = blob["kind"], blob["config"], blob["state_dict"]
    try:
        model = build_model(_config_from_dict(kind, config))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: bad classifier config: {e}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the {kind} config: {first}") from None
    return model.to(device).eval()


def checkpoint_dataset(path: str | os.PathLike) -> str:
    """The data set a checkpoint of `save_run` was trained on, read from the JSON beside it.

    Raises:
        UserError: there is no such JSON.
    """
    record = Path(path).with_suffix(".json")
    if not record.is_file():
        raise UserError(f"`dataset` is needed: no results file {record} beside the checkpoint")
    return json.loads(record.read_text())["dataset"]


def save_run(model: Classifier, results: dict[str, Any], stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write `<stem>.safetensors` (weights) and `<stem>.json` (config and results) beside it."""
    stem = Path(stem)
    weights = save_classifier(model, stem.with_name(stem.name + ".safetensors"))
    record = write_json(results, stem.with_name(stem.name + ".json"))
    return weights, record


# ----------------------------------------------------------------------------- domain feature extractor


def classifier_cache_dir() -> Path:
    """`$A3LAB_HOME/classifiers` when A3LAB_HOME is set, else `~/.cache/a3lab/classifiers`."""
    return cache_dir("classifiers")


def domain_cnn_path(dataset: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where `domain_cnn` keeps the weights: `<cache_dir>/<dataset>-cnn.safetensors`."""
    base = Path(cache_dir) if cache_dir is not None else classifier_cache_dir()
    return base / f"{_check_dataset(dataset)}-cnn.safetensors"


def domain_cnn(
    dataset: str,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    train_if_missing: bool = True,
    seed: int = 0,
) -> CNN:
    """The trained CNN of a data set, in eval mode: the domain feature extractor for FID/KID.

    Input: float images `[B, 1, 28, 28]` in [0, 1] (the model standardises them itself). Use
    `model.features(x) -> [B, model.num_features]` for the penultimate features, `model(x)` for logits.

    The weights are read from `<cache_dir>/<dataset>-cnn.safetensors` (config and results in
    `<dataset>-cnn.json` beside it); `cache_dir` defaults to `$A3LAB_HOME/classifiers`, else
    `~/.cache/a3lab/classifiers`. When the file is missing and `train_if_missing`, the CNN is trained
    (3 epochs, full training split, progress bar, data from `root` / A3LAB_DATA) and saved atomically.

    Raises:
        CheckpointError: the file is missing and `train_if_missing` is False, or it is corrupt.
    """
    path = domain_cnn_path(dataset, cache_dir)
    device = resolve_device(device) if isinstance(device, str) else device
    if not path.is_file():
        if not train_if_missing:
            raise CheckpointError(
                f"no trained CNN for {dataset} at {path}; run `a3lab classify train --dataset {dataset} --model cnn "
                "--install` or call domain_cnn(..., train_if_missing=True)"
            )
        model, results = train_classifier(TrainConfig(dataset=dataset, model="cnn", epochs=3, seed=seed), root, device)
        save_run(model, results, path.with_suffix(""))
    model = load_classifier(path, device)
    if not isinstance(model, CNN):
        raise CheckpointError(f"{path} holds a {model.kind}, not a CNN")
    return model


def test_checkpoint(path: str | os.PathLike, dataset: str | None = None, device: str = "cpu") -> str:
    """Test a classifier saved by `save_run` on the test split of `dataset` (None: the one it was trained on);
    the result in one line."""
    dataset = dataset or checkpoint_dataset(path)
    device = resolve_device(device)
    model = load_classifier(path, device)
    images, labels = load_images(dataset, train=False)
    test = evaluate(model, images, labels, device=device)
    return (
        f"{model.kind} on {dataset} test split ({len(labels)} images): accuracy {100 * test['accuracy']:.2f}%, "
        f"loss {test['loss']:.4f}, {test['images_per_second']:,.0f} images/s"
    )
