"""a3lab.commands.flags: CLI flags generated from config dataclasses, and the overrides they give."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from a3lab.commands import ArgumentParser, add_threads, apply_threads
from a3lab.commands.flags import add_flags, overrides
from a3lab.config import Checked, option, replace


@dataclass
class Model(Checked):
    window: int = option(4, low=1, high=64)
    """tokens each query sees"""
    kind: Literal["full", "band"] = "full"
    """attention kind"""


@dataclass
class Train(Checked):
    steps: int = option(10, low=1)
    """optimiser steps"""
    lr: float = option(0.1, low=0, low_open=True)
    """learning rate, 100% of the base"""
    lengths: tuple[int, ...] = option((2, 3), low=1)
    """test lengths"""
    amp: bool = False
    """mixed precision"""
    budget: int | None = option(None, low=1, default_text="the data set's size")
    """examples per epoch"""
    hidden: int = option(0, cli=False)
    """not a flag"""
    model: Model = field(default_factory=Model)


def parser_for(cls: type = Train, **kwargs) -> tuple[ArgumentParser, list[str]]:
    parser = ArgumentParser(prog="a3lab test")
    return parser, add_flags(parser, cls, **kwargs)


def parse_error(parser: argparse.ArgumentParser, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as e:
        parser.parse_args(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1
    return err[0]


def test_one_kebab_case_flag_per_cli_field_nested_included() -> None:
    parser, added = parser_for()
    assert added == ["steps", "lr", "lengths", "amp", "budget", "window", "kind"]
    flags = {s for a in parser._actions for s in a.option_strings}
    assert {"--steps", "--lr", "--lengths", "--amp", "--no-amp", "--budget", "--window", "--kind"} <= flags
    assert "--hidden" not in flags and "--model" not in flags


def test_only_and_skip_choose_fields_by_name() -> None:
    assert parser_for(only=("steps", "window"))[1] == ["steps", "window"]
    assert parser_for(skip=("lr", "model"))[1] == ["steps", "lengths", "amp", "budget"]


def test_every_flag_defaults_to_not_given_and_overrides_holds_only_the_given_ones() -> None:
    parser, _ = parser_for()
    args = parser.parse_args([])
    assert all(getattr(args, n) is None for n in ("steps", "lr", "lengths", "amp", "window", "kind"))
    assert overrides(args, Train) == {}
    args = parser.parse_args(["--steps", "3", "--window", "8", "--no-amp"])
    assert overrides(args, Train) == {"steps": 3, "amp": False, "model": {"window": 8}}
    config = replace(Train(), overrides(args, Train))
    assert (config.steps, config.amp, config.model.window, config.model.kind, config.lr) == (3, False, 8, "full", 0.1)


def test_types_bounds_and_choices(capsys) -> None:
    parser, _ = parser_for()
    args = parser.parse_args(["--lr", "0.5", "--kind", "band", "--amp", "--budget", "7"])
    assert (args.lr, args.kind, args.amp, args.budget) == (0.5, "band", True, 7)
    assert "argument --steps: must be in 1 .. 2,147,483,647, got 0" in parse_error(parser, ["--steps", "0"], capsys)
    assert "argument --steps: expected an integer, got '2.5'" in parse_error(parser, ["--steps", "2.5"], capsys)
    assert "argument --window: must be in 1 .. 64, got 65" in parse_error(parser, ["--window", "65"], capsys)
    assert "argument --lr: must be > 0, got 0" in parse_error(parser, ["--lr", "0"], capsys)
    assert "argument --lr: must be a finite number, got inf" in parse_error(parser, ["--lr", "inf"], capsys)
    assert "must be one of full, band, got 'sparse'" in parse_error(parser, ["--kind", "sparse"], capsys)


def test_tuple_fields_are_comma_lists_refusing_duplicates_and_empty_items(capsys) -> None:
    parser, _ = parser_for()
    assert parser.parse_args(["--lengths", "5, 7,9"]).lengths == (5, 7, 9)
    assert "each item may appear once, got '5,5'" in parse_error(parser, ["--lengths", "5,5"], capsys)
    for text in ("5,,7", "5,", ",", " "):
        assert "without empty items" in parse_error(parser, ["--lengths", text], capsys)
    assert "must be in 1 .. " in parse_error(parser, ["--lengths", "5,0"], capsys)


def test_help_is_the_field_docstring_and_the_default(capsys) -> None:
    parser, _ = parser_for(defaults={"steps": 99})
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--steps STEPS optimiser steps (default: 99)" in out  # `defaults` replaces what help says
    assert "learning rate, 100% of the base (default: 0.1)" in out  # % survives argparse's formatting
    assert "test lengths (default: 2,3)" in out
    assert "--amp, --no-amp mixed precision (default: no) --budget" in out  # said once
    assert "examples per epoch (default: the data set's size)" in out
    assert "--kind {full,band} attention kind (default: full)" in out
    assert "tokens each query sees (default: 4)" in out


def test_a_generated_flag_error_through_the_cli_is_one_line_exit_2(capsys) -> None:
    from a3lab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["rnn", "learn", "--steps", "-5"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err == (
        "a3lab rnn learn: error: argument --steps: must be in 1 .. 10,000,000, got -5 (see a3lab rnn learn --help)\n"
    )


def test_threads_flag_sets_torch_threads_only_when_given(capsys) -> None:
    import torch

    parser = ArgumentParser(prog="a3lab test")
    add_threads(parser)
    assert parser.parse_args([]).threads is None
    before = torch.get_num_threads()
    apply_threads(parser.parse_args([]))
    assert torch.get_num_threads() == before
    apply_threads(parser.parse_args(["--threads", "2"]))
    assert torch.get_num_threads() == 2
    assert "argument --threads: must be in 1 .. " in parse_error(parser, ["--threads", "0"], capsys)
    stated = ArgumentParser(prog="a3lab test")
    add_threads(stated, default=1)
    assert stated.parse_args([]).threads == 1
    assert "intra-op CPU threads (default: 1)" in stated.format_help()
