"""Values the parser accepts are values the code runs: seeds at their bound, counts against their split, lists
without repeats, and files or folders of the wrong kind named in one line with what to do.

Each case runs in-process through `a3lab.cli.main` (exit code 2 and one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from a3lab import cli
from a3lab.config import MAX_SEED, field_info
from a3lab.data import raw_files
from conftest import write_tiny_dataset

TINY_GAN = ["--arch", "mlp", "--epochs", "1", "--batch-size", "32", "--train-examples", "64", "--no-progress"]
VIDEO_TINY = {
    "tasks": ("first",), "models": ("gru",), "length": 3, "test_factors": (1, 2), "steps": 2, "batch_size": 4,
    "pretrain_steps": 1, "train_clips": 8, "test_clips": 4,
    "model": {"channels": (4, 8), "feature_dim": 8, "hidden_dim": 8},
}  # fmt: skip
CAPTIONS_TINY = {
    "models": ("ctc",), "steps": 2, "pretrain_steps": 1, "batch_size": 4, "train_per_length": 4, "test_per_length": 2,
    "model": {"channels": (4, 4, 8), "feature_dim": 8, "hidden_dim": 8, "beam_size": 1},
}  # fmt: skip


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------- seeds


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))
    yield prefix, parser


SEED_FLAGS = [
    (" ".join(prefix), action)
    for prefix, parser in _commands(cli.build_parser())
    for action in parser._actions
    if {"--seed", "--seeds"} & set(action.option_strings)
]


def test_every_command_that_runs_has_a_seed_flag() -> None:
    commands = {name for name, _ in SEED_FLAGS}
    assert len(commands) >= 14 and {"gan train", "classify video", "classify captions train"} <= commands


@pytest.mark.parametrize("command,action", SEED_FLAGS, ids=[name for name, _ in SEED_FLAGS])
def test_every_seed_flag_takes_0_to_max_seed_only(command: str, action: argparse.Action) -> None:
    assert action.type("0") == 0 and action.type(str(MAX_SEED)) == MAX_SEED
    for text in (str(MAX_SEED + 1), str(2**63 - 1), "100000000000000", "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be in 0 \.\. 4,294,967,295"):
            action.type(text)


CONFIGS = [
    "a3lab.classifiers.config:TrainConfig",
    "a3lab.classifiers.captions.config:CaptionConfig",
    "a3lab.classifiers.video.config:VideoConfig",
    "a3lab.classifiers.sequences.config:SequenceConfig",
    "a3lab.attention.bench_config:BenchConfig",
    "a3lab.attention.bench_config:SweepConfig",
    "a3lab.attention.task_config:TrainConfig",
    "a3lab.attention.task_config:LinformerErrorConfig",
    "a3lab.gan.config:GANConfig",
    "a3lab.gan.config:EvalConfig",
    "a3lab.gan.config:SampleConfig",
    "a3lab.rnn.config:LearnConfig",
]


@pytest.mark.parametrize("target", CONFIGS)
def test_every_config_seed_is_bounded_by_max_seed(target: str) -> None:
    module, name = target.split(":")
    info = field_info(getattr(importlib.import_module(module), name))["seed"]
    assert info.bounds.low == 0 and info.bounds.high == MAX_SEED


def test_a_config_seed_above_the_bound_is_refused_in_full_numbers() -> None:
    from a3lab.errors import UserError
    from a3lab.rnn.config import LearnConfig

    with pytest.raises(UserError, match=r"`seed` must be an integer in \[0, 4,294,967,295\]"):
        LearnConfig(seed=MAX_SEED + 1)


def test_no_other_config_has_a_seed_field() -> None:
    import a3lab.config as config_module

    listed = {t.split(":")[1] + "@" + t.split(":")[0] for t in CONFIGS}
    found = set()
    for cls in _all_subclasses(config_module.Checked):
        if any(f.name == "seed" for f in dataclasses.fields(cls)) and cls.__module__.startswith("a3lab."):
            found.add(f"{cls.__name__}@{cls.__module__}")
    assert found == listed, found ^ listed


def _all_subclasses(cls: type) -> set[type]:
    for target in CONFIGS:  # import every config module first
        importlib.import_module(target.split(":")[0])
    out, todo = set(), [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            out.add(sub)
            todo.append(sub)
    return out


def test_the_largest_seed_trains(tiny_data, tmp_path: Path, monkeypatch, capsys) -> None:
    """The seed mixes (seed * 1_000_003 in the GAN trainer, offsets in the data) stay inside torch's seeds."""
    from a3lab.classifiers.captions import config as captions_config
    from a3lab.classifiers.video import config as video_config

    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(video_config.PRESETS, "quick", VIDEO_TINY)
    monkeypatch.setitem(captions_config.PRESETS, "quick", CAPTIONS_TINY)
    seed = ["--seed", str(MAX_SEED), "--device", "cpu"]
    assert cli.main(["gan", "train", "--out", str(tmp_path / "g"), *TINY_GAN, *seed]) == 0
    assert cli.main(["classify", "video", "--out", str(tmp_path / "v"), *seed]) == 0
    assert cli.main(["classify", "captions", "train", "--out", str(tmp_path / "c"), *seed]) == 0


# ----------------------------------------------------------------------------- counts above a split


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("values")
    data = base / "data"
    write_tiny_dataset(data, "mnist")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("A3LAB_DATA", str(data))
        mp.setenv("A3LAB_HOME", str(base / "home"))
        assert cli.main(["gan", "train", "--out", str(base / "run"), *TINY_GAN]) == 0
    return base / "run", data


@pytest.mark.parametrize(
    "args,flag",
    [
        (["--inception", "--inception-n", "101"], "--inception-n"),  # the tiny test split holds 100
        (["--inception", "--inception-n", "20000"], "--inception-n"),
        (["--real-n", "101"], "--real-n"),
    ],
)
def test_gan_eval_refuses_counts_above_the_test_split(gan_run, args, flag, capsys, monkeypatch) -> None:
    run, data = gan_run
    monkeypatch.setenv("A3LAB_DATA", str(data))
    before = sorted(p.name for p in run.iterdir())
    argv = ["gan", "eval", str(run), "--n", "200", "--kid-subset-size", "50", *args]
    line = one_line(*run_main(argv, capsys)[::2])
    assert flag in line and "<= 100 (the mnist test split)" in line, line
    assert sorted(p.name for p in run.iterdir()) == before


def test_inception_reference_refuses_more_than_the_test_split(tiny_root: Path, tmp_path: Path) -> None:
    from a3lab.errors import UserError
    from a3lab.gan import evaluate

    with pytest.raises(UserError, match=r"`inception_n` must be <= 100"):
        evaluate.inception_reference("mnist", None, 101, root=tiny_root, cache_dir=tmp_path)


def test_gan_reproduce_refuses_inception_n_above_the_test_split(tmp_path: Path, capsys, monkeypatch) -> None:
    for name in ("mnist", "fashion-mnist"):
        write_tiny_dataset(tmp_path / "data", name)
    monkeypatch.setenv("A3LAB_DATA", str(tmp_path / "data"))
    out = tmp_path / "rep"
    line = one_line(*run_main(["gan", "reproduce", "--out", str(out), "--inception-n", "101"], capsys)[::2])
    assert "must be <= 100 (the mnist test split)" in line and not out.exists(), line


def test_linformer_error_refuses_more_examples_than_the_test_split(tiny_data) -> None:
    from a3lab.attention.task_config import TrainConfig
    from a3lab.attention.tasks import sample_tokens
    from a3lab.errors import UserError

    assert sample_tokens(TrainConfig(), 100).shape == (100, 784)
    with pytest.raises(UserError, match="`examples` must be <= 100"):
        sample_tokens(TrainConfig(), 101)


def test_a_damaged_inception_network_is_one_line_naming_it(tmp_path: Path, monkeypatch) -> None:
    from a3lab.errors import CheckpointError
    from a3lab.gan import metrics

    damaged = tmp_path / "default_1.pt"
    damaged.write_bytes(b"PK\x03\x04 not a TorchScript archive")
    monkeypatch.setattr(metrics, "inception_weights_path", lambda: damaged)
    with pytest.raises(CheckpointError) as e:
        metrics.InceptionFeatures()
    assert str(damaged) in str(e.value) and "--force-reinstall" in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- lists without repeats

REPEATS = [
    "classify sequences --tasks parity parity",
    "classify sequences --models gru gru",
    "classify sequences --lengths 20 20",
    "classify video --tasks first first",
    "classify video --models gru gru",
    "classify captions train --out {tmp} --models ctc ctc",
    "classify compare --models cnn cnn",
    "classify compare --datasets mnist mnist",
    "classify compare --seeds 1 1",
    "attention linformer-error --k 8,8",
    "attention bench --methods full,full",
    "attention bench --sizes 64,64",
    "report --only rnn,rnn",
    "gan reproduce --runs mnist-gan,mnist-gan",
]


@pytest.mark.parametrize("case", REPEATS)
def test_every_list_flag_refuses_a_repeated_item(case: str, tmp_path: Path, capsys) -> None:
    argv = [a.format(tmp=tmp_path / "out") for a in case.split()]
    line = one_line(*run_main(argv, capsys)[::2])
    assert "each item may appear once" in line and argv[-1].split(",")[0] in line, line
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- messages


@pytest.fixture
def strips_inputs(tmp_path: Path) -> dict[str, Path]:
    npy = tmp_path / "renamed.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros((1, 28, 56), dtype=np.uint8))
    text = tmp_path / "text.npz"
    text.write_text("0 1 2\n")
    return {"npy": npy, "text": text, "folder": tmp_path}


@pytest.mark.parametrize(
    "name,words",
    [("npy", "a single .npy array, not an .npz archive"), ("text", "not an .npz file"), ("folder", "is a folder")],
)
def test_strips_of_the_wrong_kind_are_named(strips_inputs, name: str, words: str, tmp_path: Path, capsys) -> None:
    argv = ["classify", "captions", "predict", str(tmp_path), "--images", str(strips_inputs[name])]
    line = one_line(*run_main(argv, capsys)[::2])
    assert words in line and "pickled" not in line and "context manager" not in line, line
    if name != "folder":
        assert "numpy.savez" in line


def test_a_data_folder_with_only_the_test_split_loads_it(tmp_path: Path) -> None:
    from a3lab.data import load_images
    from a3lab.errors import DataError

    write_tiny_dataset(tmp_path, "mnist")
    for path in raw_files("mnist", True).values():
        (tmp_path / path).unlink()
    images, labels = load_images("mnist", train=False, root=tmp_path)
    assert images.shape == (100, 28, 28) and labels.shape == (100,)
    with pytest.raises(DataError, match="A3LAB_DATA") as e:
        load_images("mnist", train=True, root=tmp_path)
    assert "download=True" not in str(e.value)


@pytest.mark.parametrize(
    "case,flag",
    [
        ("attention train --task long-range --length 64 --span 8 --kind sliding --window 1048576", "--window"),
        ("attention train --task pixel-mnist --kind sliding --window 785", "--window"),
        ("attention bench --sizes 64 --window 1048576 --methods full,sliding-blocked", "--window"),
    ],
)
def test_a_window_wider_than_the_sequence_is_refused(case: str, flag: str, capsys) -> None:
    line = one_line(*run_main(case.split(), capsys)[::2])
    assert flag in line and "out of memory" not in line, line


def test_resume_on_another_commands_folder_advises_a_new_folder(tmp_path: Path) -> None:
    from a3lab.errors import CheckpointError
    from a3lab.gan import checkpoint

    (tmp_path / "run.json").write_text(json.dumps({"format": 2}))
    (tmp_path / "models").mkdir()
    with pytest.raises(CheckpointError, match="--out NEW_FOLDER") as e:
        checkpoint.resume_config(tmp_path)
    assert "--force" not in str(e.value)


@pytest.mark.parametrize(
    "sizes",
    ["--mlp-ratio 99999999999999999999", "--mlp-ratio 1000000 --dim 64", "--dim 1000000", "--depth 100000",
     "--length 100000000"],
)  # fmt: skip
def test_an_attention_model_too_large_to_allocate_is_refused_before_any_work(sizes: str, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    case = f"attention train --task long-range --kind sliding --out {out} {sizes}"
    line = one_line(*run_main(case.split(), capsys)[::2])
    assert "weights, more than 268,435,456" in line and "--dim, --depth, --mlp-ratio" in line, line
    assert not out.exists()


def test_sigterm_while_the_commands_import_is_one_line_and_exit_130(monkeypatch, capsys) -> None:
    import os
    import signal
    import time

    def slow_imports():  # SIGTERM arrives while the parser's command modules are still importing
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the start")

    monkeypatch.setattr(cli, "build_parser", slow_imports)
    code, _, err = run_main(["rnn", "run", "1"], capsys)
    assert code == 130 and err.strip() == "a3lab: interrupted by SIGTERM", err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize(
    "case,flag",
    [
        ("classify video --train-clips 100000000", "--train-clips"),
        ("classify video --test-clips 100000000", "--test-clips"),
        ("classify captions train --out {out} --train-per-length 100000000", "--train-per-length"),
        ("classify captions train --out {out} --test-per-length 100000000", "--test-per-length"),
        ("classify captions train --out {out} --batch-size 100000000", "--batch-size"),
        ("classify video --batch-size 100000000", "--batch-size"),
        ("classify sequences --batch-size 100000000", "--batch-size"),
        ("classify sequences --hidden-size 100000000", "--hidden-size"),
        ("classify sequences --eval-size 100000000", "--eval-size"),
        ("attention train --task long-range --batch-size 100000000", "--batch-size"),
        ("attention train --task long-range --eval-batch-size 100000000", "--eval-batch-size"),
    ],
)
def test_a_clip_or_strip_count_beyond_memory_is_refused_naming_the_flag(case, flag, tmp_path, capsys) -> None:
    line = one_line(*run_main(case.format(out=tmp_path / "run").split(), capsys)[::2])
    assert f"argument {flag}: must be in 1 .. " in line and "out of memory" not in line, line
