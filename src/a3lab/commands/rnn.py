"""`a3lab rnn run|learn`: the hand-wired RNN of Problem 2, step by step and learned from data."""

from __future__ import annotations

import argparse
import json
import math
import re

from a3lab.commands import add_common, check_output_file_arg
from a3lab.commands.flags import add_flags, overrides
from a3lab.errors import UserError
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig

DERIVATION = """\
The network: h_t = x_t - h_(t-1), y_t = sigmoid(500 * h_t).
Unroll it:   h_1 = x_1 - h_0
             h_2 = x_2 - h_1 = x_2 - x_1 + h_0
             h_3 = x_3 - h_2 = x_3 - x_2 + x_1 - h_0
             h_4 = x_4 - h_3 = x_4 - x_3 + x_2 - x_1 + h_0
For even T:  h_T = x_T - x_(T-1) + ... + x_2 - x_1 + h_0  (even positions +, odd positions -).
For odd T:   h_T = x_T - x_(T-1) + ... - x_2 + x_1 - h_0  (the signs flip, h_0 enters with -).
Consecutive inputs a, a+1, ..., a+T-1 (T even): each pair x_2k - x_(2k-1) = 1, so h_T = T/2 + h_0.
The gain 500 makes sigmoid a near step: y_T is about 1 when h_T > 0, about 0 when h_T < 0, 0.5 at 0.
"""


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


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from a3lab.rnn import AlternatingRNN, alternating_sum

    xs = parse_values(args.x, args.values)
    h0 = parse_values([args.h0], None)[0]
    x = torch.tensor([xs], dtype=torch.float64)  # [1, T]
    cell = AlternatingRNNConfig(**overrides(args, AlternatingRNNConfig))
    model = AlternatingRNN(cell).double()
    with torch.no_grad():
        h, y = model(x, h0)
    if args.explain:
        print(DERIVATION)
    print(f"{'t':>4} {'x_t':>12} {'h_t':>14} {'y_t':>10}")
    print(f"{0:>4} {'':>12} {_fmt(h0):>14} {'':>10}")
    for t in range(len(xs)):
        print(f"{t + 1:>4} {_fmt(xs[t]):>12} {_fmt(h[0, t].item()):>14} {y[0, t].item():>10.4f}")
    closed = alternating_sum(x[0], h0).item()
    print()
    _print_closed_form(xs, h0, closed, h[0, -1].item())
    _print_verdict(xs, h0, closed, cell.gain, y[0, -1].item())
    return 0


def _signed(sign: str, v: float) -> str:
    return f"{sign} {_fmt(v)}" if v >= 0 else f"{sign} ({_fmt(v)})"


def _print_closed_form(xs: list[float], h0: float, closed: float, recur: float) -> None:
    """h_T written out as the alternating sum, symbols then numbers, beside the recurrence's value."""
    T = len(xs)
    terms, numbers = [], []
    for t in range(T, 0, -1):  # x_T first, signs alternate backwards
        sign = "+" if (T - t) % 2 == 0 else "-"
        terms.append(f"{sign} x_{t}")
        numbers.append(_signed(sign, xs[t - 1]))
    h0_sign = "+" if T % 2 == 0 else "-"
    terms.append(f"{h0_sign} h_0")
    numbers.append(_signed(h0_sign, h0))
    print(f"closed form: h_{T} = {' '.join(terms).lstrip('+ ')}")
    print(f"           = {' '.join(numbers).lstrip('+ ')} = {_fmt(closed)}")
    print(f"recurrence:  h_{T} = {_fmt(recur)}  ({'agrees' if recur == closed else 'DIFFERS'} with the closed form)")


def _print_verdict(xs: list[float], h0: float, closed: float, gain: float, y_T: float) -> None:
    """Which side outweighs the other, and so where y_T lands."""
    T = len(xs)
    even = T % 2 == 0
    plus = [xs[t - 1] for t in range(T, 0, -2)]  # positions entering with +
    minus = [xs[t - 1] for t in range(T - 1, 0, -2)]
    lhs = sum(plus) + (h0 if even else 0)
    rhs = sum(minus) + (0 if even else h0)
    if lhs > rhs:
        relation, verdict = ">", "about 1"
    elif lhs < rhs:
        relation, verdict = "<", "about 0"
    else:
        relation, verdict = "=", "0.5 (a tie)"
    parity, other = ("even", "odd") if even else ("odd", "even")
    h0_side, other_side = (" + h_0", "") if even else ("", " + h_0")
    print(
        f"verdict:     {parity}-position inputs{h0_side} = {_fmt(lhs)} {relation} "
        f"{other}-position inputs{other_side} = {_fmt(rhs)}, so y_{T} = sigmoid({_fmt(gain)} * "
        f"{_fmt(closed)}) = {y_T:.4f}: {verdict}"
    )


def cmd_learn(args: argparse.Namespace) -> int:
    from a3lab.rnn import learn
    from a3lab.utils import seed_everything, write_json

    if args.out:
        check_output_file_arg(args.out, args.force)
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
