"""Problem 1, video: four clip classifiers that differ only in how they combine frames over time.

Legend: B batch, T frames, S frame side, C channels, F frame-feature width, H hidden width, D transformer
width, K classes.

- `MeanPoolVideo`: a per-frame CNN, features averaged over time (a bag of frames: blind to order).
- `GRUVideo`: the same per-frame CNN, then a GRU over the frame features (Donahue et al. 2015, LRCN, with a GRU,
  Cho et al. 2014); it classifies from the last hidden state.
- `C3DVideo`: 3-D convolutions over (time, height, width) (Tran et al. 2015, C3D), then features averaged over
  time: its temporal receptive field is fixed (`temporal_receptive_field` frames).
- `TransformerVideo`: the per-frame CNN, then a pre-norm transformer encoder over the frame features
  (`a3lab.attention.modules.TransformerEncoder`, Vaswani et al. 2017) with sinusoidal positions and a class
  token (Devlin et al. 2019); sinusoidal rather than learned positions so it can run on longer clips.

Input contract: float clips `[B, T, S, S]` in [0, 1]; `forward -> logits [B, K]` for any T.
Every model starts from the same digit-recognising frame CNN (`load_frame_cnn`); the C3D inflates its 2-D
kernels along time (Carreira & Zisserman 2017, I3D), so all four begin with the same knowledge of items and
differ only in how they use time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.attention.modules import TransformerEncoder
from a3lab.classifiers.layers import sinusoidal_positions
from a3lab.classifiers.video.config import MODELS, VideoModelConfig
from a3lab.errors import UserError


class FrameCNN(nn.Module):
    """Two conv-ReLU-maxpool blocks and a linear layer. Shapes: `[N, 1, S, S]` -> `[N, F]`."""

    def __init__(self, config: VideoModelConfig) -> None:
        super().__init__()
        c1, c2 = config.channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * 3 * 3, config.feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, C1, 7, 7)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, C2, 3, 3)
        return F.relu(self.fc(x.flatten(1)))  # (N, F)


def _head(config: VideoModelConfig, in_dim: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, num_classes))


def _frame_features(cnn: FrameCNN, x: torch.Tensor) -> torch.Tensor:
    """Shapes: clips `[B, T, S, S]` -> `[B, T, F]`."""
    B, T = x.shape[:2]
    return cnn(x.reshape(B * T, 1, *x.shape[2:])).view(B, T, -1)


class MeanPoolVideo(nn.Module):
    def __init__(self, config: VideoModelConfig, num_classes: int) -> None:
        super().__init__()
        self.frames = FrameCNN(config)
        self.head = _head(config, config.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_frame_features(self.frames, x).mean(1))  # (B, F) -> (B, K)


class GRUVideo(nn.Module):
    def __init__(self, config: VideoModelConfig, num_classes: int) -> None:
        super().__init__()
        self.frames = FrameCNN(config)
        self.rnn = nn.GRU(config.feature_dim, config.hidden_dim, batch_first=True)
        self.head = _head(config, config.hidden_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(_frame_features(self.frames, x))  # h: (1, B, H)
        return self.head(h[-1])


class TransformerVideo(nn.Module):
    def __init__(self, config: VideoModelConfig, num_classes: int) -> None:
        super().__init__()
        D = config.hidden_dim
        self.frames = FrameCNN(config)
        self.proj = nn.Linear(config.feature_dim, D)
        self.cls = nn.Parameter(torch.zeros(1, 1, D))
        self.encoder = TransformerEncoder(D, config.transformer_depth, config.transformer_heads, "full", mlp_ratio=2.0)
        self.head = _head(config, D, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(_frame_features(self.frames, x))  # (B, T, D)
        B, T, D = tokens.shape
        tokens = torch.cat([self.cls.expand(B, 1, D), tokens], 1)  # (B, 1 + T, D)
        tokens = tokens + sinusoidal_positions(T + 1, D, tokens.device)
        return self.head(self.encoder(tokens)[:, 0])  # the class token's output (B, D) -> (B, K)


class C3DVideo(nn.Module):
    """3x3x3 convolutions that keep time and halve space; a linear layer per time step; mean over time."""

    def __init__(self, config: VideoModelConfig, num_classes: int) -> None:
        super().__init__()
        c1, c2 = config.channels
        self.conv1 = nn.Conv3d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv3d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * 3 * 3, config.feature_dim)
        self.head = _head(config, config.feature_dim, num_classes)
        self.temporal_receptive_field = 5  # two 3-frame kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)  # (B, 1, T, S, S)
        x = F.max_pool3d(F.relu(self.conv1(x)), (1, 2, 2))  # (B, C1, T, 7, 7)
        x = F.max_pool3d(F.relu(self.conv2(x)), (1, 2, 2))  # (B, C2, T, 3, 3)
        x = x.permute(0, 2, 1, 3, 4).flatten(2)  # (B, T, C2 * 9)
        return self.head(F.relu(self.fc(x)).mean(1))  # (B, T, F) -> (B, F) -> (B, K)

    @torch.no_grad()
    def inflate_from(self, cnn: FrameCNN) -> None:
        """I3D inflation: each 2-D kernel repeated over 3 frames and divided by 3, so that a clip of
        identical frames gives the frame CNN's activations."""
        for conv3, conv2 in ((self.conv1, cnn.conv1), (self.conv2, cnn.conv2)):
            conv3.weight.copy_(conv2.weight.unsqueeze(2).repeat(1, 1, 3, 1, 1) / 3)
            conv3.bias.copy_(conv2.bias)
        self.fc.load_state_dict(cnn.fc.state_dict())


_CLASSES = {"mean_pool": MeanPoolVideo, "gru": GRUVideo, "c3d": C3DVideo, "transformer": TransformerVideo}


def build_video_model(kind: str, num_classes: int, config: VideoModelConfig | None = None) -> nn.Module:
    """A fresh clip classifier of one kind (random weights)."""
    if kind not in _CLASSES:
        raise UserError(f"`models` must be among {', '.join(MODELS)}, got {kind!r}")
    return _CLASSES[kind](config or VideoModelConfig(), num_classes)


def load_frame_cnn(model: nn.Module, cnn: FrameCNN) -> None:
    """Start a clip classifier from a trained frame CNN (copied, or inflated for the C3D)."""
    if isinstance(model, C3DVideo):
        model.inflate_from(cnn)
    else:
        model.frames.load_state_dict(cnn.state_dict())
