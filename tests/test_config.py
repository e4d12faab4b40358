"""a3lab.config: bounds declared once as field metadata, checked by one helper; field docs; plain data."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Literal

import pytest

from a3lab.config import (
    MAX_INT,
    Bounds,
    Checked,
    check,
    field_docs,
    field_info,
    from_dict,
    option,
    replace,
    to_dict,
)
from a3lab.errors import UserError


@dataclass
class Inner(Checked):
    window: int = option(4, low=1, high=64)
    """tokens each query sees"""
    kind: Literal["full", "band"] = "full"
    """attention kind"""


@dataclass
class Outer(Checked):
    steps: int = option(10, low=1)
    """optimiser
    steps"""
    lr: float = option(0.1, low=0, low_open=True, high=1, high_open=True)
    """learning rate"""
    size: int = option(8, choices=(8, 16))
    """width"""
    lengths: tuple[int, ...] = option((2, 3), low=1)
    """test lengths"""
    amp: bool = False
    """mixed precision"""
    limit: int | None = option(None, low=1)
    """a cap (None: none)"""
    name: str = "run"
    hidden: int = option(0, cli=False)
    model: Inner = field(default_factory=Inner)
    """the model"""


@dataclass
class Ordered(Checked):
    low: int = option(1, low=0)
    high: int = option(2, low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.low > self.high:
            raise UserError("need `low` <= `high`")


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"steps": 0}, "`steps` must be an integer >= 1, got 0"),
        ({"steps": 2.5}, "`steps` must be an integer, got 2.5"),
        ({"steps": True}, "`steps` must be an integer, got True"),
        ({"steps": MAX_INT + 1}, "`steps` must be an integer >= 1"),
        ({"lr": 0.0}, "`lr` must be in (0, 1), got 0.0"),
        ({"lr": 1.0}, "`lr` must be in (0, 1), got 1.0"),
        ({"lr": math.nan}, "`lr` must be a finite number, got nan"),
        ({"lr": "0.1"}, "`lr` must be a finite number"),
        ({"size": 12}, "`size` must be one of 8, 16, got 12"),
        ({"lengths": (2, 0)}, "each item of `lengths` must be an integer >= 1, got 0"),
        ({"lengths": 3}, "`lengths` must be a list, got 3"),
        ({"amp": 1}, "`amp` must be true or false, got 1"),
        ({"limit": 0}, "`limit` must be an integer >= 1, got 0"),
        ({"steps": None}, "`steps` must be set"),
    ],
)
def test_every_bound_is_checked_with_a_message_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(UserError) as e:
        Outer(**changes)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_values_inside_the_bounds_pass_and_lists_become_tuples() -> None:
    c = Outer(steps=MAX_INT, lr=0.999, size=16, lengths=[1, 5], amp=True, limit=None, model={"window": 64})
    assert c.lengths == (1, 5) and isinstance(c.model, Inner) and c.model.window == 64
    c.lr = 7.0
    with pytest.raises(UserError, match="`lr`"):
        check(c)  # check works on any config, not only at construction


def test_literal_choices_and_nested_configs_check_themselves() -> None:
    with pytest.raises(UserError, match="`kind` must be one of full, band, got 'sparse'"):
        Outer(model=Inner(kind="sparse"))
    with pytest.raises(UserError, match="`window` must be an integer in \\[1, 64\\], got 65"):
        Outer(model={"window": 65})


def test_a_subclass_rule_runs_after_the_bounds() -> None:
    with pytest.raises(UserError, match="`low` must be an integer >= 0"):
        Ordered(low=-1)
    with pytest.raises(UserError, match="need `low` <= `high`"):
        Ordered(low=3, high=2)


def test_field_info_reads_annotations_and_metadata() -> None:
    info = field_info(Outer)
    assert list(info) == ["steps", "lr", "size", "lengths", "amp", "limit", "name", "hidden", "model"]
    assert (info["steps"].kind, info["steps"].is_tuple, info["steps"].optional) == ("int", False, False)
    assert (info["lengths"].kind, info["lengths"].is_tuple, info["lengths"].default) == ("int", True, (2, 3))
    assert info["limit"].optional and info["amp"].kind == "bool" and info["name"].kind == "str"
    assert info["model"].kind == "config" and info["model"].config is Inner
    assert isinstance(info["model"].default, Inner)
    assert field_info(Inner)["kind"].bounds.choices == ("full", "band")
    assert not info["hidden"].cli and info["steps"].cli


def test_field_docs_are_the_docstrings_under_the_fields_whitespace_folded() -> None:
    docs = field_docs(Outer)
    assert docs["steps"] == "optimiser steps" and docs["model"] == "the model"
    assert "name" not in docs and "hidden" not in docs

    @dataclass
    class Child(Inner):
        extra: int = 1
        """added by the child"""

    assert field_docs(Child) == {
        "window": "tokens each query sees",
        "kind": "attention kind",
        "extra": "added by the child",
    }


@pytest.mark.parametrize(
    "bounds,text",
    [
        (Bounds(low=1), ">= 1"),
        (Bounds(low=0, low_open=True), "> 0"),
        (Bounds(low=0, high=1, high_open=True), "in [0, 1)"),
        (Bounds(high=5), "<= 5"),
        (Bounds(choices=("a", "b")), "one of a, b"),
        (Bounds(), "a number"),
    ],
)
def test_bounds_describe_themselves(bounds: Bounds, text: str) -> None:
    assert bounds.describe() == text


def test_to_dict_and_from_dict_round_trip_and_unknown_keys_are_refused() -> None:
    c = Outer(lengths=(4, 5), model=Inner(window=8))
    d = to_dict(c)
    assert d["lengths"] == [4, 5] and d["model"] == {"window": 8, "kind": "full"}
    assert from_dict(Outer, d) == c
    with pytest.raises(UserError, match="unknown Outer keys: nope, typo"):
        from_dict(Outer, {**d, "typo": 1, "nope": 2})


def test_replace_descends_into_nested_configs_and_checks_the_result() -> None:
    c = Outer()
    changed = replace(c, {"steps": 3, "model": {"window": 2}})
    assert (changed.steps, changed.model.window, changed.model.kind) == (3, 2, "full")
    assert c.steps == 10 and c.model.window == 4  # the original is left alone
    assert replace(c, {}) is c
    with pytest.raises(UserError, match="unknown Outer field: windw"):
        replace(c, {"windw": 2})
    with pytest.raises(UserError, match="`window`"):
        replace(c, {"model": {"window": 0}})


def test_config_imports_no_torch() -> None:
    code = "import sys, a3lab.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
