"""a3lab.commands.rnn: `a3lab rnn run|learn` in-process."""

import json
import math

import pytest

from a3lab.cli import main
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig


def test_cli_run_table_and_verdict(capsys) -> None:
    assert main(["rnn", "run", "1", "2", "3", "4", "--h0", "0"]) == 0
    out = capsys.readouterr().out
    assert "h_4 = x_4 - x_3 + x_2 - x_1 + h_0" in out
    assert "= 4 - 3 + 2 - 1 + 0 = 2" in out
    assert "recurrence:  h_4 = 2  (agrees with the closed form)" in out
    assert "even-position inputs + h_0 = 6 > odd-position inputs = 4, so y_4 = sigmoid(500 * 2)" in out
    assert "about 1" in out


def test_cli_run_negative_values(capsys) -> None:
    assert main(["rnn", "run", "--", "-3", "5", "2", "-1"]) == 0
    assert main(["rnn", "run", "--values=-3,5,2,-1"]) == 0
    outs = capsys.readouterr().out
    assert outs.count("= (-1) - 2 + 5 - (-3) + 0 = 5") == 2


def test_cli_run_odd_length_tie_and_gain(capsys) -> None:
    assert main(["rnn", "run", "1", "2", "3", "--h0", "2", "--gain", "3", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "The network: h_t = x_t - h_(t-1)" in out
    assert "h_3 = x_3 - x_2 + x_1 - h_0" in out and "= 3 - 2 + 1 - 2 = 0" in out
    assert "odd-position inputs = 4 = even-position inputs + h_0 = 4, so y_3 = sigmoid(3 * 0) = 0.5000" in out
    assert "0.5 (a tie)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["rnn", "run"],
        ["rnn", "run", "1", "x"],
        ["rnn", "run", "1", "--h0", "nan"],
        ["rnn", "run", "1", "--values", "2,,3"],
    ],
)
def test_cli_run_bad_input_is_one_line_exit_2(argv, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("a3lab: error:")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["rnn", "run", "1", "--gain", "0"], "argument --gain: must be in (0, 1e+06], got 0"),
        (["rnn", "learn", "--steps", "0"], "argument --steps: must be in 1 .. 10,000,000, got 0"),
        (["rnn", "learn", "--batch-size", "x"], "argument --batch-size: expected an integer, got 'x'"),
        (["rnn", "learn", "--max-length", "1"], "argument --max-length: must be in 2 .. 10,000, got 1"),
        (["rnn", "learn", "--lr", "-1"], "argument --lr: must be > 0, got -1"),
    ],
)
def test_generated_flags_refuse_out_of_bounds_in_one_line(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and message in err[0]


def test_help_comes_from_the_configs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["rnn", "learn", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"--steps STEPS training steps (default: {LearnConfig().steps})" in out
    assert f"sequences per step (default: {LearnConfig().batch_size})" in out
    assert f"Adam learning rate (default: {LearnConfig().lr})" in out
    assert "--eval-size" not in out and "--min-length" not in out  # only the fields the command offers
    with pytest.raises(SystemExit):
        main(["rnn", "run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"output gain g in y = sigmoid(g h), > 0 (default: {AlternatingRNNConfig().gain})" in out
    assert "--w-h" not in out


def test_cli_learn_writes_json_with_the_given_flags(tmp_path, capsys) -> None:
    out = tmp_path / "learn.json"
    argv = ["rnn", "learn", "--steps", "20", "--batch-size", "16", "--lr", "0.1", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    assert set(r["learned"]) == {"w_x", "w_h", "b"} and math.isfinite(r["learned"]["w_h"])
    assert {k: r["config"][k] for k in ("steps", "batch_size", "lr", "seed", "max_length")} == {
        "steps": 20,
        "batch_size": 16,
        "lr": 0.1,
        "seed": 3,
        "max_length": LearnConfig().max_length,
    }
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(argv) == 2  # no silent overwrite without --force
    assert "--out" in capsys.readouterr().err
