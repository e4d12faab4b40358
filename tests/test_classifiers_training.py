"""Counting, training, saving, loading, the domain CNN (a3lab.classifiers.training, .config); `classify train|eval`."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import a3lab.classifiers as classifiers
from a3lab.classifiers import (
    CNN,
    MODEL_KINDS,
    CNNConfig,
    TrainConfig,
    build_model,
    count_flops,
    count_parameters,
    domain_cnn,
    domain_cnn_path,
    load_classifier,
    make_config,
    save_classifier,
    train_classifier,
)
from a3lab.cli import main
from a3lab.errors import CheckpointError

TINY = {
    "cnn": {"channels": (4, 8), "hidden_size": 16},
    "gru": {"hidden_size": 16},
    "lstm": {"hidden_size": 16},
    "mlp": {"hidden_sizes": (32,)},
}


def tiny_model(kind: str, dataset: str = "mnist") -> nn.Module:
    return build_model(make_config(kind, dataset, **TINY[kind]))


def test_flop_counter_on_known_layers() -> None:
    assert count_flops(nn.Linear(10, 20), (10,)) == 2 * 10 * 20
    assert count_flops(nn.Conv2d(1, 4, 3, padding=1), (1, 28, 28)) == 2 * 28 * 28 * 4 * 9
    # the default CNN: two 3x3 convs (1 -> 16 channels at 28x28, 16 -> 32 at 14x14), then 1568 -> 128 -> 10
    expected = 2 * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 32 * 7 * 7 * 128 + 128 * 10)
    assert count_flops(CNN()) == expected
    # row RNNs: 28 steps of (gates x (28 inputs + H hidden) x H), then the H -> 10 head
    for kind, gates in (("gru", 3), ("lstm", 4)):
        rnn = tiny_model(kind)
        assert count_flops(rnn) == 2 * (28 * gates * (28 * 16 + 16 * 16) + 16 * 10), kind
    assert count_flops(tiny_model("mlp")) == 2 * (784 * 32 + 32 * 10)


def test_flop_counter_keeps_training_mode() -> None:
    model = tiny_model("cnn").train()
    count_flops(model)
    assert model.training


def test_count_parameters_excludes_buffers() -> None:
    model = tiny_model("mlp")
    assert count_parameters(model) == (784 * 32 + 32) + (32 * 10 + 10)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_save_load_roundtrip(tmp_path: Path, kind: str, suffix: str) -> None:
    model = tiny_model(kind, "fashion-mnist").eval()
    path = save_classifier(model, tmp_path / f"m{suffix}")
    loaded = load_classifier(path)
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_corrupt_or_missing_checkpoint_is_a_checkpoint_error(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / f"missing{suffix}")
    good = save_classifier(tiny_model("cnn"), tmp_path / f"good{suffix}")
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # truncated
    with pytest.raises(CheckpointError):
        load_classifier(bad)


def test_checkpoint_that_does_not_match_its_config(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = tiny_model("cnn")
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "classifier.weight"}
    meta = {"a3lab_kind": "cnn", "a3lab_config": json.dumps({"channels": [4, 8], "hidden_size": 16})}
    save_file(state, str(tmp_path / "x.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="do not match"):
        load_classifier(tmp_path / "x.safetensors")


def test_config_validation_speaks_cli() -> None:
    with pytest.raises(ValueError, match=r"`epochs` must be an integer in \[1, 10000\], got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="`lr` must be > 0"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="`model` must be one of"):
        TrainConfig(model="resnet")
    with pytest.raises(ValueError, match="`kernel_size`"):
        CNNConfig(kernel_size=2)
    with pytest.raises(ValueError, match="`hidden_size`"):
        TrainConfig(model="gru", model_overrides={"hidden_size": 0})
    assert TrainConfig(model="mlp").lr == classifiers.DEFAULT_LR["mlp"]
    assert TrainConfig(model="cnn").batch_size == classifiers.DEFAULT_BATCH_SIZE["cnn"]


def tiny_train_config(**kw) -> TrainConfig:
    base = {"dataset": "mnist", "model": "cnn", "epochs": 2, "batch_size": 32, "model_overrides": TINY["cnn"]}
    return TrainConfig(**{**base, **kw})


def test_training_is_deterministic_and_reports_everything(tiny_root: Path) -> None:
    m1, r1 = train_classifier(tiny_train_config(), root=tiny_root, progress_bar=False)
    m2, r2 = train_classifier(tiny_train_config(), root=tiny_root, progress_bar=False)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert r1["accuracy"] == r2["accuracy"]
    assert set(classifiers.REPORT_KEYS) <= set(r1)
    assert r1["train_examples"] == 200 and r1["epochs"] == 2 and len(r1["history"]) == 2
    assert r1["history"][1]["train_loss"] < r1["history"][0]["train_loss"]
    assert r1["flops_per_image"] == count_flops(m1) and r1["params"] == count_parameters(m1)
    assert r1["inference_images_per_second"] > 0 and r1["train_seconds_per_epoch"] > 0
    assert not m1.training
    _, r3 = train_classifier(tiny_train_config(seed=1), root=tiny_root, progress_bar=False)
    assert r3["history"][0]["train_loss"] != r1["history"][0]["train_loss"]


def test_training_subset(tiny_root: Path) -> None:
    _, r = train_classifier(tiny_train_config(epochs=1, train_examples=50), root=tiny_root, progress_bar=False)
    assert r["train_examples"] == 50
    with pytest.raises(ValueError, match="`train_examples` must be <= 200"):
        train_classifier(tiny_train_config(epochs=1, train_examples=500), root=tiny_root, progress_bar=False)


def test_divergence_is_reported(tiny_root: Path) -> None:
    from a3lab.errors import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="smaller lr"):
        train_classifier(
            tiny_train_config(model="mlp", lr=1e30, model_overrides={}), root=tiny_root, progress_bar=False
        )


def test_domain_cnn_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path))
    assert domain_cnn_path("mnist") == tmp_path / "classifiers" / "mnist-cnn.safetensors"
    monkeypatch.delenv("A3LAB_HOME")
    assert domain_cnn_path("fashion-mnist") == Path.home() / ".cache/a3lab/classifiers/fashion-mnist-cnn.safetensors"
    assert domain_cnn_path("mnist", tmp_path) == tmp_path / "mnist-cnn.safetensors"
    with pytest.raises(CheckpointError, match="no trained CNN"):
        domain_cnn("mnist", cache_dir=tmp_path, train_if_missing=False)


def test_domain_cnn_trains_once_then_loads(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    model = domain_cnn("fashion-mnist", root=tiny_root, cache_dir=cache)
    assert isinstance(model, CNN) and not model.training
    assert (cache / "fashion-mnist-cnn.safetensors").is_file()
    record = json.loads((cache / "fashion-mnist-cnn.json").read_text())
    assert record["epochs"] == 3 and record["model"] == "cnn" and record["dataset"] == "fashion-mnist"

    def no_training(*args, **kwargs):
        raise AssertionError("domain_cnn retrained a model it had saved")

    monkeypatch.setattr(classifiers.training, "train_classifier", no_training)
    again = domain_cnn("fashion-mnist", cache_dir=cache, train_if_missing=False)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(again.features(x), model.features(x), rtol=0, atol=0)
    assert again.features(x).shape == (3, again.num_features)


def test_cli_train_and_eval(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "runs"
    args = ["classify", "train", "--dataset", "fashion-mnist", "--model", "mlp", "--epochs", "1"]
    assert main([*args, "--batch-size", "32", "--out", str(out), "--seed", "3", "--device", "cpu"]) == 0
    record = json.loads((out / "fashion-mnist-mlp-seed3.json").read_text())
    assert record["seed"] == 3 and 0.0 <= record["accuracy"] <= 1.0
    assert main(["classify", "eval", str(out / "fashion-mnist-mlp-seed3.safetensors"), "--device", "cpu"]) == 0
    assert f"accuracy {100 * record['accuracy']:.2f}%" in capsys.readouterr().out


def test_cli_install_writes_the_domain_cnn(tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    argv = ["classify", "train", "--epochs", "1", "--out", str(tmp_path / "runs"), "--install", "--device", "cpu"]
    assert main(argv) == 0
    assert isinstance(domain_cnn("mnist", train_if_missing=False), CNN)


def test_cli_user_errors(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = ["--out", str(tmp_path), "--device", "cpu"]
    with pytest.raises(SystemExit) as e:
        main(["classify", "train", "--lr", "-1", *out])
    assert e.value.code == 2 and "argument --lr: must be > 0" in capsys.readouterr().err
    assert main(["classify", "train", "--model", "gru", "--install", *out]) == 2
    assert main(["classify", "train", "--train-examples", "1000", *out]) == 2
    assert main(["classify", "eval", str(tmp_path / "nope.safetensors"), "--dataset", "mnist"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["classify", "train", "--epochs", "0"])
    assert e.value.code == 2


@pytest.mark.slow
def test_real_cnn_reaches_the_mnist_target(real_data: Path) -> None:
    _, r = train_classifier(TrainConfig(dataset="mnist", model="cnn", epochs=3), root=real_data, progress_bar=False)
    assert r["accuracy"] >= 0.99
