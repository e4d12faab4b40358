"""CLI flags generated from config dataclasses: a field's type, bound, default and help are declared once, in
its config (`a3lab.config`), and `add_flags` turns them into `--kebab-case` flags; `overrides` turns the flags
the user gave back into config fields.

Every generated flag defaults to None ("not given"), so a command can tell what was asked for and leave the
rest to the config's own default (or to a preset's); --help shows the config's default.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from a3lab.commands import float_range, int_range, list_of
from a3lab.config import MAX_INT, FieldInfo, field_info

__all__ = ["add_flags", "field_type", "overrides"]


def _item_type(info: FieldInfo) -> Callable[[str], Any]:
    b = info.bounds
    if b.choices is not None:
        kind = type(b.choices[0])

        def choice(text: str) -> Any:
            try:
                value = kind(text)
            except ValueError:
                value = text
            if value not in b.choices:
                raise argparse.ArgumentTypeError(f"must be one of {', '.join(str(c) for c in b.choices)}, got {text!r}")
            return value

        choice.__name__ = "choice"
        return choice
    if info.kind == "int":
        low = -MAX_INT if b.low is None else int(b.low) + (1 if b.low_open else 0)
        high = MAX_INT if b.high is None else int(b.high) - (1 if b.high_open else 0)
        return int_range(low, high)
    if info.kind == "float":
        low = -math.inf if b.low is None else b.low
        high = math.inf if b.high is None else b.high
        return float_range(low, high, low_open=b.low_open, high_open=b.high_open)
    return str


def field_type(cls: type, name: str) -> Callable[[str], Any]:
    """The argparse type of one value of field `name` of `cls` (one item of a tuple field), with its bounds: for
    a flag a command writes by hand, e.g. one flag per item of a tuple."""
    return _item_type(field_info(cls)[name])


def shown(value: Any) -> str:
    """A default as --help shows it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def _help(info: FieldInfo, default: Any) -> str:
    text = info.doc.replace("%", "%%")
    said = info.default_text if info.default_text is not None and default is info.default else shown(default)
    return f"{text} (default: {said})" if text else f"(default: {said})"


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> list[str]:
    """Add one flag per CLI field of `cls` (and of the configs nested in it); return the fields added.

    `only`/`skip` choose fields by name (nested fields by their own name); `defaults` replaces the default
    --help shows, for a command whose default differs from the config's (a preset's, say).
    """
    chosen = None if only is None else set(only)
    skipped = set(skip)
    defaults = dict(defaults or {})
    added = []
    for name, info in field_info(cls).items():
        if not info.cli or name in skipped:
            continue
        if info.kind == "config":
            added += add_flags(parser, info.config, only=chosen, skip=skipped, defaults=defaults)
            continue
        if chosen is not None and name not in chosen:
            continue
        flag = "--" + name.replace("_", "-")
        default = defaults.get(name, info.default)
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": _help(info, default)}
        if info.kind == "bool" and not info.is_tuple:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            item = _item_type(info)
            kwargs["type"] = list_of(item) if info.is_tuple else item
            if info.metavar:
                kwargs["metavar"] = info.metavar
            elif info.bounds.choices is not None and not info.is_tuple:
                kwargs["metavar"] = "{" + ",".join(str(c) for c in info.bounds.choices) + "}"
        parser.add_argument(flag, **kwargs)
        added.append(name)
    return added


def overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` that were given on the command line, nested configs as nested dicts.

    Pass the result to `a3lab.config.replace(config, ...)`, or `cls(**...)` for a flat config.
    """
    out: dict[str, Any] = {}
    for name, info in field_info(cls).items():
        if info.kind == "config":
            inner = overrides(args, info.config)
            if inner:
                out[name] = inner
        elif getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    return out
