"""Problem 2's section of the report: its run, its result's type and how its numbers are shown. No torch at
import: the run function imports the experiment inside its body, so this module is not part of its cache key."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from a3lab.blocks import Block, pct, table_block
from a3lab.section import Budget, Section

__all__ = ["RNN", "ExactChecks", "Learned", "RNNResult", "render", "run"]


class Weights(TypedDict):
    w_x: float
    w_h: float
    b: float


class HistoryPoint(TypedDict):
    step: int
    loss: float
    w_h: float


Consecutive = TypedDict("Consecutive", {"T": int, "start": int, "h0": int, "h_T": int, "T/2+h0": int})
"""One consecutive-input sequence: h_T by the recurrence beside the closed form's T/2 + h_0."""


class ExactChecks(TypedDict):
    """`a3lab.rnn.experiment.exactness_checks`: the closed form against the recurrence."""

    checked_sequences: int
    max_length: int
    max_abs_value: int
    mismatches: int
    coefficients_T8: list[int]
    coefficients_T7: list[int]
    consecutive: list[Consecutive]
    consecutive_all_match: bool
    rule_agreement: float
    rule_sequences: int
    rule_ties: int


class Learned(TypedDict):
    """`a3lab.rnn.learning.learn`: the weights before and after, and test accuracy per length."""

    start: Weights
    learned: Weights
    w_h_error: float
    accuracy: dict[str, float]
    """test length (as text) -> share of sequences classified right"""
    seconds: float
    history: list[HistoryPoint]
    config: dict
    """the `LearnConfig` as plain data"""


class RNNResult(TypedDict):
    exact: ExactChecks
    learn: Learned
    budget: Budget
    images: list[str]


def run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    from a3lab.rnn.experiment import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render(r: dict) -> list[Block]:
    lr = r["learn"]
    rows = [
        [k, f"{lr['start'][k]:+.4f}", f"{lr['learned'][k]:+.6f}", v]
        for k, v in (("w_x", "any > 0 (sets the sharpness)"), ("w_h", "-1"), ("b", "0"))
    ]
    acc = [[n, pct(a)] for n, a in lr["accuracy"].items()]
    trained = f"{lr['config']['min_length']}..{lr['config']['max_length']}"
    return [
        table_block(["weight", "random start", "learned", "hand-wired"], rows),
        table_block([f"test length (trained on {trained})", "accuracy"], acc),
        ("p", f"Training took {lr['seconds']:.1f} s."),
    ]


RNN = Section(
    name="rnn",
    title="The hand-wired RNN",
    run=run,
    render=render,
    result=RNNResult,
    timing_keys=frozenset({"seconds"}),
    cost=1.0,
)
