"""Bad and careless input over every area: exit code 2, one line on stderr, no traceback, nothing overwritten.

Each case runs in-process through `a3lab.cli.main`; a few run in a subprocess for the real exit codes. Placeholders
in the arguments (`{file}`, `{full}`, `{run}`, ...) name the paths the `paths` fixture prepares.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from a3lab import cli
from a3lab.data import raw_files, write_idx
from a3lab.gan.folder import RUN
from a3lab.runs import LOCK_NAME, open_run
from conftest import write_tiny_dataset

# A tiny GAN run: 2 steps of the MLP pair on 64 images.
TINY_GAN = ["--arch", "mlp", "--epochs", "1", "--batch-size", "32", "--train-examples", "64", "--no-progress"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Data and output paths shared by the cases (the trained runs are made once)."""
    base = tmp_path_factory.mktemp("bad")
    data = base / "data"
    for name in ("mnist", "fashion-mnist"):
        write_tiny_dataset(data, name)
    bad_labels = base / "bad_labels"
    write_tiny_dataset(bad_labels, "mnist")
    labels = bad_labels / raw_files("mnist", True)["labels"]
    write_idx(labels, [200] + [1] * 199)  # a label far outside 0..9
    file = base / "a_file.txt"
    file.write_text("not a folder\n")
    (base / "old.json").write_text("{}\n")
    full = base / "full"
    full.mkdir()
    (full / "keep.txt").write_text("a user's file\n")
    empty = base / "empty"
    empty.mkdir()
    (base / "folder.png").mkdir()
    (base / "dangling").symlink_to(base / "nowhere" / "x.json")
    garbage = base / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    other = base / "other_kind" / "checkpoint.pt"
    other.parent.mkdir()
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("A3LAB_DATA", str(data))
        run, unc = base / "run", base / "unc"
        assert cli.main(["gan", "train", "--out", str(run), *TINY_GAN]) == 0
        assert cli.main(["gan", "train", "--out", str(unc), "--unconditional", *TINY_GAN]) == 0
    return {
        "data": str(data), "bad_labels": str(bad_labels), "file": str(file), "full": str(full),
        "empty": str(empty), "garbage": str(garbage), "other": str(other.parent), "run": str(run), "unc": str(unc),
        "new": str(base / "new"), "dir_png": str(base / "folder.png"), "dangling": str(base / "dangling"),
        "under_file": str(file / "sub"), "json": str(base / "old.json"),
        "proc": "/proc/a3lab-test/x",
    }  # fmt: skip


CASES = {
    "cli": [
        "nonsense",
        "rnn",
        "gan nonsense",
    ],
    "data": [
        "data info --dataset nope",
        "data info --root {new}",
        "data info --root {file}",
        "data info --dataset mnist --root {bad_labels}",
    ],
    "rnn run": [
        "rnn run 1 2 --gain nan",
        "rnn run 1 2 --gain inf",
        "rnn run 1 2 --gain -500",
        "rnn run 1 2 --gain 0",
        "rnn run 1 2 --gain abc",
        "rnn run --values=1,,2",
        "rnn run --values=",
        "rnn run --values=1,x",
        "rnn run 1 nan",
        "rnn run 1 inf",
        "rnn run 1 2 --h0 nan",
        "rnn run 1 2 --h0 x",
        "rnn run",
    ],
    "rnn learn": [
        "rnn learn --lr inf",
        "rnn learn --lr nan",
        "rnn learn --lr -1",
        "rnn learn --lr 0",
        "rnn learn --steps 0",
        "rnn learn --steps -5",
        "rnn learn --steps 1e9",
        "rnn learn --steps 99999999999",
        "rnn learn --batch-size 0",
        "rnn learn --batch-size 1000000000",
        "rnn learn --max-length 0",
        "rnn learn --seed -1",
        "rnn learn --seed x",
        "rnn learn --out {empty}",
        "rnn learn --out {file}",
        "rnn learn --out {under_file}",
        "rnn learn --out {proc}",
        "rnn learn --out ''",
        "rnn learn --out {dangling}",
        "rnn learn --steps 2 --batch-size 4 --lr 1e30",
    ],
    "classify train": [
        "classify train --epochs 0",
        "classify train --epochs nan",
        "classify train --batch-size 0",
        "classify train --batch-size 1000000000",
        "classify train --lr nan",
        "classify train --lr inf",
        "classify train --lr -1",
        "classify train --train-examples 0",
        "classify train --train-examples 100000 --out {new}",
        "classify train --threads 0",
        "classify train --threads 100000",
        "classify train --seed -1",
        "classify train --model gru --install",
        "classify train --dataset nope",
        "classify train --out {file}",
        "classify train --out {under_file}",
        "classify train --out ''",
        "classify train --out=",
    ],
    "classify eval": [
        "classify eval {new}/missing.safetensors --dataset mnist",
        "classify eval {garbage} --dataset mnist",
        "classify eval {garbage}",
        "classify eval {garbage} --threads 100000",
    ],
    "classify compare": [
        "classify compare --seeds -1",
        "classify compare --out {file}",
        "classify compare --threads 0",
        "classify compare --epochs 0",
        "classify compare --lr nan",
    ],
    "classify sequences": [
        "classify sequences --steps 0",
        "classify sequences --lengths 0",
        "classify sequences --eval-size 0",
        "classify sequences --threads 100000",
        "classify sequences --out {file}",
        "classify sequences --seed -1",
        "classify sequences --tasks nope",
    ],
    "classify video": [
        "classify video --steps 0",
        "classify video --length 1000000000",
        "classify video --threads 100000",
        "classify video --out {file}",
    ],
    "attention bench": [
        "attention bench --sizes ''",
        "attention bench --sizes 0",
        "attention bench --sizes 1,,2",
        "attention bench --sizes 99999999999",
        "attention bench --methods ''",
        "attention bench --methods full,,linformer",
        "attention bench --methods nope --out {new}",
        "attention bench --heads 0",
        "attention bench --heads 1000000",
        "attention bench --threads 100000",
        "attention bench --threads -1",
        "attention bench --repeats 0",
        "attention bench --window 0",
        "attention bench --clock x",
        "attention bench --matmul-size 1000000",
        "attention bench --out {file}",
    ],
    "attention train": [
        "attention train",
        "attention train --task nope",
        "attention train --task pixel-mnist --steps 0",
        "attention train --task pixel-mnist --lr nan",
        "attention train --task pixel-mnist --batch-size 0",
        "attention train --task pixel-mnist --kind full --steps 1 --batch-size 4 --train-examples 100000",
        "attention train --task pixel-mnist --kind full --steps 1 --batch-size 4 --train-examples 8 "
        "--test-examples 100000",
        "attention train --task pixel-mnist --dim 1000000",
        "attention train --task pixel-mnist --kind full --dim 33 --heads 2",
        "attention train --task pixel-mnist --kind sliding-global --readout mean",
        "attention train --task long-range --kind full --length 64 --span 1000",
        "attention train --task pixel-mnist --k 0",
        "attention train --task pixel-mnist --seed -1",
        "attention train --task pixel-mnist --kind full --steps 1 --out {file}",
        "attention train --task pixel-mnist --kind full --steps 1 --out {full}",
    ],
    "attention linformer-error": [
        "attention linformer-error --k ''",
        "attention linformer-error --k 0",
        "attention linformer-error --k a",
        "attention linformer-error --k 8,,16",
        "attention linformer-error --k 100000",
        "attention linformer-error --projection x",
        "attention linformer-error --examples 0",
        "attention linformer-error --train-steps -1",
        "attention linformer-error --out {empty}",
        "attention linformer-error --out {file}",
        "attention linformer-error --plot {empty}",
        "attention linformer-error --out {proc}",
        "attention linformer-error --checkpoint {new}/missing.pt",
        "attention linformer-error --checkpoint {garbage}",
    ],
    "gan train": [
        "gan train --out {new} --epochs 0",
        "gan train --out {new} --batch-size 1",
        "gan train --out {new} --batch-size 1000000000",
        "gan train --out {new} --latent-dim 1000000000",
        "gan train --out {new} --channels 1000000",
        "gan train --out {new} --lr nan",
        "gan train --out {new} --lr -1",
        "gan train --out {new} --beta1 1",
        "gan train --out {new} --ema-decay 1.5",
        "gan train --out {new} --lr-decay 2",
        "gan train --out {new} --max-minutes 0",
        "gan train --out {new} --max-minutes nan",
        "gan train --out {new} --train-examples 100000",
        "gan train --out {new} --projection --unconditional",
        "gan train --out {new} --seed -1",
        "gan train --out {new} --dataset nope",
        "gan train --out {file}",
        "gan train --out {under_file}",
        "gan train --out {full}",
        "gan train --out {run}",
        "gan train",
        "gan train --resume {new}",
        "gan train --resume {empty}",
        "gan train --resume {file}",
        "gan train --resume {run} --seed 5",
        "gan train --resume {run} --lr 0.1",
        "gan train --resume {run} --force",
        "gan train --resume {run} --epochs 0",
        "gan train --resume {other}",
    ],
    "gan sample": [
        "gan sample {run} --out {new}/x.png --n 0",
        "gan sample {run} --out {new}/x.png --n 1000000000",
        "gan sample {run} --out {new}/x.png --seed -1",
        "gan sample {run} --out {new}/x.txt",
        "gan sample {run} --out {run}/grid_latest.png",
        "gan sample {run} --out {dir_png}",
        "gan sample {run} --out {under_file}.png",
        "gan sample {run} --out {new}/x.png --label 11",
        "gan sample {run} --out {new}/x.png --label nope",
        "gan sample {unc} --out {new}/x.png --label 3",
        "gan sample {new} --out {new}/x.png",
        "gan sample {empty} --out {new}/x.png",
        "gan sample {run} --out {new}/x.png --batch-size 0",
    ],
    "gan eval": [
        "gan eval {new}",
        "gan eval {run} --n 0",
        "gan eval {run} --kid-subset-size 1e9",
        "gan eval {run} --n 200 --kid-subset-size 5000",
        "gan eval {run} --k 0",
        "gan eval {run} --real-n 1",
        "gan eval {run} --real-n 100000",
        "gan eval {run} --seed -1",
        "gan eval {run} --cache-dir {file}",
    ],
    "gan reproduce": [
        "gan reproduce --runs nope --out {new}",
        "gan reproduce --runs ''",
        "gan reproduce --runs mnist-gan,,",
        "gan reproduce --epochs 0",
        "gan reproduce --max-minutes -1",
        "gan reproduce --max-minutes nan",
        "gan reproduce --out {file}",
        "gan reproduce --out {full}",
        "gan reproduce --preset x",
        "gan reproduce --seed -1",
    ],
    "report": [
        "report --only ''",
        "report --only nosuchsection --out {new}",
        "report --only nosuchsection --list",
        "report --only rnn,,gan",
        "report --out {file} --only rnn",
        "report --preset x",
        "report --threads 100000",
        "report --seed -1",
    ],
    "run folders": [
        "report --only rnn --out {full}",
        "report --only rnn --out {run}",
        "report --only rnn --out {run} --force",
        "classify video --out {run} --force",
        "classify captions train --out {run} --force",
        "classify captions train --out {proc}",
        "attention bench --out {run} --force",
        "gan eval {full}",
        "attention linformer-error --out {new}/le2.json --plot {new}/le2.json",
        "attention linformer-error --plot {new}/le.jpg",
        "attention linformer-error --out {new}/le.png",
        "rnn learn --out {new}/learn.txt",
    ],
}
ALL = [(area, case) for area, cases in CASES.items() for case in cases]


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _argv(case: str, paths: dict[str, str]) -> list[str]:
    import shlex

    return [arg.format(**paths) for arg in shlex.split(case)]


def test_there_are_enough_cases() -> None:
    assert len(ALL) >= 120
    areas = {case.split()[0] for _, case in ALL}
    assert areas >= {"data", "rnn", "classify", "attention", "gan", "report"}


@pytest.mark.parametrize("area,case", ALL, ids=[f"{a}: {c}" for a, c in ALL])
def test_bad_input_is_one_line_exit_2(
    area: str, case: str, paths: dict[str, str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A3LAB_DATA", paths["data"])
    monkeypatch.setenv("A3LAB_OFFLINE", "1")
    monkeypatch.setenv("A3LAB_HOME", str(Path(paths["new"]).parent / "home"))
    monkeypatch.setenv("A3LAB_PROGRESS", "0")  # `report` sets it for the process
    before = sorted(p.name for p in Path(paths["run"]).iterdir())
    code, _, err = run_main(_argv(case, paths), capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "bug" not in err
    assert not Path(paths["new"]).exists(), "a failed start must remove the folder it created"
    assert sorted(p.name for p in Path(paths["run"]).iterdir()) == before
    assert (Path(paths["full"]) / "keep.txt").read_text() == "a user's file\n"


@pytest.mark.parametrize(
    "case,words",
    [
        ("rnn run 1 2 --gain nan", ["--gain", "finite"]),
        ("rnn learn --out {json}", ["--out", "exists", "--force"]),
        ("rnn learn --out {file}", ["--out", "must end in .json"]),
        ("rnn learn --out {proc}.json", ["--out", "/proc"]),
        ("classify train --threads 100000", ["--threads"]),
        ("gan train --out {run}", ["--out", "not empty", "--resume", "--force"]),
        ("gan train --resume {run} --seed 5", ["--seed"]),
        ("gan train --resume {run} --epochs 0", ["--epochs"]),
        ("gan train --resume {other}", ["not a GAN training checkpoint"]),
        ("gan train --resume {empty}", ["nothing to resume", "--force"]),
        ("gan train --out {new} --latent-dim 1000000000", ["--latent-dim"]),
        ("gan sample {run} --out {new}/x.png --seed -1", ["--seed"]),
        ("gan eval {run} --n 200 --kid-subset-size 5000", ["--kid-subset-size", "--n"]),
        ("attention train --task pixel-mnist --kind full --dim 33 --heads 2", ["--dim", "--heads"]),
        ("attention linformer-error --k 100000", ["--k"]),
        ("report --only ''", ["--only"]),
        ("data info --dataset mnist --root {bad_labels}", ["labels-idx1-ubyte", "0..9"]),
    ],
)
def test_the_line_names_the_flag_or_file(
    case: str, words: list[str], paths: dict[str, str], capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.setenv("A3LAB_DATA", paths["data"])
    code, _, err = run_main(_argv(case, paths), capsys)
    assert code == 2
    for word in words:
        assert word in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["rnn", "run", "1", "2", "--gain", "nan"],
        ["rnn", "learn", "--threads", "1"],  # no such flag: argparse
        ["classify", "train", "--threads", "100000"],
        ["gan", "sample", "/nonexistent/run", "--out", "/tmp/a3lab-never.png"],
        ["report", "--only", ""],
    ],
)
def test_real_exit_codes_in_a_subprocess(argv: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "a3lab", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_bug_prints_its_traceback_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from a3lab.commands import rnn

    def broken(args):
        raise ValueError("an internal mistake, not the user's")

    monkeypatch.setattr(rnn, "cmd_run", broken)
    code, _, err = run_main(["rnn", "run", "1"], capsys)
    assert code == 1
    assert "Traceback" in err and "an internal mistake" in err and err.strip().endswith(cli.BUG_LINE)


# ----------------------------------------------------------------------------- overwrite, lock, temp files, disk


def test_classify_train_refuses_to_overwrite_a_run_unless_forced(tiny_data, tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    argv = ["classify", "train", "--model", "mlp", "--epochs", "1", "--train-examples", "64", "--out", str(out)]
    assert cli.main(argv) == 0
    weights = out / "mnist-mlp-seed0.safetensors"
    first = weights.read_bytes()
    capsys.readouterr()
    code, _, err = run_main([*argv, "--lr", "0.01"], capsys)
    assert code == 2 and "exists" in err and "--force" in err
    assert weights.read_bytes() == first
    assert cli.main([*argv, "--lr", "0.01", "--force"]) == 0
    assert weights.read_bytes() != first


def test_attention_train_refuses_a_non_empty_folder(tiny_data, tmp_path: Path, capsys) -> None:
    out = tmp_path / "att"
    argv = ["attention", "train", "--task", "pixel-mnist", "--kind", "full", "--steps", "1", "--batch-size", "4"]
    argv += ["--train-examples", "8", "--test-examples", "8", "--dim", "8", "--heads", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    results = (out / "results.json").read_text()
    capsys.readouterr()
    code, _, err = run_main([*argv[:5], "linformer", *argv[6:]], capsys)
    assert code == 2 and "not empty" in err
    assert (out / "results.json").read_text() == results
    assert not (out / LOCK_NAME).exists()


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    with open_run(out, RUN):
        code, _, err = run_main(["gan", "train", "--resume", str(out)], capsys)
        assert code == 2 and f"pid {os.getpid()}" in err and "in use" in err
        code, _, err = run_main(["gan", "train", "--out", str(out), "--force"], capsys)
        assert code == 2 and f"pid {os.getpid()}" in err
    assert not (out / LOCK_NAME).exists()


def test_the_os_releases_the_lock_of_a_killed_holder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    holder = textwrap.dedent(f"""
        import sys, time
        from a3lab.gan.folder import RUN
        from a3lab.runs import open_run
        with open_run({str(out)!r}, RUN):
            print("held", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        code, _, err = run_main(["gan", "train", "--resume", str(out)], capsys)
        assert code == 2 and f"pid {child.pid}" in err
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert (out / LOCK_NAME).exists()  # a killed holder leaves the file, but not the lock
    with open_run(out, RUN, resume=True) as run:
        assert run.path == out
    assert not (out / LOCK_NAME).exists()


def test_an_interrupted_first_checkpoint_is_cleaned_and_explained(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}\n")
    orphan = out / ".checkpoint.pt.k3j2x9.tmp"
    orphan.write_bytes(b"half a checkpoint")
    code, _, err = run_main(["gan", "train", "--resume", str(out)], capsys)
    assert code == 2 and "interrupted" in err and orphan.name in err and f"--out {out} --force" in err
    assert not orphan.exists()
    assert len(err.strip().splitlines()) == 1


def test_a_full_disk_during_a_checkpoint_is_one_line_and_the_old_one_stays(
    tiny_data, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert cli.main(["gan", "train", "--out", str(out), *TINY_GAN]) == 0
    checkpoint = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    real_write_bytes = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if self.name.startswith(".checkpoint.pt."):
            real_write_bytes(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    code, _, err = run_main(["gan", "train", "--resume", str(out), "--epochs", "2", "--no-progress"], capsys)
    assert code == 2 and "No space left on device" in err and "checkpoint.pt" in err and "intact" in err
    assert "epoch 1" in err and f"--resume {out}" in err
    assert len(err.strip().splitlines()) == 1
    assert (out / "checkpoint.pt").read_bytes() == checkpoint
    assert not list(out.glob(".*.tmp"))


def test_a_failed_start_removes_the_folder_it_created(tiny_data, tmp_path: Path, capsys) -> None:
    root = tmp_path / "bad"
    write_tiny_dataset(root, "mnist")
    write_idx(root / raw_files("mnist", True)["labels"], [12] * 200)
    os.environ["A3LAB_DATA"] = str(root)  # tiny_data's monkeypatch restores it
    out = tmp_path / "nested" / "run"
    code, _, err = run_main(["gan", "train", "--out", str(out), *TINY_GAN], capsys)
    assert code == 2 and "label" in err
    assert not (tmp_path / "nested").exists()


@pytest.mark.slow  # two GAN starts in real processes; tests/test_gan.py covers the signal handling in-process
def test_sigterm_leaves_a_resumable_run(tiny_data, tmp_path: Path) -> None:
    """SIGTERM stops training with a checkpoint and releases the folder; --resume continues it."""
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "a3lab", "gan", "train", "--out", str(out), *TINY_GAN]
    argv[argv.index("--epochs") + 1] = "1000"
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert not (out / LOCK_NAME).exists()
    assert cli.main(["gan", "train", "--resume", str(out), "--epochs", "1000", "--max-minutes", "0.001"]) == 0
