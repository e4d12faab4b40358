"""Video clips (a3lab.classifiers.video_data) and the four clip classifiers (video_models, video)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from a3lab.classifiers.fit import fit
from a3lab.classifiers.video.config import MODELS, PRESETS, TASKS, VideoConfig, VideoModelConfig
from a3lab.classifiers.video.data import (
    FRAME_SIZE,
    NUM_CLASSES,
    ItemBank,
    cached_clips,
    make_clips,
)
from a3lab.classifiers.video.experiment import accuracy, count_clip_flops, run_video
from a3lab.classifiers.video.models import C3DVideo, FrameCNN, build_video_model, load_frame_cnn
from a3lab.cli import main
from a3lab.errors import UserError
from conftest import make_images


@pytest.fixture
def coded_bank() -> ItemBank:
    """Items whose pixels all equal 20 * class + 10, so a frame's class can be read back from any pixel."""
    labels = torch.arange(30) % 10
    images = (20 * labels + 10).to(torch.uint8)[:, None, None].expand(30, 28, 28).contiguous()
    return ItemBank(images, labels)


def frame_classes(clips: torch.Tensor) -> torch.Tensor:
    """Class shown in each frame (-1 for a blank one). Shapes: `[N, T, S, S]` -> `[N, T]`."""
    value = clips[..., 0, 0].long()
    return torch.where(value == 0, -1, (value - 10) // 20)


@pytest.mark.parametrize("task", TASKS)
def test_clips_are_a_pure_function_of_the_seed(coded_bank, task):
    a, la = make_clips(task, 16, 5, coded_bank, seed=3)
    b, lb = make_clips(task, 16, 5, coded_bank, seed=3)
    c, _ = make_clips(task, 16, 5, coded_bank, seed=4)
    assert a.dtype == torch.uint8 and a.shape == (16, 5, FRAME_SIZE, FRAME_SIZE)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert la.min() >= 0 and la.max() < NUM_CLASSES[task]


def test_two_flash_labels(coded_bank):
    clips, first = make_clips("first", 200, 7, coded_bank, seed=0)
    _, largest = make_clips("max", 200, 7, coded_bank, seed=0)
    _, total = make_clips("sum", 200, 7, coded_bank, seed=0)
    shown = frame_classes(clips)
    assert ((shown >= 0).sum(1) == 2).all()  # two flashes, blank frames elsewhere
    pairs = torch.stack([row[row >= 0] for row in shown])  # (N, 2) in the order shown
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert torch.equal(first, pairs[:, 0])
    assert torch.equal(largest, pairs.max(1).values)
    assert torch.equal(total, pairs.sum(1))


def test_direction_clips_move_one_pixel_per_frame(coded_bank):
    labels_img = torch.zeros(10, 28, 28, dtype=torch.uint8)
    labels_img[:, 4:8, 10:14] = 255  # a blob, so that a shift is visible
    bank = ItemBank(labels_img, torch.arange(10))
    clips, labels = make_clips("direction", 40, 6, bank, seed=1)
    steps = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}
    for clip, label in zip(clips, labels.tolist()):
        dy, dx = steps[label]
        for t in range(5):
            assert torch.equal(clip[t + 1], torch.roll(clip[t], shifts=(dy, dx), dims=(0, 1)))


def test_increasing_labels(coded_bank):
    clips, labels = make_clips("increasing", 300, 6, coded_bank, seed=2)
    shown = frame_classes(clips)
    inversions = (shown[:, 1:] < shown[:, :-1]).sum(1)
    assert torch.equal(inversions == 0, labels == 1)
    assert (inversions[labels == 0] == 1).all()  # one adjacent swap: same multiset, one step out of order
    assert 0.3 < labels.float().mean() < 0.7


def test_cached_clips_round_trip(coded_bank, tmp_path):
    a = cached_clips("mnist", True, "first", 8, 4, 0, bank=coded_bank, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    b = cached_clips("mnist", True, "max", 8, 4, 0, bank=None, cache_dir=tmp_path)  # shared entry, no data read
    assert torch.equal(a[0], b[0]) and torch.equal(b[1], make_clips("max", 8, 4, coded_bank, 0)[1])


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


def test_flops_counted_for_every_model():
    config = VideoModelConfig(channels=(4, 8), feature_dim=16, hidden_dim=16)
    flops = {k: count_clip_flops(build_video_model(k, 4, config), 6, FRAME_SIZE) for k in MODELS}
    assert all(f > 0 for f in flops.values())
    assert flops["gru"] > flops["mean_pool"] and flops["c3d"] > 2 * flops["mean_pool"]


def test_gru_overfits_one_tiny_batch():
    images, labels = make_images(100, seed=0)
    bank = ItemBank(torch.from_numpy(images), torch.from_numpy(labels).long())
    torch.manual_seed(0)
    clips, labels = make_clips("first", 16, 4, bank, seed=0)
    model = build_video_model("gru", 10, VideoModelConfig(channels=(4, 8), feature_dim=16, hidden_dim=32))
    before = F.cross_entropy(model(clips.float() / 255), labels).item()
    result = fit(model, clips, labels, steps=250, batch_size=16, lr=1e-2, seed=0)
    assert result["steps"] == result["steps_planned"] == 250
    assert result["final_loss"] < 0.1 * before
    assert accuracy(model, clips, labels) == 1.0


def test_config_errors_are_user_errors():
    with pytest.raises(UserError, match="tasks"):
        VideoConfig(tasks=("colour",))
    with pytest.raises(UserError, match="length"):
        VideoConfig(length=1)
    with pytest.raises(UserError, match="hidden_dim"):
        VideoModelConfig(hidden_dim=10, transformer_heads=4)


TINY = {
    "tasks": ("first", "max"),
    "models": ("mean_pool", "gru"),
    "length": 3,
    "test_factors": (1, 2),
    "steps": 3,
    "batch_size": 4,
    "pretrain_steps": 2,
    "train_clips": 16,
    "test_clips": 8,
    "model": {"channels": (4, 8), "feature_dim": 16, "hidden_dim": 16},
}


def test_run_video_records_every_model_task_and_length(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    result = run_video(VideoConfig(**TINY))
    assert result["lengths"] == [3, 6] and result["order_tasks"] == ["first"]
    for entry in result["tasks"].values():
        assert set(entry["models"]) == {"mean_pool", "gru"}
        for kind, accs in entry["models"].items():
            assert set(accs) == {"3", "6"} and all(0 <= a <= 1 for a in accs.values())
            d = entry["details"][kind]
            assert d["steps"] == d["steps_planned"] == 3 and d["flops_per_clip"] > 0
            assert d["clips_per_second"]["min"] <= d["clips_per_second"]["median"] <= d["clips_per_second"]["max"]


def test_cli_video(tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(PRESETS, "quick", TINY)
    assert main(["classify", "video", "--out", str(tmp_path / "v"), "--device", "cpu"]) == 0
    record = json.loads((tmp_path / "v" / "video.json").read_text())
    assert record["preset"] == "quick" and (tmp_path / "v" / "video_accuracy_vs_length.png").is_file()
    assert "mean_pool" in capsys.readouterr().out


def test_report_section_feeds_claim_10(tiny_data, tmp_path, monkeypatch):
    from a3lab import report
    from a3lab.classifiers import video
    from a3lab.report import claims
    from a3lab.classifiers.video.section import VIDEO

    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(video.PRESETS, "quick", {**TINY, "models": ("mean_pool", "gru", "c3d", "transformer")})
    result = video.report_experiment("quick", tmp_path / "video", device="cpu")
    json.dumps(result)
    assert result["budget"]["done"] == result["budget"]["planned"] == 2 + 2 * 4 * 3
    assert (tmp_path / "video" / result["images"][0]).is_file()
    claim = next(c for c in report.CLAIMS if c.number == 10)
    verdict = claims.judge(claim, {"video": {"status": "ok", "result": result}})
    # tiny budgets: no model recognises the items, so the precondition must fail, with the numbers shown
    assert verdict.verdict == "inconclusive" and "control task 'max'" in verdict.why
    assert any(line.startswith("first, training length: GRU") for line in verdict.evidence)
    blocks = VIDEO.render(result)
    assert sum(b[0] == "table" for b in blocks) == 2
