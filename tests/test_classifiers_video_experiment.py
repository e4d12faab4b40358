"""The video experiment (a3lab.classifiers.video.experiment), its section and `a3lab classify video`."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F

from a3lab.classifiers.fit import fit
from a3lab.classifiers.video.config import MODELS, PRESETS, VideoConfig, VideoModelConfig
from a3lab.classifiers.video.data import (
    FRAME_SIZE,
    ItemBank,
    make_clips,
)
from a3lab.classifiers.video.experiment import accuracy, count_clip_flops, run_video
from a3lab.classifiers.video.models import build_video_model
from a3lab.cli import main
from conftest import make_images


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
    from a3lab.classifiers.video.section import VIDEO
    from a3lab.report import claims

    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(video.PRESETS, "quick", {**TINY, "models": ("mean_pool", "gru", "c3d", "transformer")})
    result = video.section_experiment("quick", tmp_path / "video", device="cpu")
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
