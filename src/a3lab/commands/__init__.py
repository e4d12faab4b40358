"""CLI subcommands, one module per area, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from a3lab.config import MAX_INT, MAX_SEED

# Most threads `--threads` takes: beyond them torch crashes instead of failing with the flag's name.
MAX_THREADS_PER_CPU = 4


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line usage errors (`a3lab <area>: error: ...`, exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def subcommand(
    parent: argparse._SubParsersAction,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int],
    *,
    description: str | None = None,
    seed: bool = True,
    device: bool = True,
    threads: bool = True,
    default_threads: int | None = None,
    force: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand that runs `func`, with the flags commands share: --threads (omitted: `default_threads`),
    --device, --seed and, given its help text, --force."""
    p = parent.add_parser(name, help=help, description=description)
    if threads:
        add_threads(p, default_threads)
    if device:
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run (default: auto)")
    if seed:
        p.add_argument("--seed", type=seed_value, default=0, help="random seed (default: 0)")
    if force is not None:
        p.add_argument("--force", action="store_true", help=force)
    p.set_defaults(func=func)
    return p


def add_threads(parser: argparse.ArgumentParser, default: int | None = None) -> None:
    """`--threads N`: torch's intra-op CPU threads for this command. Omitted, a command uses `default` (None:
    torch's own choice, one per core)."""
    what = "one per core" if default is None else str(default)
    parser.add_argument("--threads", type=thread_count, default=default, help=f"intra-op CPU threads (default: {what})")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's intra-op threads from `--threads` (no change where it is None)."""
    if getattr(args, "threads", None) is not None:
        import torch

        torch.set_num_threads(args.threads)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type for integers in [low, high]."""

    def parse(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low} .. {high:,}, got {value:,}")
        return value

    parse.__name__ = f"integer in {low}..{high}"
    return parse


def positive_int(text: str) -> int:
    """argparse type for integers >= 1 (and at most `a3lab.config.MAX_INT`, as a config's integer fields)."""
    return int_range(1, MAX_INT)(text)


def seed_value(text: str) -> int:
    """argparse type for a random seed: 0 .. `a3lab.config.MAX_SEED`."""
    return int_range(0, MAX_SEED)(text)


def max_threads() -> int:
    return MAX_THREADS_PER_CPU * (os.cpu_count() or 1)


def thread_count(text: str) -> int:
    """argparse type for `--threads`: 1 .. 4 x the CPU count (torch crashes on absurd thread counts)."""
    return int_range(1, max_threads())(text)


def float_range(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False):
    """argparse type for a finite float in [low, high] (open ends where asked); NaN and inf are refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < low or (low_open and value == low) or value > high or (high_open and value == high):
            if high == math.inf:
                raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low:g}, got {text}")
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"must be in {left}{low:g}, {high:g}{right}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


positive_float = float_range(0.0, low_open=True)
"""argparse type for a finite float > 0."""


def list_of(item: Callable[[str], Any]) -> Callable[[str], tuple]:
    """argparse type for a comma-separated list of `item`s; empty items, repeated items and an empty list are
    refused."""

    def parse(text: str) -> tuple:
        parts = [s.strip() for s in text.split(",")]
        if not text.strip() or any(not s for s in parts):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list without empty items, got {text!r}")
        values = tuple(item(s) for s in parts)
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"each item may appear once, got {text!r}")
        return values

    parse.__name__ = "list"
    return parse


word_list = list_of(str)
"""argparse type for a comma-separated list of names."""


class Distinct(argparse.Action):
    """`nargs="+"` flags (`--models gru lstm`) whose items may each appear once, as in the comma-list flags."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(set(values)) != len(values):
            parser.error(f"argument {option_string}: each item may appear once, got {' '.join(map(str, values))!r}")
        setattr(namespace, self.dest, values)
