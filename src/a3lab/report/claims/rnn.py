"""Problem 2, the hand-wired RNN: claim 4, the derivation checked exactly and learned from random weights."""

from __future__ import annotations

from a3lab.blocks import pct
from a3lab.report.claims.verdicts import Claim, Judgement

W_H_TOLERANCE = 1e-3
"""claim 4: how close to -1 the learned recurrent weight must come"""
LEARNED_ACCURACY, LEARNED_LENGTH = 0.99, 200
"""claim 4: the accuracy the learned RNN must reach at this sequence length"""


def _exact_checks_hold(ex: dict) -> bool:
    return (
        ex["mismatches"] == 0
        and ex["coefficients_T8"] == [-1, 1] * 4
        and ex["consecutive_all_match"]
        and ex["rule_agreement"] == 1.0
    )


def _judge_rnn_derivation(r: dict) -> Judgement:
    ex, lr = r["rnn"]["exact"], r["rnn"]["learn"]
    acc = lr["accuracy"].get(str(LEARNED_LENGTH))
    evidence = [
        f"closed form vs recurrence: {ex['mismatches']} mismatches on {ex['checked_sequences']} int64 sequences "
        f"(lengths 0..{ex['max_length']}, |x| <= {ex['max_abs_value']:,})",
        f"weights of x_1..x_8 in h_8, read off the recurrence: {ex['coefficients_T8']} (odd -, even +)",
        "consecutive inputs: "
        + "; ".join(f"T={c['T']}, start {c['start']}, h_0={c['h0']}: h_T={c['h_T']}" for c in ex["consecutive"]),
        f"y_T > 0.5 exactly when h_0 + even-position sum > odd-position sum: {pct(ex['rule_agreement'])} of "
        f"{ex['rule_sequences']} sequences ({ex['rule_ties']} ties, all at 0.5)",
        f"learned from random weights: w_x={lr['learned']['w_x']:.4f}, w_h={lr['learned']['w_h']:.6f}, "
        f"b={lr['learned']['b']:.5f}; accuracy "
        + ", ".join(f"{pct(a)} at length {n}" for n, a in lr["accuracy"].items()),
    ]
    exact_ok = _exact_checks_hold(ex)
    learned_ok = lr["w_h_error"] <= W_H_TOLERANCE and acc is not None and acc >= LEARNED_ACCURACY
    if exact_ok and learned_ok:
        return "supported", evidence
    return ("nuanced" if exact_ok else "refuted"), evidence


RNN_DERIVATION = Claim(
    4,
    "h_2n = x_2n - x_2n-1 + ... + x_2 - x_1 + h_0 (even positions +, odd -); consecutive inputs give "
    "n/2 + h_0; y = sigmoid(500 h) says whether the even positions outweigh the odd.",
    ("rnn",),
    "supported if the closed form equals the recurrence on every checked sequence, the sign pattern and "
    "the consecutive-input value hold, y_T follows the rule on every sequence, and a one-unit RNN learns "
    f"w_h within {W_H_TOLERANCE:g} of -1 with >= {100 * LEARNED_ACCURACY:.0f}% accuracy at length {LEARNED_LENGTH}; "
    "refuted if an exact check fails; nuanced if only the learning target is missed.",
    _judge_rnn_derivation,
)

CLAIMS = (RNN_DERIVATION,)
