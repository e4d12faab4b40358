"""CLI subcommands, one module per area, each with `register(subparsers)`."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser, *, seed: bool = True, device: bool = True) -> None:
    """The flags every training command shares."""
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    if device:
        parser.add_argument(
            "--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run (default: auto)"
        )


def positive_int(text: str) -> int:
    """argparse type for integers >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
