"""`a3lab rnn run|learn`: the hand-wired RNN of Problem 2, step by step and learned from data."""

from __future__ import annotations

import argparse
import json
import math
import re

from a3lab.commands import subcommand
from a3lab.commands.flags import add_flags, overrides
from a3lab.errors import UserError
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig
from a3lab.runs import check_outputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rnn", help="Problem 2: the hand-wired RNN h_t = x_t - h_(t-1)")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)

    what = "run the network on a sequence and explain the result"
    run = subcommand(actions, "run", what, cmd_run, seed=False, device=False, threads=False)
    run.add_argument("x", nargs="*", help="input values x_1 ... x_T (use -- before negative numbers)")
    run.add_argument("--values", default=None, help="inputs as one comma-separated list, e.g. --values=-3,5,2,-1")
    run.add_argument("--h0", default="0", help="initial hidden state h_0 (default: 0)")
    add_flags(run, AlternatingRNNConfig, only=("gain",))
    run.add_argument("--explain", action="store_true", help="print the derivation of the closed form")

    what = "learn w_x, w_h, b of a one-unit linear RNN from random weights"
    force = "replace an existing --out file"
    lrn = subcommand(actions, "learn", what, cmd_learn, device=False, threads=False, force=force)
    add_flags(lrn, LearnConfig, only=("steps", "batch_size", "max_length", "lr"))
    lrn.add_argument("--out", default=None, help="write the result as JSON to this file")


def parse_values(tokens: list[str], values: str | None) -> list[float]:
    """Numbers from positional tokens and/or a comma-separated list; a clear error for anything else."""
    raw = list(tokens)
    if values is not None:
        items = re.split(r"\s*,\s*|\s+", values.strip())  # commas or spaces between the numbers
        if any(not v for v in items):
            raise UserError(f"`values` must be numbers separated by commas, without empty items, got {values!r}")
        raw += items
    if not raw:
        raise UserError("no input values: give them as arguments (a3lab rnn run 1 2 3 4) or with `values`")
    out = []
    for tok in raw:
        try:
            v = float(tok)
        except ValueError:
            raise UserError(f"input value {tok!r} is not a number") from None
        if not math.isfinite(v):
            raise UserError(f"input value {tok!r} is not finite")
        out.append(v)
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from a3lab.rnn.experiment import explained_run

    xs = parse_values(args.x, args.values)
    h0 = parse_values([args.h0], None)[0]
    cell = AlternatingRNNConfig(**overrides(args, AlternatingRNNConfig))
    print(explained_run(xs, h0, cell, derivation=args.explain))
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    from a3lab.rnn import learn
    from a3lab.rnn.explain import describe_learned
    from a3lab.utils import seed_everything, write_json

    check_outputs({"out": args.out}, force=args.force, suffixes={"out": (".json",)})
    seed_everything(args.seed)
    result = learn(LearnConfig(**overrides(args, LearnConfig)))
    print(describe_learned(result))
    if args.out:
        write_json(result, args.out)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({"learned": result["learned"], "accuracy": result["accuracy"]}))
    return 0
