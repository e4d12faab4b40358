"""Configuration dataclasses, each fact once: a field's bound is declared as its metadata and checked by one
helper, its help text is the docstring under it, and `a3lab.commands.flags` turns the fields into CLI flags.

    @dataclass
    class LearnConfig(Checked):
        steps: int = option(300, low=1)
        \"\"\"optimiser steps\"\"\"
        lr: float = option(1e-2, low=0, low_open=True)
        \"\"\"Adam learning rate\"\"\"

`Checked.__post_init__` checks every bound (`check`), so a subclass with cross-field rules calls
`super().__post_init__()` first. Configs nest (a field whose type is another config) instead of copying fields.
This module imports no torch: the CLI reads it while building its parser.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import itertools
import math
import textwrap
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from typing import Any

from a3lab.errors import UserError

__all__ = [
    "Bounds",
    "Checked",
    "FieldInfo",
    "check",
    "field_docs",
    "field_info",
    "from_dict",
    "option",
    "replace",
    "to_dict",
]

MAX_INT = 2**31 - 1
"""largest value an integer field takes unless it says otherwise: any count beyond it cannot run"""
MAX_SEED = 2**32 - 1
"""largest random seed: NumPy takes 32-bit seeds, and the code mixes a seed with offsets and multipliers that must
stay inside torch's 64-bit generator seeds"""


def _number(x: float) -> str:
    """A bound as a user types it: large whole numbers in full (4,294,967,295, not 4.29497e+09)."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) >= 1e6 else f"{x:g}"


@dataclass(frozen=True)
class Bounds:
    """The allowed range of a number (or of each item of a tuple), and optionally the allowed values."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None

    def describe(self) -> str:
        """'>= 1', '> 0', 'in [0, 1)', 'one of a, b'."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.high is None or self.high == MAX_INT:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}" if self.low is not None else "a number"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"

    def contains(self, value: float) -> bool:
        if self.choices is not None:
            return value in self.choices
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))


def option(
    default: Any = MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple | None = None,
    default_factory: Any = MISSING,
    cli: bool = True,
    default_text: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with its bound declared once.

    `cli=False` keeps the field off the command line; `default_text` is what --help says for a default that
    a number cannot say ("the data set's best"); `choices` restricts a str or number field.
    """
    metadata = {
        "bounds": Bounds(low, high, low_open, high_open, None if choices is None else tuple(choices)),
        "cli": cli,
        "default_text": default_text,
        "metavar": metavar,
    }
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


# ----------------------------------------------------------------------------------------------------------------
# what a field is


@dataclass(frozen=True)
class FieldInfo:
    """What a field's annotation and metadata say: its kind ("int", "float", "str", "bool", "config"), whether
    it is a tuple of that kind, whether None is allowed, its bounds, and its help text."""

    name: str
    kind: str
    is_tuple: bool
    optional: bool
    bounds: Bounds
    doc: str
    default: Any
    cli: bool
    default_text: str | None
    metavar: str | None
    config: type | None = None


def _kind(tp: Any) -> tuple[str, bool, bool, tuple | None, type | None]:
    """(kind, is_tuple, optional, literal choices, nested config class) of a resolved annotation."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0] if len(args) == 1 else tp
        origin = typing.get_origin(tp)
    is_tuple = False
    if origin in (tuple, list):
        is_tuple = True
        tp = typing.get_args(tp)[0]
        origin = typing.get_origin(tp)
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        return type(choices[0]).__name__, is_tuple, optional, choices, None
    if dataclasses.is_dataclass(tp):
        return "config", is_tuple, optional, None, tp
    name = getattr(tp, "__name__", str(tp))
    return name, is_tuple, optional, None, None


@functools.cache
def field_info(cls: type) -> dict[str, FieldInfo]:
    """{name: FieldInfo} of a config class, in field order."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    out = {}
    for f in dataclasses.fields(cls):
        kind, is_tuple, optional, literal, nested = _kind(hints[f.name])
        bounds = f.metadata.get("bounds") or Bounds()
        if literal is not None and bounds.choices is None:
            bounds = dataclasses.replace(bounds, choices=literal)
        default = f.default if f.default is not MISSING else MISSING
        if default is MISSING and f.default_factory is not MISSING:
            default = f.default_factory()
        out[f.name] = FieldInfo(
            name=f.name,
            kind=kind,
            is_tuple=is_tuple,
            optional=optional or default is None,
            bounds=bounds,
            doc=docs.get(f.name, ""),
            default=default,
            cli=f.metadata.get("cli", True) and f.init,
            default_text=f.metadata.get("default_text"),
            metavar=f.metadata.get("metavar"),
            config=nested,
        )
    return out


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (and of its dataclass bases), whitespace folded."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


# ----------------------------------------------------------------------------------------------------------------
# checking


def _check_scalar(info: FieldInfo, value: Any, what: str) -> None:
    b = info.bounds
    if info.kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{what} must be true or false, got {value!r}")
        return
    if b.choices is not None:
        if value not in b.choices:
            raise UserError(f"{what} must be {b.describe()}, got {value!r}")
        return
    if info.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise UserError(f"{what} must be an integer, got {value!r}")
        high = MAX_INT if b.high is None else b.high
        bounds = dataclasses.replace(b, high=high)
        if not bounds.contains(value):
            raise UserError(f"{what} must be an integer {bounds.describe()}, got {value!r}")
    elif info.kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise UserError(f"{what} must be a finite number, got {value!r}")
        if not b.contains(value):
            raise UserError(f"{what} must be {b.describe()}, got {value!r}")


def check(config: Any) -> None:
    """Check every field of a config against its annotation and bounds; raise `UserError` naming the field.

    >>> @dataclass
    ... class C(Checked):
    ...     steps: int = option(3, low=1)
    >>> C(steps=0)
    Traceback (most recent call last):
    ...
    a3lab.errors.UserError: `steps` must be an integer >= 1, got 0
    """
    for name, info in field_info(type(config)).items():
        value = getattr(config, name)
        what = f"`{name}`"
        if value is None:
            if not info.optional:
                raise UserError(f"{what} must be set")
            continue
        if info.kind == "config":
            continue  # a nested config checked itself when it was made
        if info.is_tuple:
            if not isinstance(value, (tuple, list)):
                raise UserError(f"{what} must be a list, got {value!r}")
            for item in value:
                _check_scalar(info, item, f"each item of {what}")
        else:
            _check_scalar(info, value, what)


class Checked:
    """Mixin of a config dataclass whose `__post_init__` checks every field (`check`)."""

    def __post_init__(self) -> None:
        for name, info in field_info(type(self)).items():
            value = getattr(self, name)
            if info.is_tuple and isinstance(value, list):
                object.__setattr__(self, name, tuple(value))  # JSON gives lists
            elif info.kind == "config" and isinstance(value, Mapping):
                object.__setattr__(self, name, from_dict(info.config, value))
        check(self)


# ----------------------------------------------------------------------------------------------------------------
# plain data


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain JSON types (tuples as lists, nested configs as dicts)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(config))


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Inverse of `to_dict`; an unknown key is a `UserError` naming it."""
    infos = field_info(cls)
    unknown = sorted(set(data) - set(infos))
    if unknown:
        raise UserError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    values = {}
    for name, value in data.items():
        info = infos[name]
        if info.kind == "config" and isinstance(value, Mapping):
            value = from_dict(info.config, value)
        elif info.is_tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)


def replace(config: Any, changes: Mapping[str, Any]) -> Any:
    """`dataclasses.replace` that descends into nested configs: {"model": {"window": 4}} changes one field."""
    infos = field_info(type(config))
    values = {}
    for name, value in changes.items():
        if name not in infos:
            raise UserError(f"unknown {type(config).__name__} field: {name}")
        if infos[name].kind == "config" and isinstance(value, Mapping):
            value = replace(getattr(config, name), value)
        values[name] = value
    return dataclasses.replace(config, **values) if values else config


def presets_of(cls: type) -> dict[str, dict[str, Any]]:
    """The `PRESETS` (name -> field values) declared beside `cls`, in its module."""
    return importlib.import_module(cls.__module__).PRESETS


def from_preset(cls: type, preset: str, changes: Mapping[str, Any]) -> Any:
    """`cls` from one of the presets beside it (`presets_of`), with `changes` made on top."""
    return cls(**{**presets_of(cls)[preset], **changes})
