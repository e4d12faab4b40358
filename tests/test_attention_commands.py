"""a3lab.commands.attention: `a3lab attention bench|train|linformer-error`, in process, at tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from a3lab.cli import main


def test_cli_bench_writes_json_and_rejects_bad_flags(tmp_path) -> None:
    flags = ["--sizes", "64,128", "--heads", "2", "--head-dim", "8", "--window", "8", "--linformer-k", "32",
             "--matmul-size", "128"]  # fmt: skip
    code = main(["attention", "bench", *flags, "--methods", "full,sliding-blocked", "--repeats", "1", "--no-memory",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    saved = json.loads((tmp_path / "attention_bench.json").read_text())
    assert {r["n"] for r in saved["rows"]} == {64, 128}
    assert main(["attention", "bench", "--methods", "sliding-fast", "--no-memory", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["attention", "bench", "--window", "0"])
    assert exc.value.code == 2


def test_cli_train_and_linformer_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    args = ["attention", "train", "--task", "long-range", "--kind", "full", "--steps", "2", "--batch-size", "4"]
    args += ["--length", "40", "--span", "9", "--window", "4", "--dim", "8", "--test-examples", "8"]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["full"]["steps"] == 2
    assert (out / "long-range_full.pt").is_file()
    err_json = tmp_path / "err.json"
    args = ["attention", "linformer-error", "--checkpoint", str(out / "long-range_full.pt"), "--k", "4,41"]
    code = main([*args, "--examples", "4", "--out", str(err_json), "--plot", str(tmp_path / "err.png")])
    assert code == 0
    err = json.loads(err_json.read_text())
    assert err["k"] == [4, 41] and err["trained"][1] < 1e-6  # 40 tokens + CLS: K = N is exact
    assert (tmp_path / "err.png").stat().st_size > 1000
    capsys.readouterr()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--task", "long-range", "--kind", "sliding-dilated", "--dilation", "1"], "--dilation >= 2"),
        (["train", "--task", "long-range", "--length", "64", "--span", "8", "--kind", "linformer", "--k", "66"], "--k"),
        (["linformer-error", "--k", "8,x"], "--k must be comma-separated"),
        (["linformer-error", "--k", "8,900"], "--k values"),
        (["linformer-error", "--checkpoint", "missing.pt"], "checkpoint not found"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(args: list, message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["attention", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("a3lab: error:") and message in err and "\n" not in err


def test_cli_rejects_a_zero_window(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["attention", "train", "--task", "long-range", "--window", "0"])
    assert exc.value.code == 2
    assert "--window" in capsys.readouterr().err
