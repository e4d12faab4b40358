"""Training and the sequence experiment (a3lab.classifiers.sequences.experiment, .config); `classify sequences`."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import a3lab.classifiers.sequences as sequences
from a3lab.classifiers.sequences import (
    SequenceConfig,
    accuracy,
    build_model,
    encode,
    make_batch,
    run_sequences,
    section_experiment,
    train_model,
)
from a3lab.cli import main


def tiny_config(**kw) -> SequenceConfig:
    base = {"steps": 30, "batch_size": 32, "eval_size": 40, "test_lengths": (5, 20, 60), "hidden_size": 8}
    return SequenceConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", ["gru", "lstm", "cnn1d", "mlp"])
def test_overfits_one_batch(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(kind, "alternating", tiny_config(hidden_size=16))
    x, y = make_batch("alternating", 32, 6, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(100):
        loss = F.binary_cross_entropy_with_logits(model(encode("alternating", x)), y.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_gru_learns_parity_of_short_sequences() -> None:
    torch.manual_seed(0)
    config = tiny_config(steps=400, batch_size=64, train_max_length=4, hidden_size=16, tasks=("parity",))
    model = build_model("gru", "parity", config)
    info = train_model(model, "parity", config, torch.device("cpu"), progress_bar=False)
    x, y = make_batch("parity", 200, 4, torch.Generator().manual_seed(5))
    assert accuracy(model, "parity", x, y) > 0.95 and info["final_loss"] < 0.2


def test_divergence_is_reported() -> None:
    from a3lab.errors import TrainingDiverged

    config = tiny_config(steps=5, lr=1e30, tasks=("alternating",))
    model = build_model("mlp", "alternating", config)
    with torch.no_grad():
        model.net[0].weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="--lr"):
        train_model(model, "alternating", config, torch.device("cpu"), progress_bar=False)


def test_config_validation_speaks_cli() -> None:
    with pytest.raises(ValueError, match="`models`"):
        SequenceConfig(models=("transformer",))
    with pytest.raises(ValueError, match="`steps` must be an integer >= 1"):
        SequenceConfig(steps=0)
    with pytest.raises(ValueError, match="`cnn_kernel_size`"):
        SequenceConfig(cnn_kernel_size=4)
    with pytest.raises(ValueError, match="`test_lengths`"):
        SequenceConfig(test_lengths=())


def test_run_is_deterministic_and_mlp_has_no_long_lengths() -> None:
    config = tiny_config(models=("gru", "cnn1d", "mlp", "hand_wired"))
    first = run_sequences(config, progress_bar=False)
    second = run_sequences(config, progress_bar=False)
    for task in ("alternating", "parity"):
        assert first["tasks"][task]["models"] == second["tasks"][task]["models"]
        models = first["tasks"][task]["models"]
        assert set(models["mlp"]) == {"5", "20"} and set(models["gru"]) == {"5", "20", "60"}
        assert all(a == 1.0 for a in models["hand_wired"].values())
        assert 0.4 < first["tasks"][task]["chance"] <= 0.6


def test_section_experiment_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sequences.PRESETS, "quick", {"steps": 10, "eval_size": 20, "batch_size": 16})
    result = section_experiment("quick", tmp_path, device="cpu", seed=0)
    assert set(result) == {"images", "preset_note", "tasks", "budget"}
    assert result["budget"]["planned"] == result["budget"]["done"] == 2 * 4 * 10  # tasks x trained models x steps
    assert set(result["tasks"]) == {"alternating", "parity"}
    for entry in result["tasks"].values():
        assert set(entry) == {"train_max_length", "lengths", "chance", "models"}
        assert entry["train_max_length"] == 20 and entry["lengths"] == [20, 50, 100, 500, 1000]
        assert set(entry["models"]) == {"gru", "lstm", "cnn1d", "mlp", "hand_wired"}
        assert set(entry["models"]["mlp"]) == {"20"}
        assert set(entry["models"]["gru"]) == {"20", "50", "100", "500", "1000"}
    assert (tmp_path / result["images"][0]).stat().st_size > 1000
    assert json.loads((tmp_path / "sequences.json").read_text())["preset"] == "quick"
    json.dumps(result)


def test_cli_sequences(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["classify", "sequences", "--steps", "10", "--eval-size", "20", "--lengths", "5", "30"]
    argv += ["--tasks", "parity", "--models", "gru", "mlp", "hand_wired", "--out", str(tmp_path), "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "parity (trained on lengths <= 20" in out and "T=30" in out
    record = json.loads((tmp_path / "sequences.json").read_text())
    assert set(record["tasks"]["parity"]["models"]["mlp"]) == {"5"}
    assert (tmp_path / "sequences_accuracy_vs_length.png").is_file()


def test_cli_sequences_user_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["classify", "sequences", "--steps", "0", "--out", str(tmp_path)])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["classify", "sequences", "--tasks", "sorting", "--out", str(tmp_path)])
    assert e.value.code == 2
