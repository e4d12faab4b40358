"""Problem 2: the hand-wired RNN h_t = x_t - h_(t-1), y_t = sigmoid(500 h_t).

Unrolling the recurrence for an even length T gives

    h_T = x_T - x_(T-1) + x_(T-2) - ... + x_2 - x_1 + h_0,

so even positions enter with +, odd positions with -, and y_T = sigmoid(500 h_T) is about 1 exactly
when h_0 plus the even-position inputs outweigh the odd-position inputs (0.5 on a tie). For
consecutive inputs a, a+1, ..., a+T-1 every pair (x_2k - x_2k-1) adds 1, so h_T = T/2 + h_0 for any a.
For odd T the signs flip: h_T = x_T - x_(T-1) + ... - x_2 + x_1 - h_0 (odd positions +, h_0 with -).
In general h_T = sum_t (-1)^(T-t) x_t + (-1)^T h_0.

The modules, in dependency order: `closed_form` (the recurrence and its closed form), `config` (the cell's and
the learning run's configs, without torch), `model` (the one-unit `AlternatingRNN`), `learning` (fitting its
weights from random ones), `experiment` (the report's measurements), `section` (the report's section) and
`explain` (a run on one sequence in words, for `a3lab rnn run`).
Every public name is importable from `a3lab.rnn`; each is imported on first use, so the CLI can read
`a3lab.rnn.config` and the report `a3lab.rnn.section` without loading torch.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PRESETS",
    "AlternatingRNN",
    "AlternatingRNNConfig",
    "LearnConfig",
    "accuracy",
    "alternating_sum",
    "coefficients",
    "exactness_checks",
    "learn",
    "recurrence",
    "rule_batch",
    "section_experiment",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Written as import statements (not importlib strings) so that a section's computed import closure
    # (`a3lab.section.import_closure`) sees every module a caller of `from a3lab.rnn import ...` runs.
    from a3lab.rnn import closed_form, config, experiment, learning, model

    for module in (closed_form, config, model, learning, experiment):
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
