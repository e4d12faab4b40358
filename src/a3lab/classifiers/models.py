"""Problem 1 models: the CNN, the row-by-row GRU/LSTM and the MLP, their configs and `build_model`.

Legend: B batch, C channels, H = W = 28 pixels, T = 28 time steps (one image row each), F features of the
penultimate layer, K = 10 classes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
from torch import nn

from a3lab.classifiers.config import MODEL_KINDS
from a3lab.data import DATASETS, NUM_CLASSES, PIXEL_STATS
from a3lab.errors import CheckpointError, UserError

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
            raise UserError(
                f"`channels` needs 1 to 4 positive values (28 px halve 4 times at most), got {self.channels}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise UserError(f"`kernel_size` must be odd and >= 1, got {self.kernel_size}")
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
            raise UserError(f"`model` must be gru or lstm for a row RNN, got {self.cell!r}")
        if self.num_layers < 1:
            raise UserError(f"`num_layers` must be >= 1, got {self.num_layers}")
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
            raise UserError("`hidden_sizes` needs at least one layer")
        _check_common(min(self.hidden_sizes), self.dropout, self.std)


def _check_common(hidden: int, dropout: float, std: float) -> None:
    if hidden < 1:
        raise UserError(f"`hidden_size` must be >= 1, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"`dropout` must be in [0, 1), got {dropout}")
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
        # Channels-last weights and activations: oneDNN's convolutions and max-pooling are faster in NHWC on
        # CPU (docs/results.md has the measurement). Flatten still reads (C, H, W) order.
        self.to(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations. Shapes: `[B, 1, 28, 28]` -> `[B, F]`."""
        x = self.standardise(x).contiguous(memory_format=torch.channels_last)  # (B, 1, 28, 28)
        return self.head(self.blocks(x))  # (B, C, 28 / 2^L, 28 / 2^L) -> (B, F)

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
        raise UserError(f"`model` must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
    return kind


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise UserError(f"`dataset` must be one of {', '.join(DATASETS)}, got {dataset!r}")
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
