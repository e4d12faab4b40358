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
    "VERDICTS",
    "Claim",
    "Judgement",
    "Outcome",
    "Verdict",
    "VerdictName",
    "combine",
    "judge",
    "stopped_early",
]

CLAIMS: tuple[Claim, ...] = tuple(
    sorted((*images.CLAIMS, *rnn.CLAIMS, *attention.CLAIMS, *gan.CLAIMS), key=lambda c: c.number)
)
"""Every claim of the write-up, by number."""
