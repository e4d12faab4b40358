import subprocess
import sys

import pytest

from a3lab import __version__, cli
from a3lab.cli import AREAS, main


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"a3lab {__version__}"


def test_help_lists_every_area(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for area in AREAS:
        assert f"    {area}" in out


def test_unknown_area_is_one_line_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "invalid choice" in err[0]


def test_console_script_starts_without_importing_torch() -> None:
    code = "import sys, a3lab.cli; a3lab.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "a3lab --help must stay fast: no torch import at parser build time"


def test_python_dash_m_runs_the_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "a3lab", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


def test_flag_names_replace_backticked_parameters_with_the_commands_flags() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["attention", "linformer-error"])
    command = cli.command_parser(parser, args)
    assert command.prog == "a3lab attention linformer-error"
    message = "`ks` must be positive; `train_steps` >= 0; `examples` ok; `image_shape` stays a name"
    assert (
        cli.flag_names(message, command)
        == "--k must be positive; --train-steps >= 0; --examples ok; image_shape stays a name"
    )


def test_a_user_error_is_one_line_with_the_flag_and_exit_2(capsys) -> None:
    assert main(["rnn", "run", "--values=1,,2"]) == 2
    err = capsys.readouterr().err
    assert err == "a3lab: error: --values must be numbers separated by commas, without empty items, got '1,,2'\n"


def test_an_internal_value_error_is_a_bug_with_traceback_and_exit_1(monkeypatch, capsys) -> None:
    from a3lab.commands import data

    monkeypatch.setattr(data, "cmd_info", lambda args: int("not a number"))
    assert main(["data", "info"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "invalid literal for int()" in err
    assert err.strip().splitlines()[-1] == cli.BUG_LINE


def test_a_broken_command_module_is_not_hidden(monkeypatch) -> None:
    import importlib

    real = importlib.import_module

    def broken(name, *args):
        if name == "a3lab.commands.gan":
            raise ModuleNotFoundError("No module named 'a3lab.gan.nothere'", name="a3lab.gan.nothere")
        return real(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="nothere"):
        cli.build_parser()


def test_help_defaults_come_from_the_dataclasses(capsys) -> None:
    from a3lab.rnn import AlternatingRNNConfig, LearnConfig

    with pytest.raises(SystemExit):
        main(["rnn", "learn", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"training steps (default: {LearnConfig().steps})" in out
    assert f"Adam learning rate (default: {LearnConfig().lr})" in out
    with pytest.raises(SystemExit):
        main(["rnn", "run", "--help"])
    assert f"(default: {AlternatingRNNConfig().gain})" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "text,ok",
    [("1", True), ("0", False), ("-3", False), ("1e9", False), ("nan", False), ("x", False)],
)
def test_threads_and_counts_are_bounded(text: str, ok: bool) -> None:
    import argparse

    from a3lab.commands import max_threads, thread_count

    if ok:
        assert thread_count(text) == int(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            thread_count(text)
    with pytest.raises(argparse.ArgumentTypeError, match="must be in 1"):
        thread_count(str(max_threads() + 1))


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "0", "abc", ""])
def test_positive_float_refuses_non_finite_and_non_positive(text: str) -> None:
    import argparse

    from a3lab.commands import positive_float

    with pytest.raises(argparse.ArgumentTypeError):
        positive_float(text)


@pytest.mark.parametrize("text", ["", " ", "a,,b", "a,", ",a"])
def test_word_list_refuses_empty_items(text: str) -> None:
    import argparse

    from a3lab.commands import word_list

    with pytest.raises(argparse.ArgumentTypeError):
        word_list(text)
    assert word_list(" a, b ") == ("a", "b")


def test_an_os_error_the_user_can_fix_is_one_line_naming_the_file(monkeypatch, capsys) -> None:
    import errno
    import os

    from a3lab.commands import data

    def refused(args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/read-only/run/x.json")

    monkeypatch.setattr(data, "cmd_info", refused)
    assert main(["data", "info"]) == 2
    assert capsys.readouterr().err == "a3lab: error: /read-only/run/x.json: Permission denied\n"

    def bad_descriptor(args):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    monkeypatch.setattr(data, "cmd_info", bad_descriptor)
    assert main(["data", "info"]) == 1
    assert capsys.readouterr().err.strip().endswith(cli.BUG_LINE)
