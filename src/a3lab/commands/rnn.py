"""`a3lab rnn run|learn`: the hand-wired RNN of Problem 2, step by step and learned from data."""

from __future__ import annotations

import argparse
import json
import math
import re

from a3lab.commands import add_common
from a3lab.commands.flags import add_flags, overrides
from a3lab.errors import UserError
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig
from a3lab.runs import check_outputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rnn", help="Problem 2: the hand-wired RNN h_t = x_t - h_(t-1)")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)

    run = actions.add_parser("run", help="run the network on a sequence and explain the result")
    run.add_argument("x", nargs="*", help="input values x_1 ... x_T (use -- before negative numbers)")
    run.add_argument("--values", default=None, help="inputs as one comma-separated list, e.g. --values=-3,5,2,-1")
    run.add_argument("--h0", default="0", help="initial hidden state h_0 (default: 0)")
    add_flags(run, AlternatingRNNConfig, only=("gain",))
    run.add_argument("--explain", action="store_true", help="print the derivation of the closed form")
    run.set_defaults(func=cmd_run)

    lrn = actions.add_parser("learn", help="learn w_x, w_h, b of a one-unit linear RNN from random weights")
    add_flags(lrn, LearnConfig, only=("steps", "batch_size", "max_length", "lr"))
    lrn.add_argument("--out", default=None, help="write the result as JSON to this file")
    lrn.add_argument("--force", action="store_true", help="replace an existing --out file")
    add_common(lrn, device=False)
    lrn.set_defaults(func=cmd_learn)


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
    import torch

    from a3lab.rnn import AlternatingRNN, alternating_sum
    from a3lab.rnn.explain import explanation

    xs = parse_values(args.x, args.values)
    h0 = parse_values([args.h0], None)[0]
    x = torch.tensor([xs], dtype=torch.float64)  # [1, T]
    cell = AlternatingRNNConfig(**overrides(args, AlternatingRNNConfig))
    with torch.no_grad():
        h, y = AlternatingRNN(cell).double()(x, h0)  # [1, T] each
    closed = alternating_sum(x[0], h0).item()
    print(explanation(xs, h0, h[0].tolist(), y[0].tolist(), closed, cell.gain, derivation=args.explain))
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    from a3lab.rnn import learn
    from a3lab.utils import seed_everything, write_json

    check_outputs({"out": args.out}, force=args.force, suffixes={"out": (".json",)})
    seed_everything(args.seed)
    config = LearnConfig(**overrides(args, LearnConfig))
    result = learn(config)
    s, w = result["start"], result["learned"]
    print(f"start:   w_x = {s['w_x']:+.6f}  w_h = {s['w_h']:+.6f}  b = {s['b']:+.6f}")
    print(f"learned: w_x = {w['w_x']:+.6f}  w_h = {w['w_h']:+.6f}  b = {w['b']:+.6f}")
    print(f"|w_h + 1| = {result['w_h_error']:.2e}   ({result['seconds']:.1f} s of training)")
    print("accuracy on lengths never seen in training:")
    for n, a in result["accuracy"].items():
        print(f"  length {n:>5}: {100 * a:.2f}%")
    if args.out:
        write_json(result, args.out)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({"learned": w, "accuracy": result["accuracy"]}))
    return 0
