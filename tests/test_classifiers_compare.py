"""The comparison and the report's experiment (a3lab.classifiers.compare) and `a3lab classify compare`."""

import json
from pathlib import Path

import pytest
from torch import nn

import a3lab.classifiers as classifiers
from a3lab.classifiers import (
    MODEL_KINDS,
    build_model,
    domain_cnn_path,
    make_config,
    save_classifier,
    section_experiment,
    summarise,
)
from a3lab.cli import main

TINY = {
    "cnn": {"channels": (4, 8), "hidden_size": 16},
    "gru": {"hidden_size": 16},
    "lstm": {"hidden_size": 16},
    "mlp": {"hidden_sizes": (32,)},
}


def tiny_model(kind: str, dataset: str = "mnist") -> nn.Module:
    return build_model(make_config(kind, dataset, **TINY[kind]))


def test_summarise_reports_spread_over_seeds() -> None:
    base = dict.fromkeys(classifiers.REPORT_KEYS, 1)
    runs = [
        {**base, "dataset": "mnist", "model": "cnn", "seed": s, "accuracy": a, "train_seconds_per_epoch": 2.0}
        for s, a in ((0, 0.990), (1, 0.994), (2, 0.992))
    ]
    row = summarise(runs)["mnist"]["cnn"]
    assert row["accuracy"] == pytest.approx(0.992)
    assert row["accuracy_spread"] == pytest.approx(0.004)
    assert row["seeds"] == [0, 1, 2] and isinstance(row["params"], int)


def test_cli_compare_writes_table_and_plot_and_reuses_runs(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    argv = ["classify", "compare", "--datasets", "mnist", "--models", "mlp", "gru", "--seeds", "0", "1"]
    argv += ["--epochs", "1", "--batch-size", "50", "--out", str(tmp_path / "runs"), "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "target gru mnist >= 98.0%" in text and "(n=2)" in text
    summary = json.loads((tmp_path / "runs" / "compare.json").read_text())
    assert set(summary["table"]["mnist"]) == {"mlp", "gru"} and len(summary["runs"]) == 4
    assert (tmp_path / "runs" / "accuracy_vs_flops.png").stat().st_size > 1000

    def no_training(*args, **kwargs):
        raise AssertionError("compare retrained a run it had on disk")

    monkeypatch.setattr(classifiers.compare, "train_classifier", no_training)
    assert main(argv) == 0


def test_section_experiment_keys_and_checkpoints(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("A3LAB_HOME", str(home))
    existing = save_classifier(tiny_model("cnn"), domain_cnn_path("mnist"))
    before = existing.read_bytes()
    out = tmp_path / "report"
    result = section_experiment("quick", out, device="cpu", seed=0)
    assert set(result) == {"images", "preset_note", "results", "budget", "timing"}
    budget, timing = result["budget"], result["timing"]
    assert budget["done"] == budget["planned"] > 0 and budget["stopped"] is None and budget["images"] == 200
    assert timing["threads"] == 1 and timing["images"] == 100 and timing["rounds"] >= 5
    for ratios in timing["ratios"].values():
        assert set(ratios) == {"gru", "lstm"}
        assert all(r["rounds"] == timing["rounds"] and r["low"] <= r["median"] <= r["high"] for r in ratios.values())
    assert set(result["results"]) == {"mnist", "fashion-mnist"}
    for by_model in result["results"].values():
        assert set(by_model) == set(MODEL_KINDS)
        for row in by_model.values():
            assert set(row) == set(classifiers.REPORT_KEYS)
            assert 0.0 <= row["accuracy"] <= 1.0 and isinstance(row["flops_per_image"], int)
            assert row["epochs"] == 1 and row["train_examples"] == 200
    for name in result["images"]:
        assert (out / name).stat().st_size > 1000
    json.dumps(result)
    assert existing.read_bytes() == before  # the quick preset keeps an existing domain CNN
    assert domain_cnn_path("fashion-mnist").is_file()  # and fills a missing one
    with pytest.raises(ValueError, match="`preset`"):
        section_experiment("medium", out)
