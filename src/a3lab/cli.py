"""The one command-line entry point: `a3lab <area> <action> ...`.

Each area lives in `a3lab.commands.<area>` with a `register(subparsers)` function; heavy imports
(torch, matplotlib) happen inside the command functions so `a3lab --help` stays fast.
Errors the user caused (a3lab's own error types) print one line and exit with code 2; anything else is a bug
in a3lab and prints its traceback and a line saying so (exit code 1).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import sys
import traceback
from collections.abc import Sequence

from a3lab import __version__
from a3lab.commands import ArgumentParser

# Areas in the order `a3lab --help` lists them.
AREAS = ("data", "rnn", "classify", "attention", "gan", "report")
# OS errors a user fixes (free space, permissions, a read-only mount, a missing or misplaced file): one line.
_OS_USER_ERRORS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EMFILE,
}
BUG_LINE = "a3lab: this is a bug in a3lab, not in your input; please report it with the traceback above"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="a3lab",
        description="Four deep-learning claims as measured, tested software.",
    )
    parser.add_argument("--version", action="version", version=f"a3lab {__version__}")
    sub = parser.add_subparsers(dest="area", metavar="<area>", required=True)
    for area in AREAS:
        importlib.import_module(f"a3lab.commands.{area}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 a failed experiment or a bug, 2 bad input, 130 interrupted by
    Ctrl-C or SIGTERM)."""
    from a3lab.errors import A3labError
    from a3lab.runs import Terminated, sigterm_as_interrupt

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with sigterm_as_interrupt():  # also while torch imports: a signal then is one line and exit 130
            from a3lab.utils import keep_freed_memory

            keep_freed_memory()  # fewer page faults in every command's tensor loops
            parser = build_parser()
            empty = _empty_argument(argv)
            if empty is not None:
                parser.exit(2, f"a3lab: error: {empty} is empty (see a3lab --help)\n")
            args = parser.parse_args(argv)
            code = args.func(args)
    except A3labError as e:
        print(f"a3lab: error: {flag_names(str(e), command_parser(parser, args))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"a3lab: interrupted{' by SIGTERM' if isinstance(e, Terminated) else ''}", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in _OS_USER_ERRORS:
            traceback.print_exc()
            print(BUG_LINE, file=sys.stderr)
            return 1
        where = f"{e.filename}: " if e.filename else ""
        print(f"a3lab: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("a3lab: error: out of memory: ask for smaller sizes (batch, model width, sample count)", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: show everything
        if _out_of_memory(e):
            print(f"a3lab: error: out of memory ({_first_line(e)}): ask for smaller sizes", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(BUG_LINE, file=sys.stderr)
        return 1
    return int(code or 0)


def _empty_argument(argv: list[str]) -> str | None:
    """The option given an empty value (`--out ''`, `--out=`), or None: no a3lab option takes an empty string
    (an empty path would silently mean the current folder)."""
    for i, token in enumerate(argv):
        if token.startswith("--") and token.endswith("=") and len(token) > 3:
            return f"argument {token[:-1]}"
        if token == "":
            before = argv[i - 1] if i > 0 else ""
            return f"argument {before}" if before.startswith("-") and before != "--" else "an argument"
    return None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _out_of_memory(e: BaseException) -> bool:
    """torch's allocation failures (CPU or CUDA) that are the size the user asked for, not a bug."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(e, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(e, RuntimeError) and "can't allocate memory" in str(e)


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the action that ran (`a3lab gan train` -> its subparser)."""
    current = parser
    while True:  # as deep as the command goes (`classify captions predict` has three levels)
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or getattr(args, subs[0].dest, None) is None:
            return current
        current = subs[0].choices[getattr(args, subs[0].dest)]


_PARAM = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def flag_names(message: str, parser: argparse.ArgumentParser) -> str:
    """Replace each backticked parameter name with the command's flag for it (`batch_size` -> --batch-size)."""
    flags: dict[str, str] = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs:
            flags.setdefault(action.dest, longs[0])
            for s in longs:
                flags[s[2:].replace("-", "_")] = s
        elif action.dest not in ("help",) and not action.option_strings:
            flags.setdefault(action.dest, str(action.metavar or action.dest).upper())
    return _PARAM.sub(lambda m: flags.get(m.group(1), m.group(1)), message)


if __name__ == "__main__":
    sys.exit(main())
