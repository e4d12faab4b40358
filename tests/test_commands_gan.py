"""a3lab.commands.gan: `a3lab gan train|sample|eval|reproduce` in-process: flags, defaults, errors."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from a3lab import cli
from a3lab.data import DATASETS
from a3lab.gan import (
    GANConfig,
    Trainer,
    load_generator,
    sample,
)
from a3lab.gan import reproduce as gan_reproduce
from a3lab.gan.config import BEST_FIELDS, STANDARD_INCEPTION_N
from test_gan_fixtures import (
    train_tiny,
    use_judge,
)
from test_gan_metrics import BarClassifier


@pytest.fixture(autouse=True)
def in_a_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run without --out write their default folders here, never into the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Trainer]:
    """One finished one-epoch run on the tiny MNIST, which the tests only read (or copy first)."""
    return train_tiny(tmp_path_factory)


@pytest.fixture
def tiny_run(trained, tiny_data: Path, tmp_path: Path):
    def copy(conditional: bool = True) -> Path:
        assert conditional
        return Path(shutil.copytree(trained[0], tmp_path / "mnist-cgan"))

    return copy


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> BarClassifier:
    return use_judge(monkeypatch)


@pytest.fixture
def run_cli():
    return cli.main


def test_cli_sample(trained, tmp_path):
    out = trained[0]
    npz = tmp_path / "s.npz"
    assert cli.main(["gan", "sample", str(out), "--n", "30", "--out", str(npz), "--device", "cpu"]) == 0
    data = np.load(npz)
    assert data["images"].shape == (30, 28, 28) and data["images"].dtype == np.uint8
    assert np.bincount(data["labels"], minlength=10).tolist() == [3] * 10
    G, config = load_generator(out)
    assert np.array_equal(data["images"], sample(G, config, 30, seed=0)[0].numpy())  # EMA generator, seed 0
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--label", "7", "--raw", "--out", str(npz), "--force"]) == 0
    assert np.load(npz)["labels"].tolist() == [7] * 5
    png = tmp_path / "s.png"
    assert cli.main(["gan", "sample", str(out), "--n", "20", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--out", str(tmp_path / "s.jpg")]) == 2
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--label", "10", "--out", str(npz)]) == 2
    assert cli.main(["gan", "sample", str(tmp_path / "nothing"), "--out", str(npz)]) == 2


def test_cli_train_and_resume(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--device", "cpu", "--no-progress", "--channels", "4", "--batch-size", "25", "--train-examples", "100"]
    assert cli.main(["gan", "train", "--dataset", "fashion-mnist", "--epochs", "1", "--out", str(out), *common]) == 0
    assert "completed: 1/1 epochs" in capsys.readouterr().out
    npz = tmp_path / "s.npz"
    assert cli.main(["gan", "sample", str(out), "--n", "5", "--label", "sneaker", "--out", str(npz)]) == 0
    assert np.load(npz)["labels"].tolist() == [7] * 5

    assert cli.main(["gan", "train", "--resume", str(out), "--arch", "mlp"]) == 2
    assert "only --epochs may be given" in capsys.readouterr().err
    assert cli.main(["gan", "train", "--resume", str(out), "--epochs", "2", "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs_done"] == 2


def test_cli_refuses_a_label_for_the_plain_gan(tiny_data, tmp_path, capsys):
    out = tmp_path / "plain"
    args = ["gan", "train", "--unconditional", "--epochs", "1", "--channels", "4", "--batch-size", "50"]
    assert cli.main([*args, "--train-examples", "100", "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    npz = tmp_path / "s.npz"
    assert cli.main(["gan", "sample", str(out), "--n", "10", "--out", str(npz)]) == 0
    assert "labels" not in np.load(npz).files
    capsys.readouterr()
    assert cli.main(["gan", "sample", str(out), "--n", "10", "--label", "3", "--out", str(npz), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("a3lab: error:") and "unconditional" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["gan", "train", "--unconditional", "--projection", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("kind", ["--conditional", "--unconditional"])
def test_cli_train_defaults_are_the_full_presets_configuration(dataset, kind):
    from a3lab.commands.gan import config_from_args
    from a3lab.gan.reproduce import PRESETS

    args = cli.build_parser().parse_args(["gan", "train", "--dataset", dataset, kind, "--out", "x"])
    preset = PRESETS["full"].config_for(dataset, conditional=kind == "--conditional")
    assert config_from_args(args).to_dict() == {**preset.to_dict(), "epochs": GANConfig().epochs}
    flags = ["gan", "train", "--dataset", dataset, "--arch", "dcgan", "--loss", "bce", "--no-projection", "--out", "x"]
    explicit = config_from_args(cli.build_parser().parse_args(flags))
    assert (explicit.arch, explicit.loss, explicit.projection) == ("dcgan", "bce", False)  # flags win


def test_cli_train_help_names_each_data_sets_best_configuration(capsys, monkeypatch):
    from a3lab.gan.config import describe_best

    monkeypatch.setenv("COLUMNS", "500")  # one line per flag
    with pytest.raises(SystemExit):
        cli.main(["gan", "train", "--help"])
    help_text = capsys.readouterr().out
    assert describe_best("arch") == "mlp on mnist, dcgan on fashion-mnist"
    for field in BEST_FIELDS:
        assert f"(default: {describe_best(field)})" in help_text
    assert "(default: 5)" in help_text and "(default: 0.0002)" in help_text  # GANConfig's defaults, not retyped


def test_cli_eval_prints_a_table_and_writes_json(tiny_run, judge, run_cli, tmp_path: Path, capsys):
    run = tiny_run(conditional=True)
    argv = ["gan", "eval", str(run), "--n", "60", "--real-n", "40", "--kid-subset-size", "20"]
    assert run_cli([*argv, "--kid-subsets", "3", "--cache-dir", str(tmp_path / "c"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "FID" in out and "real floor" in out and "eval.json" in out
    assert json.loads((run / "eval.json").read_text())["n_generated"] == 60
    assert run_cli([*argv, "--kid-subsets", "3", "--cache-dir", str(tmp_path / "c"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_real"] == 40


def test_cli_eval_errors_are_one_line_and_exit_2(run_cli, tmp_path: Path, capsys):
    assert run_cli(["gan", "eval", str(tmp_path / "missing")]) == 2
    assert "no run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(["gan", "eval", str(tmp_path / "empty")]) == 2
    assert "checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run_cli(["gan", "eval", str(tmp_path), "--n", "0"])
    assert e.value.code == 2


def test_cli_reproduce_overrides_the_preset_and_names_them(run_cli, monkeypatch: pytest.MonkeyPatch, capsys):
    from a3lab.commands import gan as commands

    seen = {}

    def fake_reproduce(preset, out, **kwargs):
        seen["preset"], seen["runs"] = preset, kwargs["runs"]
        return {"preset": preset.name, "seed": 0, "runs": {}, "images": []}

    monkeypatch.setattr(gan_reproduce, "reproduce", fake_reproduce)
    assert run_cli(["gan", "reproduce", "--preset", "full", "--arch", "dcgan", "--max-minutes", "10"]) == 0
    p = seen["preset"]
    assert (p.arch, p.max_minutes, p.epochs) == ("dcgan", 10.0, gan_reproduce.PRESETS["full"].epochs)
    assert p.options_for("fashion-mnist")["arch"] == p.options_for("mnist")["arch"] == "dcgan"  # all four runs
    assert p.name == "full, arch dcgan, max-minutes 10.0" and p.eval == gan_reproduce.PRESETS["full"].eval
    assert "full, arch dcgan" in capsys.readouterr().out
    assert (
        commands.reproduce_preset(
            argparse.Namespace(preset="quick", arch=None, loss=None, epochs=None, max_minutes=None)
        )
        is (gan_reproduce.PRESETS["quick"])
    )
    assert run_cli(["gan", "reproduce", "--preset", "full", "--loss", "hinge"]) == 0
    p = seen["preset"]
    assert p.name == "full, loss hinge" and p.config_for("fashion-mnist", True).arch == "dcgan"
    assert p.options_for("fashion-mnist")["loss"] == p.options_for("mnist")["loss"] == "hinge"
    assert run_cli(["gan", "reproduce", "--preset", "full", "--inception-n", "2000"]) == 0
    p = seen["preset"]
    assert (p.name, p.eval.inception, p.eval.inception_n) == ("full, inception-n 2000", True, 2000)
    assert gan_reproduce.PRESETS["full"].eval.inception_n == STANDARD_INCEPTION_N == 10_000
    with pytest.raises(SystemExit) as e:  # argparse's error: one line, exit 2
        run_cli(["gan", "reproduce", "--loss", "wasserstein"])
    assert e.value.code == 2 and "--loss" in capsys.readouterr().err
    assert run_cli(["gan", "reproduce", "--runs", "mnist-gan, fashion-mnist-cgan"]) == 0
    assert list(seen["runs"]) == ["mnist-gan", "fashion-mnist-cgan"]
    with pytest.raises(SystemExit) as e:
        run_cli(["gan", "reproduce", "--max-minutes", "0"])
    assert e.value.code == 2 and "--max-minutes: must be > 0" in capsys.readouterr().err


def test_full_preset_budgets_are_epochs_per_data_set(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    full = gan_reproduce.PRESETS["full"]
    assert full.config_for("mnist", True).epochs == 40 and full.config_for("fashion-mnist", True).epochs == 16
    seen = {}

    def fake_reproduce(preset, out, **kwargs):
        seen["preset"] = preset
        return {"preset": preset.name, "seed": 0, "runs": {}, "images": []}

    monkeypatch.setattr(gan_reproduce, "reproduce", fake_reproduce)
    assert run_cli(["gan", "reproduce", "--preset", "full", "--epochs", "3"]) == 0
    assert {seen["preset"].config_for(d, False).epochs for d in ("mnist", "fashion-mnist")} == {3}
