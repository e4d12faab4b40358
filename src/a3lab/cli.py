"""The one command-line entry point: `a3lab <area> <action> ...`.

Each area lives in `a3lab.commands.<area>` with a `register(subparsers)` function; heavy imports
(torch, matplotlib) happen inside the command functions so `a3lab --help` stays fast.
Errors the user caused print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from a3lab import __version__

# Areas in the order `a3lab --help` lists them.
AREAS = ("data", "rnn", "classify", "attention", "gan", "report")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line usage errors (`a3lab <area>: error: ...`, exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="a3lab",
        description="Four deep-learning claims as measured, tested software.",
    )
    parser.add_argument("--version", action="version", version=f"a3lab {__version__}")
    sub = parser.add_subparsers(dest="area", metavar="<area>", required=True)
    for area in AREAS:
        try:
            module = importlib.import_module(f"a3lab.commands.{area}")
        except ModuleNotFoundError as e:
            if e.name != f"a3lab.commands.{area}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 a failed experiment, 2 bad input, 130 interrupted)."""
    from a3lab.errors import A3labError
    from a3lab.utils import keep_freed_memory

    keep_freed_memory()  # fewer page faults in every command's tensor loops
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (A3labError, ValueError, FileNotFoundError) as e:
        print(f"a3lab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("a3lab: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
