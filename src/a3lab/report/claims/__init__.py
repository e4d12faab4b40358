"""The write-up's claims, each with a stated rule that turns the measurements into a verdict.

Each claim names the sections it reads, the preconditions its measurements must meet for the comparison to
count, and its rule; each lives beside its rule's code, in the module of its problem (`images`, `rnn`,
`attention`, `gan`), with every threshold named once and written into the rule's text from that name.
`verdicts` holds the machinery: the verdicts, `Claim`, `combine` and `judge`.

Verdicts are never written by hand: change a number and the verdict follows the rule. Timing rules read
ratios measured in interleaved rounds (`a3lab.timing`) and decide only when the ratio's whole spread
lies on one side of the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from a3lab.report.claims import attention, gan, images, rnn
from a3lab.report.claims.verdicts import (
    VERDICTS,
    Claim,
    Judgement,
    Outcome,
    Verdict,
    VerdictName,
    combine,
    judge,
    stopped_early,
)

__all__ = [
    "CLAIMS",
    "PROBLEMS",
    "VERDICTS",
    "Claim",
    "Judgement",
    "Outcome",
    "Problem",
    "Verdict",
    "VerdictName",
    "combine",
    "judge",
    "stopped_early",
]


@dataclass(frozen=True)
class Problem:
    """A problem of the write-up: its claims, and the package whose sections measure them."""

    title: str
    package: str
    claims: tuple[Claim, ...]


PROBLEMS: tuple[Problem, ...] = (
    Problem("Problem 1: CNN vs RNN", "a3lab.classifiers", images.CLAIMS),
    Problem("Problem 2: a hand-wired RNN", "a3lab.rnn", rnn.CLAIMS),
    Problem("Problem 3: linear-time self-attention", "a3lab.attention", attention.CLAIMS),
    Problem("Problem 4: GAN vs conditional GAN", "a3lab.gan", gan.CLAIMS),
)
"""The write-up's problems in its order; the page shows each one's claims, then its package's sections."""

CLAIMS: tuple[Claim, ...] = tuple(sorted((c for p in PROBLEMS for c in p.claims), key=lambda c: c.number))
"""Every claim of the write-up, by number."""
