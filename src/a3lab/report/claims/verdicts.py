"""The verdict machinery: what a verdict is, how a claim is stated, and how `judge` applies its rule.

`judge` applies a claim in this order:

1. a section that failed, did not run, or stopped at its time limit gives "not measured" (a run cut short
   never produces a verdict);
2. a failed precondition gives "inconclusive", with the reason;
3. otherwise the rule gives the verdict.

"Not measured" is decided by those explicit checks only: anything a rule raises is a bug (in the rule, or in a
result that does not match its section's type), so it propagates instead of hiding behind a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from a3lab.timing import MIN_ROUNDS

VerdictName = Literal["supported", "refuted", "nuanced", "inconclusive", "not measured"]

VERDICTS: dict[str, tuple[str, str]] = {
    "supported": ("#1d7a3a", "the measurements meet the rule's condition for the claim (green)"),
    "refuted": ("#b03020", "the measurements meet the rule's condition against the claim (red)"),
    "nuanced": ("#a06800", "the claim holds in some cases and not in others (amber)"),
    "inconclusive": (
        "#6a3d9a",
        "a precondition failed or a timing's spread spans the threshold, so the "
        "measurements cannot decide; the reason is given (purple)",
    ),
    "not measured": ("#666666", "a section the claim reads failed, did not run, or stopped at its time limit (grey)"),
}
"""Every verdict: its colour on the page and what it means. The one place both are defined."""


@dataclass
class Verdict:
    """A claim of the write-up, its verdict and the rule and numbers that gave it."""

    number: int
    claim: str
    verdict: VerdictName
    rule: str
    evidence: list[str] = field(default_factory=list)
    why: str = ""
    """why the verdict is inconclusive or not measured (empty otherwise)"""


Judgement = tuple[VerdictName, list[str]] | tuple[VerdictName, list[str], str]
"""(verdict, evidence) or (verdict, evidence, why)"""


@dataclass(frozen=True)
class Claim:
    """A claim of the write-up, the sections whose results judge it, and the rule as text and as code."""

    number: int
    claim: str
    sections: tuple[str, ...]
    rule: str
    judge: Callable[[dict], Judgement]
    requires: str = ""
    """the preconditions in words (shown beside the rule)"""
    precondition: Callable[[dict], list[str]] | None = None
    """{section: result} -> the preconditions that failed, as sentences (empty: all met)"""
    timed: bool = False
    """its rule reads timings (its evidence differs from run to run; its verdict must not)"""


Outcome = bool | Literal["partial"] | None
"""Per case of a rule: True the claim holds, False it fails, "partial" between, None undecided (spread)."""


def combine(outcomes: list[Outcome]) -> VerdictName:
    """One verdict from a rule's cases: all hold -> supported, all fail -> refuted, a mix or a partial case ->
    nuanced; an undecided case among otherwise agreeing ones -> inconclusive.

    >>> combine([True, True]), combine([False, False]), combine([True, "partial"]), combine([True, None])
    ('supported', 'refuted', 'nuanced', 'inconclusive')
    """
    if not outcomes:
        return "inconclusive"
    decided = [o for o in outcomes if o is not None]
    if "partial" in decided or (True in decided and False in decided):
        return "nuanced"
    if len(decided) < len(outcomes):
        return "inconclusive"
    return "supported" if all(o is True for o in decided) else "refuted"


def stopped_early(result: Mapping | None) -> str | None:
    """Why a section's result is unfinished ("stopped at the time limit after X of Y steps"), or None.

    Sections state their work in `result["budget"]` (`a3lab.section.Budget`): {"work": text, "unit": "steps",
    "planned": int, "done": int, "images": int | None, "stopped": None or what stopped it}.
    """
    budget = (result or {}).get("budget")
    if not budget:
        return None
    if budget.get("stopped") is None and budget.get("done", 0) >= budget.get("planned", 0):
        return None
    why = budget.get("stopped") or "the time limit"
    return f"stopped at {why} after {budget.get('done'):,} of {budget.get('planned'):,} {budget.get('unit', 'steps')}"


def timing_rounds(r: dict, section: str) -> list[str]:
    """The precondition of every timed rule: at least `MIN_ROUNDS` interleaved rounds in `section`'s timing."""
    timing = r[section].get("timing") or {}
    rounds = timing.get("rounds", 0)
    if rounds < MIN_ROUNDS:
        return [f"{section}: {rounds} interleaved timing rounds, fewer than {MIN_ROUNDS}"]
    return []


def _not_measured(section: str, record: Mapping | None) -> str | None:
    """Why a section gives no measurement: it did not run, failed, or stopped early (None: it measured)."""
    if record is not None and record.get("status") == "stale":
        return f"section {section}: {record.get('error')}"
    if record is None or record.get("result") is None:
        return f"section {section} did not produce results"
    if record.get("status") == "failed":
        return f"section {section} failed: {record.get('error')}"
    return None


def judge(claim: Claim, records: dict[str, dict]) -> Verdict:
    """Apply a claim's preconditions and rule to the sections' records.

    A failed or missing section, or one stopped at its time limit, gives "not measured"; a failed precondition
    "inconclusive"; otherwise the rule decides.
    """
    rule = claim.rule + (f" Precondition: {claim.requires}." if claim.requires else "")

    def verdict(name: VerdictName, evidence: list[str], why: str = "") -> Verdict:
        return Verdict(claim.number, claim.claim, name, rule, evidence, why)

    missing = [why for s in claim.sections if (why := _not_measured(s, records.get(s)))]
    if missing:
        return verdict("not measured", [], "; ".join(missing))
    results = {s: records[s]["result"] for s in claim.sections}
    stopped = [f"section {s} {why}" for s in claim.sections if (why := stopped_early(results[s]))]
    if stopped:
        return verdict("not measured", [], "not measured: " + "; ".join(stopped))
    failed = claim.precondition(results) if claim.precondition else []
    name, evidence, *why = claim.judge(results)
    if failed:
        return verdict("inconclusive", evidence, "precondition not met: " + "; ".join(failed))
    return verdict(name, evidence, why[0] if why else "")
