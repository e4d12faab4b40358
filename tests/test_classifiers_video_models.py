"""The four clip classifiers and their config (a3lab.classifiers.video.models, .config)."""

from __future__ import annotations

import pytest
import torch

from a3lab.classifiers.video.config import MODELS, VideoConfig, VideoModelConfig
from a3lab.classifiers.video.data import (
    FRAME_SIZE,
)
from a3lab.classifiers.video.models import C3DVideo, FrameCNN, build_video_model, load_frame_cnn
from a3lab.errors import UserError


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("length", [2, 9])
def test_model_output_shapes_any_length(kind, length):
    model = build_video_model(kind, 7, VideoModelConfig(channels=(4, 8), feature_dim=16, hidden_dim=16))
    assert model(torch.rand(3, length, FRAME_SIZE, FRAME_SIZE)).shape == (3, 7)


def test_inflated_c3d_matches_the_frame_cnn_on_a_still_clip():
    config = VideoModelConfig(channels=(4, 8), feature_dim=16, hidden_dim=16)
    cnn, c3d = FrameCNN(config), C3DVideo(config, 3)
    load_frame_cnn(c3d, cnn)
    frame = torch.rand(1, 1, FRAME_SIZE, FRAME_SIZE)
    still = frame.unsqueeze(2).expand(1, 1, 5, FRAME_SIZE, FRAME_SIZE)  # (B, 1, T, S, S)
    # Away from the clip's ends (zero padding in time) the 3-D kernel sums three equal frames.
    torch.testing.assert_close(c3d.conv1(still)[:, :, 2], cnn.conv1(frame), atol=1e-5, rtol=1e-5)


def test_config_errors_are_user_errors():
    with pytest.raises(UserError, match="tasks"):
        VideoConfig(tasks=("colour",))
    with pytest.raises(UserError, match="length"):
        VideoConfig(length=1)
    with pytest.raises(UserError, match="hidden_dim"):
        VideoModelConfig(hidden_dim=10, transformer_heads=4)
