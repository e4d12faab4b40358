"""a3lab.attention.experiment: the report's attention-tasks experiment, and its section's renderer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from a3lab.attention.experiment import section_experiment
from a3lab.attention.section import TASKS
from a3lab.attention.task_config import PRESETS
from test_attention_tasks import TINY_LONG


def test_section_experiment_keys_and_images(tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = dataclasses.replace(
        PRESETS["quick"], pixel_steps=2, pixel_train_examples=8, pixel_test_examples=8, batch_size=4,
        long_range_steps=2, long_range_batch_size=4, long_range_test_examples=8, linformer_examples=2,
        pixel={"dim": 8, "depth": 1, "heads": 2, "window": 28, "k": 16}, long_range=dict(TINY_LONG, dim=8),
    )  # fmt: skip
    monkeypatch.setitem(PRESETS, "quick", tiny)
    result = section_experiment("quick", tmp_path, device="cpu", seed=0)
    assert set(result) == {"images", "pixel", "long_range", "linformer_error", "budget"}
    steps = 8 * 2 + len(tiny.long_range_kinds) * 2  # pixel runs x steps + long-range runs x steps
    assert result["budget"]["planned"] == result["budget"]["done"] == steps and result["budget"]["images"] == 8
    assert set(result["pixel"]) == {"mnist", "fashion-mnist"}
    for per_kind in result["pixel"].values():
        assert set(per_kind) == {"full", "sliding", "sliding_global", "linformer"}
        for r in per_kind.values():
            assert set(r) == {"accuracy", "seconds_per_epoch", "steps", "train_examples"}
            assert r["steps"] == 2 and r["train_examples"] == 8
    lr = result["long_range"]
    assert set(lr) == {"length", "layers", "window", "chance", "results"}
    assert (lr["length"], lr["layers"], lr["window"], lr["chance"]) == (40, 2, 4, 0.5)
    assert set(lr["results"]) == set(tiny.long_range_kinds)
    le = result["linformer_error"]
    assert set(le) == {"k", "random", "trained"} and len(le["k"]) == len(le["random"]) == len(le["trained"])
    for name in result["images"]:
        assert (tmp_path / name).stat().st_size > 1000
    json.dumps(result)
    assert json.loads((tmp_path / "attention_tasks.json").read_text())["summary"] == result
    assert [b[0] for b in TASKS.render(result)] == ["p", "table", "p", "table", "table"]
    with pytest.raises(ValueError, match="`preset`"):
        section_experiment("huge", tmp_path)
