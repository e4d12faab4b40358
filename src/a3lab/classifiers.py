"""Problem 1, images: a CNN, row-by-row GRU and LSTM, and an MLP on MNIST and Fashion-MNIST.

Legend: B batch, C channels, H = W = 28 pixels, T = 28 time steps (one image row each), F features of the
penultimate layer, K = 10 classes.

The write-up claims that a CNN identifies images better than a recurrent network, and that by reducing the
data's dimensions it needs fewer computations and less time. This module measures both: test accuracy,
parameters, forward FLOPs per image (counted by `torch.utils.flop_counter.FlopCounterMode`), training seconds
per epoch and inference images per second, for

- a LeNet-style CNN (LeCun et al., 1998, "Gradient-based learning applied to document recognition") with batch
  normalisation (Ioffe & Szegedy, 2015): conv-BN-ReLU-maxpool blocks, then a linear head;
- a GRU (Cho et al., 2014) and an LSTM (Hochreiter & Schmidhuber, 1997) reading the image row by row,
  28 steps of 28 pixels, classifying from the last hidden state;
- an MLP on the 784 flattened pixels.

Input contract, the same for every model: float images `[B, 1, 28, 28]` in [0, 1] (ImageBatches' "unit"
scale). Each model standardises them itself with the data set's pixel mean and std, held as buffers and saved
with the weights, so no caller can feed the wrong scale. Each has `forward(x) -> logits [B, K]`,
`features(x) -> [B, F]` (the penultimate activations) and `num_features = F`.

Domain feature extractor (for the GAN metrics, FID/KID): `domain_cnn(dataset)` returns the trained CNN in eval
mode. Its weights live at `<cache_dir>/<dataset>-cnn.safetensors`, its config and results at
`<cache_dir>/<dataset>-cnn.json`, where `cache_dir` is `$A3LAB_HOME/classifiers` when A3LAB_HOME is set,
else `~/.cache/a3lab/classifiers`. When the file is missing it trains the CNN (3 epochs on the full training
split) and saves it atomically first.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.data import DATASETS, PIXEL_STATS, ImageBatches, load_images
from a3lab.errors import CheckpointError, TrainingDiverged
from a3lab.utils import _atomic_write, atomic_torch_save, load_checkpoint, progress, resolve_device, write_json

ModelKind = Literal["cnn", "gru", "lstm", "mlp"]
MODEL_KINDS: tuple[str, ...] = ("cnn", "gru", "lstm", "mlp")
NUM_CLASSES = 10
IMAGE_SIZE = 28


# ----------------------------------------------------------------------------- model configs


@dataclass
class CNNConfig:
    """A small CNN: conv-BN-ReLU-maxpool blocks (each halves H and W), then dropout-linear-ReLU-linear."""

    channels: tuple[int, ...] = (16, 32)
    """output channels of each conv block"""
    kernel_size: int = 3
    """square kernel of every convolution (odd, 'same' padding)"""
    hidden_size: int = 128
    """width of the penultimate layer, the F of features()"""
    dropout: float = 0.1
    """dropout before each linear layer"""
    mean: float = PIXEL_STATS["mnist"][0]
    """pixel mean (in [0, 1] units) subtracted inside the model"""
    std: float = PIXEL_STATS["mnist"][1]
    """pixel std (in [0, 1] units) divided out inside the model"""

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if not 1 <= len(self.channels) <= 4 or min(self.channels) < 1:
            raise ValueError(
                f"--channels needs 1 to 4 positive values (28 px halve 4 times at most), got {self.channels}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"--kernel-size must be odd and >= 1, got {self.kernel_size}")
        _check_common(self.hidden_size, self.dropout, self.std)


@dataclass
class RowRNNConfig:
    """A recurrent classifier reading one image row per step: T = 28 steps of 28 pixels."""

    cell: Literal["gru", "lstm"] = "gru"
    """recurrent cell"""
    hidden_size: int = 128
    """hidden units, the F of features()"""
    num_layers: int = 1
    """stacked recurrent layers"""
    mean: float = PIXEL_STATS["mnist"][0]
    """pixel mean (in [0, 1] units) subtracted inside the model"""
    std: float = PIXEL_STATS["mnist"][1]
    """pixel std (in [0, 1] units) divided out inside the model"""

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"--model must be gru or lstm for a row RNN, got {self.cell!r}")
        if self.num_layers < 1:
            raise ValueError(f"--num-layers must be >= 1, got {self.num_layers}")
        _check_common(self.hidden_size, 0.0, self.std)


@dataclass
class MLPConfig:
    """A multilayer perceptron on the 784 flattened pixels."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    """width of each hidden layer; the last is the F of features()"""
    dropout: float = 0.2
    """dropout after each hidden layer"""
    mean: float = PIXEL_STATS["mnist"][0]
    """pixel mean (in [0, 1] units) subtracted inside the model"""
    std: float = PIXEL_STATS["mnist"][1]
    """pixel std (in [0, 1] units) divided out inside the model"""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if not self.hidden_sizes:
            raise ValueError("--hidden-sizes needs at least one layer")
        _check_common(min(self.hidden_sizes), self.dropout, self.std)


def _check_common(hidden: int, dropout: float, std: float) -> None:
    if hidden < 1:
        raise ValueError(f"--hidden-size must be >= 1, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {dropout}")
    if not std > 0:
        raise ValueError(f"pixel std must be > 0, got {std}")


# ----------------------------------------------------------------------------- models


class Standardise(nn.Module):
    """(x - mean) / std with the statistics as saved buffers; checks the image shape on the way in."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: `[B, 1, 28, 28]` -> `[B, 1, 28, 28]`."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must be [B, 1, 28, 28] in [0, 1], got shape {tuple(x.shape)}")
        return (x - self.mean) / self.std


class CNN(nn.Module):
    """The CNN classifier and domain feature extractor.

    Takes images `[B, 1, 28, 28]` in [0, 1] and standardises them internally (mean/std buffers).
    `forward` returns logits `[B, 10]`; `features` the penultimate activations `[B, F]`, F = `num_features`
    (`config.hidden_size`, 128 by default), which the GAN metrics use for FID/KID.
    """

    kind = "cnn"

    def __init__(self, config: CNNConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or CNNConfig()
        self.standardise = Standardise(c.mean, c.std)
        layers: list[nn.Module] = []
        in_channels, size = 1, IMAGE_SIZE
        for out_channels in c.channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, c.kernel_size, padding=c.kernel_size // 2, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # halves H and W: the dimension reduction the write-up credits
            ]
            in_channels, size = out_channels, size // 2
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, C * H' * W')
            nn.Dropout(c.dropout),
            nn.Linear(in_channels * size * size, c.hidden_size),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.hidden_size, NUM_CLASSES)
        self.num_features = c.hidden_size

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations. Shapes: `[B, 1, 28, 28]` -> `[B, F]`."""
        return self.head(self.blocks(self.standardise(x)))  # (B, C, 28 / 2^L, 28 / 2^L) -> (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: `[B, 1, 28, 28]` -> logits `[B, 10]`."""
        return self.classifier(self.dropout(self.features(x)))


class RowRNN(nn.Module):
    """A GRU or LSTM reading the image row by row; the last hidden state is the feature vector.

    Shapes: images `[B, 1, 28, 28]` in [0, 1] -> logits `[B, 10]`; features `[B, F]`, F = hidden size.
    """

    def __init__(self, config: RowRNNConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or RowRNNConfig()
        self.kind = c.cell
        self.standardise = Standardise(c.mean, c.std)
        rnn_class = nn.GRU if c.cell == "gru" else nn.LSTM
        self.rnn = rnn_class(IMAGE_SIZE, c.hidden_size, num_layers=c.num_layers, batch_first=True)
        self.classifier = nn.Linear(c.hidden_size, NUM_CLASSES)
        self.num_features = c.hidden_size

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden state of the top layer. Shapes: `[B, 1, 28, 28]` -> `[B, F]`."""
        rows = self.standardise(x).squeeze(1)  # (B, T=28 rows, 28 pixels)
        out, _ = self.rnn(rows)  # (B, T, F)
        return out[:, -1]  # (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: `[B, 1, 28, 28]` -> logits `[B, 10]`."""
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Linear-ReLU-dropout layers on the flattened pixels.

    Shapes: images `[B, 1, 28, 28]` in [0, 1] -> logits `[B, 10]`; features `[B, F]`, F = last hidden size.
    """

    kind = "mlp"

    def __init__(self, config: MLPConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or MLPConfig()
        self.standardise = Standardise(c.mean, c.std)
        layers: list[nn.Module] = [nn.Flatten()]  # (B, 784)
        width = IMAGE_SIZE * IMAGE_SIZE
        for hidden in c.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(c.dropout)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, NUM_CLASSES)
        self.num_features = width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: `[B, 1, 28, 28]` -> `[B, F]`."""
        return self.body(self.standardise(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes: `[B, 1, 28, 28]` -> logits `[B, 10]`."""
        return self.classifier(self.features(x))


Classifier = CNN | RowRNN | MLP
_CONFIG_CLASSES = {"cnn": CNNConfig, "gru": RowRNNConfig, "lstm": RowRNNConfig, "mlp": MLPConfig}


def _check_kind(kind: str) -> str:
    if kind not in MODEL_KINDS:
        raise ValueError(f"--model must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
    return kind


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    return dataset


def make_config(kind: str, dataset: str, **overrides: Any) -> CNNConfig | RowRNNConfig | MLPConfig:
    """The default config of a model kind, with the data set's pixel statistics and any overrides."""
    mean, std = PIXEL_STATS[_check_dataset(dataset)]
    extra = {"cell": kind} if kind in ("gru", "lstm") else {}
    return _CONFIG_CLASSES[_check_kind(kind)](mean=mean, std=std, **extra, **overrides)


def build_model(config: CNNConfig | RowRNNConfig | MLPConfig) -> Classifier:
    """The model a config describes."""
    if isinstance(config, CNNConfig):
        return CNN(config)
    if isinstance(config, RowRNNConfig):
        return RowRNN(config)
    return MLP(config)


def _config_from_dict(kind: str, data: dict[str, Any]) -> CNNConfig | RowRNNConfig | MLPConfig:
    cls = _CONFIG_CLASSES[_check_kind(kind)]
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise CheckpointError(f"unknown {kind} config fields in checkpoint: {sorted(unknown)}")
    return cls(**data)


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

DEFAULT_LR = {"cnn": 3e-3, "gru": 3e-3, "lstm": 3e-3, "mlp": 2e-3}
"""Peak learning rate of the one-cycle schedule, per model kind."""
DEFAULT_BATCH_SIZE = {"cnn": 64, "gru": 128, "lstm": 128, "mlp": 128}
"""Images per step, per model kind (the CNN reaches 91 % on Fashion-MNIST in 3 epochs with 64, not with 128)."""


@dataclass
class TrainConfig:
    """One training run of one classifier on one data set."""

    dataset: str = "mnist"
    """mnist or fashion-mnist"""
    model: str = "cnn"
    """cnn, gru, lstm or mlp"""
    epochs: int = 3
    """passes over the training examples"""
    batch_size: int | None = None
    """images per optimisation step (None: the model's default in DEFAULT_BATCH_SIZE)"""
    lr: float | None = None
    """peak learning rate of the one-cycle schedule (None: the model's default in DEFAULT_LR)"""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay"""
    grad_clip: float = 1.0
    """clip the global gradient norm to this (0: no clipping)"""
    train_examples: int | None = None
    """use a seeded random subset of this many training images (None: the whole split)"""
    seed: int = 0
    """seeds the initial weights, the subset, the batch order and dropout"""
    model_overrides: dict[str, Any] = field(default_factory=dict)
    """fields of the model's config to change, e.g. {"hidden_size": 64}"""

    def __post_init__(self) -> None:
        _check_dataset(self.dataset)
        _check_kind(self.model)
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size is None:
            self.batch_size = DEFAULT_BATCH_SIZE[self.model]
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.model]
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.grad_clip < 0:
            raise ValueError(f"--grad-clip must be >= 0, got {self.grad_clip}")
        if self.train_examples is not None and self.train_examples < 1:
            raise ValueError(f"--train-examples must be >= 1, got {self.train_examples}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        make_config(self.model, self.dataset, **self.model_overrides)  # validates the overrides now


def _subset(images: torch.Tensor, labels: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n == len(labels):
        return images, labels
    if n > len(labels):
        raise ValueError(f"--train-examples must be <= {len(labels)} (the training split), got {n}")
    idx = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], labels[idx]


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
    train_seconds = 0.0
    bar = progress(total=total_steps, desc=f"{config.dataset} {config.model}", disable=None if progress_bar else True)
    model.train()
    for epoch in range(config.epochs):
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        t0 = time.perf_counter()
        for x, y in batches:
            logits = model(x)  # (B, K)
            loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"{config.model} on {config.dataset}: loss became {loss.item()} in epoch {epoch + 1}; "
                    "try a smaller --lr"
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
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        n = len(labels)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": loss_sum.item() / n,
                "train_accuracy": correct.item() / n,
                "seconds": seconds,
            }
        )
    bar.close()
    model.eval()
    test = evaluate(model, test_images, test_labels, device=device)
    results = {
        "dataset": config.dataset,
        "model": config.model,
        "accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "params": count_parameters(model),
        "flops_per_image": count_flops(model),
        "train_seconds_per_epoch": train_seconds / config.epochs,
        "inference_images_per_second": test["images_per_second"],
        "epochs": config.epochs,
        "train_examples": len(labels),
        "seed": config.seed,
        "history": history,
        "train_config": asdict(config),
        "model_config": asdict(model_config),
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
    return model, results


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
        from safetensors.torch import save_file

        metadata = {"a3lab_kind": kind, "a3lab_config": json.dumps(config)}
        return _atomic_write(path, lambda p: save_file(state, str(p), metadata=metadata))
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


def save_run(model: Classifier, results: dict[str, Any], stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write `<stem>.safetensors` (weights) and `<stem>.json` (config and results) beside it."""
    stem = Path(stem)
    weights = save_classifier(model, stem.with_name(stem.name + ".safetensors"))
    record = write_json(results, stem.with_name(stem.name + ".json"))
    return weights, record


# ----------------------------------------------------------------------------- domain feature extractor


def classifier_cache_dir() -> Path:
    """`$A3LAB_HOME/classifiers` when A3LAB_HOME is set, else `~/.cache/a3lab/classifiers`."""
    home = os.environ.get("A3LAB_HOME")
    if home:
        return Path(home) / "classifiers"
    return Path.home() / ".cache" / "a3lab" / "classifiers"


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


# ----------------------------------------------------------------------------- comparisons and the report

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "epochs": 1,
        "train_examples": 6000,
        "note": "quick preset: 1 epoch on a seeded 6,000-image subset of each training split, full test split; "
        "accuracies are far below the 3-epoch full-data targets",
    },
    "full": {"epochs": 3, "train_examples": None, "note": "full preset: 3 epochs on the full training split"},
}
"""Training budget of `report_experiment`'s presets."""

REPORT_KEYS = (
    "accuracy",
    "params",
    "flops_per_image",
    "train_seconds_per_epoch",
    "inference_images_per_second",
    "epochs",
    "train_examples",
)


def run_comparison(
    datasets: Iterable[str],
    models: Iterable[str],
    seeds: Iterable[int],
    out_dir: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    reuse: bool = True,
    save_weights: bool = True,
    progress_bar: bool = True,
    **train_kwargs: Any,
) -> list[dict[str, Any]]:
    """Train (or reuse) every (data set, model, seed) and return their results, one dict per run.

    Each run's record is `<out_dir>/<dataset>-<model>-seed<seed>.json` (and `.safetensors` with
    `save_weights`). With `reuse`, a record whose training config equals the requested one is read back
    instead of retrained, so an interrupted comparison resumes where it stopped.
    """
    out_dir = Path(out_dir)
    jobs = [(d, m, s) for d in datasets for m in models for s in seeds]
    runs = []
    for dataset, kind, seed in progress(jobs, desc="classifiers", disable=None if progress_bar else True):
        config = TrainConfig(dataset=dataset, model=kind, seed=seed, **train_kwargs)
        stem = out_dir / f"{dataset}-{kind}-seed{seed}"
        record = stem.with_name(stem.name + ".json")
        if reuse and record.is_file():
            old = json.loads(record.read_text())
            if old.get("train_config") == json.loads(json.dumps(asdict(config))):
                runs.append(old)
                continue
        model, results = train_classifier(config, root, device, progress_bar)
        if save_weights:
            save_run(model, results, stem)
        else:
            write_json(results, record)
        runs.append(results)
    return runs


def summarise(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Group runs by data set and model: means over seeds, plus every seed's accuracy and the spread.

    Returns:
        {dataset: {model: {REPORT_KEYS (means; counts as ints), "seeds", "accuracy_per_seed",
        "accuracy_spread" (max - min)}}}.
    """
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in runs:
        grouped.setdefault(r["dataset"], {}).setdefault(r["model"], []).append(r)
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, by_model in grouped.items():
        for kind, rs in by_model.items():
            row: dict[str, Any] = {}
            for key in REPORT_KEYS:
                mean = sum(r[key] for r in rs) / len(rs)
                row[key] = round(mean) if isinstance(rs[0][key], int) else mean
            accs = [r["accuracy"] for r in rs]
            row["seeds"] = [r["seed"] for r in rs]
            row["accuracy_per_seed"] = accs
            row["accuracy_spread"] = max(accs) - min(accs)
            table.setdefault(dataset, {})[kind] = row
    return table


def format_table(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A plain-text table of `summarise`'s output, one line per data set and model."""
    head = (
        f"{'dataset':<14} {'model':<5} {'accuracy %':>18} {'params':>9} {'MFLOPs/img':>10} "
        f"{'s/epoch':>8} {'img/s infer':>11} {'epochs':>6} {'examples':>8}"
    )
    lines = [head, "-" * len(head)]
    for dataset, by_model in table.items():
        for kind, r in by_model.items():
            acc = f"{100 * r['accuracy']:.2f}"
            if len(r.get("accuracy_per_seed", [])) > 1:
                acc += f" ±{50 * r['accuracy_spread']:.2f} (n={len(r['accuracy_per_seed'])})"
            lines.append(
                f"{dataset:<14} {kind:<5} {acc:>18} {r['params']:>9,} {r['flops_per_image'] / 1e6:>10.2f} "
                f"{r['train_seconds_per_epoch']:>8.1f} {r['inference_images_per_second']:>11,.0f} "
                f"{r['epochs']:>6} {r['train_examples']:>8}"
            )
    return "\n".join(lines)


_MARKERS = {"mnist": "o", "fashion-mnist": "s"}
_COLOURS = {"cnn": "tab:blue", "gru": "tab:orange", "lstm": "tab:green", "mlp": "tab:red"}


def plot_comparison(table: dict[str, dict[str, dict[str, Any]]], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy against forward FLOPs per image and against training seconds per epoch (log x), one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    for ax, key, scale, label in (
        (axes[0], "flops_per_image", 1e-6, "forward MFLOPs per image (FlopCounterMode)"),
        (axes[1], "train_seconds_per_epoch", 1.0, "training seconds per epoch"),
    ):
        for dataset, by_model in table.items():
            for kind, r in by_model.items():
                x, y = r[key] * scale, 100 * r["accuracy"]
                ax.scatter(x, y, marker=_MARKERS.get(dataset, "^"), s=60, color=_COLOURS.get(kind, "gray"),
                           label=f"{kind} · {dataset}")  # fmt: skip
                ax.annotate(kind, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), title="model · data set")
    fig.suptitle(title or "Image classifiers: accuracy against computation and time")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)
    return path


def report_experiment(
    preset: str, out_dir: str | os.PathLike, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Any]:
    """Problem 1 (images) for the report: CNN, GRU, LSTM and MLP on MNIST and Fashion-MNIST, one seed.

    Presets: "quick" trains each of the 8 runs for 1 epoch on a seeded 6,000-image subset (a few minutes on
    a 2-core CPU); "full" for 3 epochs on the whole training split. Both evaluate on the whole test split.
    Writes `classifiers_accuracy_vs_flops.png` and `classifiers.json` (every run's full record) into
    `out_dir`. The trained CNNs are saved where `domain_cnn` looks for them when the run is full-data
    ("full"); the quick preset saves them only where no checkpoint exists yet.

    Returns:
        {"images": [PNG file names in out_dir],
         "preset_note": what the preset trained,
         "results": {dataset: {model: {"accuracy": test accuracy 0..1, "params": int,
         "flops_per_image": int (forward, FlopCounterMode), "train_seconds_per_epoch": float,
         "inference_images_per_second": float, "epochs": int, "train_examples": int}}}}
        for datasets mnist, fashion-mnist and models cnn, gru, lstm, mlp.
    """
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    spec = PRESETS[preset]
    out_dir = Path(out_dir)
    device = resolve_device(device) if isinstance(device, str) else device
    runs = []
    jobs = [(d, m) for d in DATASETS for m in MODEL_KINDS]
    for dataset, kind in progress(jobs, desc=f"classifiers ({preset})"):
        n_train = spec["train_examples"]
        if n_train is not None:  # a tiny data root (tests) may hold fewer images than the preset asks for
            n_train = min(n_train, len(load_images(dataset, train=True)[1]))
        config = TrainConfig(dataset=dataset, model=kind, epochs=spec["epochs"], train_examples=n_train, seed=seed)
        model, results = train_classifier(config, device=device)
        runs.append(results)
        if kind == "cnn":
            target = domain_cnn_path(dataset)
            full_data = spec["train_examples"] is None and spec["epochs"] >= 3
            if full_data or not target.is_file():
                save_run(model, results, target.with_suffix(""))
    table = summarise(runs)
    image = "classifiers_accuracy_vs_flops.png"
    plot_comparison(table, out_dir / image, title=f"Image classifiers ({preset} preset, seed {seed})")
    write_json({"preset": preset, "note": spec["note"], "runs": runs}, out_dir / "classifiers.json")
    results = {
        dataset: {kind: {key: row[key] for key in REPORT_KEYS} for kind, row in by_model.items()}
        for dataset, by_model in table.items()
    }
    return {"images": [image], "preset_note": spec["note"], "results": results}


def accuracy_targets() -> dict[str, dict[str, float]]:
    """The issue's targets within 3 epochs: {dataset: {model: minimum test accuracy}}."""
    return {"mnist": {"cnn": 0.990, "gru": 0.980}, "fashion-mnist": {"cnn": 0.910, "gru": 0.880}}
