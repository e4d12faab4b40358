"""The hand-wired RNN on one sequence, in words: the step-by-step table, the closed form written out with the
sequence's numbers, and which side outweighs the other. Text from numbers only (no torch): `a3lab rnn run`
computes the numbers and prints this."""

from __future__ import annotations

__all__ = ["DERIVATION", "describe_learned", "explanation", "fmt"]

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


def fmt(v: float) -> str:
    """A number as it reads best: integers without a decimal point.

    >>> fmt(2.0), fmt(-0.25)
    ('2', '-0.25')
    """
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _signed(sign: str, v: float) -> str:
    return f"{sign} {fmt(v)}" if v >= 0 else f"{sign} ({fmt(v)})"


def explanation(
    xs: list[float], h0: float, hs: list[float], ys: list[float], closed: float, gain: float, derivation: bool = False
) -> str:
    """The whole text of `a3lab rnn run`: inputs `xs`, hidden states `hs` and outputs `ys` of the recurrence,
    `closed` the closed form's h_T, `gain` the cell's output gain."""
    lines = [DERIVATION] if derivation else []
    lines.append(f"{'t':>4} {'x_t':>12} {'h_t':>14} {'y_t':>10}")
    lines.append(f"{0:>4} {'':>12} {fmt(h0):>14} {'':>10}")
    lines += [f"{t + 1:>4} {fmt(x):>12} {fmt(h):>14} {y:>10.4f}" for t, (x, h, y) in enumerate(zip(xs, hs, ys))]
    lines.append("")
    lines += closed_form_lines(xs, h0, closed, hs[-1])
    lines.append(verdict_line(xs, h0, closed, gain, ys[-1]))
    return "\n".join(lines)


def closed_form_lines(xs: list[float], h0: float, closed: float, recur: float) -> list[str]:
    """h_T written out as the alternating sum, symbols then numbers, beside the recurrence's value.

    >>> print("\\n".join(closed_form_lines([1, 2, 3, 4], 0, 2, 2)))
    closed form: h_4 = x_4 - x_3 + x_2 - x_1 + h_0
               = 4 - 3 + 2 - 1 + 0 = 2
    recurrence:  h_4 = 2  (agrees with the closed form)
    """
    T = len(xs)
    terms, numbers = [], []
    for t in range(T, 0, -1):  # x_T first, signs alternate backwards
        sign = "+" if (T - t) % 2 == 0 else "-"
        terms.append(f"{sign} x_{t}")
        numbers.append(_signed(sign, xs[t - 1]))
    h0_sign = "+" if T % 2 == 0 else "-"
    terms.append(f"{h0_sign} h_0")
    numbers.append(_signed(h0_sign, h0))
    return [
        f"closed form: h_{T} = {' '.join(terms).lstrip('+ ')}",
        f"           = {' '.join(numbers).lstrip('+ ')} = {fmt(closed)}",
        f"recurrence:  h_{T} = {fmt(recur)}  ({'agrees' if recur == closed else 'DIFFERS'} with the closed form)",
    ]


def verdict_line(xs: list[float], h0: float, closed: float, gain: float, y_T: float) -> str:
    """Which positions outweigh the others, and so where y_T lands.

    >>> verdict_line([3, 1], 0, -2, 500, 0.0).removeprefix("verdict:     ")
    'even-position inputs + h_0 = 1 < odd-position inputs = 3, so y_2 = sigmoid(500 * -2) = 0.0000: about 0'
    """
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
    return (
        f"verdict:     {parity}-position inputs{h0_side} = {fmt(lhs)} {relation} "
        f"{other}-position inputs{other_side} = {fmt(rhs)}, so y_{T} = sigmoid({fmt(gain)} * "
        f"{fmt(closed)}) = {y_T:.4f}: {verdict}"
    )


def describe_learned(result: dict) -> str:
    """A learning run (`a3lab.rnn.learn`) in words: the weights it started from and learned, and its accuracy."""
    s, w = result["start"], result["learned"]
    lines = [
        f"start:   w_x = {s['w_x']:+.6f}  w_h = {s['w_h']:+.6f}  b = {s['b']:+.6f}",
        f"learned: w_x = {w['w_x']:+.6f}  w_h = {w['w_h']:+.6f}  b = {w['b']:+.6f}",
        f"|w_h + 1| = {result['w_h_error']:.2e}   ({result['seconds']:.1f} s of training)",
        "accuracy on lengths never seen in training:",
    ]
    lines += [f"  length {n:>5}: {100 * a:.2f}%" for n, a in result["accuracy"].items()]
    return "\n".join(lines)
