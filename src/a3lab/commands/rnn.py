"""`a3lab rnn run|learn`: the hand-wired RNN of Problem 2, step by step and learned from data."""

from __future__ import annotations

import argparse
import json
import math
import re

from a3lab.commands import add_common, check_output_file_arg, config_default, float_range, int_range, positive_float
from a3lab.errors import UserError

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
    run.add_argument(
        "--gain",
        type=float_range(0.0, 1e6, low_open=True),
        default=None,
        help=f"output gain g in sigmoid(g h), > 0 (default: {config_default('a3lab.rnn:AlternatingRNNConfig.gain')})",
    )
    run.add_argument("--explain", action="store_true", help="print the derivation of the closed form")
    run.set_defaults(func=cmd_run)

    lrn = actions.add_parser("learn", help="learn w_x, w_h, b of a one-unit linear RNN from random weights")
    lrn.add_argument("--steps", type=int_range(1, 10**7), default=None, help=_learn_help("training steps", "steps"))
    lrn.add_argument(
        "--batch-size", type=int_range(1, 2**20), default=None, help=_learn_help("sequences per step", "batch_size")
    )
    lrn.add_argument(
        "--max-length",
        type=int_range(2, 10**4),
        default=None,
        help=_learn_help("longest training length", "max_length"),
    )
    lrn.add_argument("--lr", type=positive_float, default=None, help=_learn_help("Adam learning rate", "lr"))
    lrn.add_argument("--out", default=None, help="write the result as JSON to this file")
    lrn.add_argument("--force", action="store_true", help="replace an existing --out file")
    add_common(lrn, device=False)
    lrn.set_defaults(func=cmd_learn)


def _learn_help(text: str, field: str) -> str:
    return f"{text} (default: {config_default(f'a3lab.rnn:LearnConfig.{field}')})"


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

    from a3lab.rnn import AlternatingRNN, AlternatingRNNConfig, alternating_sum

    xs = parse_values(args.x, args.values)
    h0 = parse_values([args.h0], None)[0]
    x = torch.tensor([xs], dtype=torch.float64)  # [1, T]
    cell = AlternatingRNNConfig() if args.gain is None else AlternatingRNNConfig(gain=args.gain)
    model = AlternatingRNN(cell).double()
    with torch.no_grad():
        h, y = model(x, h0)
    T = len(xs)
    if args.explain:
        print(DERIVATION)
    print(f"{'t':>4} {'x_t':>12} {'h_t':>14} {'y_t':>10}")
    print(f"{0:>4} {'':>12} {_fmt(h0):>14} {'':>10}")
    for t in range(T):
        print(f"{t + 1:>4} {_fmt(xs[t]):>12} {_fmt(h[0, t].item()):>14} {y[0, t].item():>10.4f}")

    closed = alternating_sum(x[0], h0).item()
    terms, numbers = [], []
    for t in range(T, 0, -1):  # x_T first, signs alternate backwards
        sign = "+" if (T - t) % 2 == 0 else "-"
        terms.append(f"{sign} x_{t}")
        numbers.append(f"{sign} {_fmt(xs[t - 1])}" if xs[t - 1] >= 0 else f"{sign} ({_fmt(xs[t - 1])})")
    h0_sign = "+" if T % 2 == 0 else "-"
    terms.append(f"{h0_sign} h_0")
    numbers.append(f"{h0_sign} {_fmt(h0)}" if h0 >= 0 else f"{h0_sign} ({_fmt(h0)})")
    print()
    print(f"closed form: h_{T} = {' '.join(terms).lstrip('+ ')}")
    print(f"           = {' '.join(numbers).lstrip('+ ')} = {_fmt(closed)}")
    recur = h[0, -1].item()
    print(f"recurrence:  h_{T} = {_fmt(recur)}  ({'agrees' if recur == closed else 'DIFFERS'} with the closed form)")

    plus = [xs[t - 1] for t in range(T, 0, -2)]  # positions entering with +
    minus = [xs[t - 1] for t in range(T - 1, 0, -2)]
    parity = "even" if T % 2 == 0 else "odd"
    other = "odd" if T % 2 == 0 else "even"
    lhs = sum(plus) + (h0 if T % 2 == 0 else 0)
    rhs = sum(minus) + (0 if T % 2 == 0 else h0)
    y_T = y[0, -1].item()
    if lhs > rhs:
        relation, verdict = ">", "about 1"
    elif lhs < rhs:
        relation, verdict = "<", "about 0"
    else:
        relation, verdict = "=", "0.5 (a tie)"
    h0_side = " + h_0" if T % 2 == 0 else ""
    other_side = "" if T % 2 == 0 else " + h_0"
    print(
        f"verdict:     {parity}-position inputs{h0_side} = {_fmt(lhs)} {relation} "
        f"{other}-position inputs{other_side} = {_fmt(rhs)}, so y_{T} = sigmoid({_fmt(cell.gain)} * "
        f"{_fmt(closed)}) = {y_T:.4f}: {verdict}"
    )
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    from a3lab.rnn import LearnConfig, learn
    from a3lab.utils import seed_everything, write_json

    if args.out:
        check_output_file_arg(args.out, args.force)
    seed_everything(args.seed)
    given = {k: getattr(args, k) for k in ("steps", "batch_size", "max_length", "lr") if getattr(args, k) is not None}
    config = LearnConfig(**given, seed=args.seed)
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
