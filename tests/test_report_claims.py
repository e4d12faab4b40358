"""The claims' verdicts follow their stated rules (claim scenarios on the fixture records), and `judge`
says "not measured" only for a section that is missing, failed or stopped early: a bug in a rule raises."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from a3lab.report import claims
from a3lab.report.claims import CLAIMS, PROBLEMS, images
from test_report_fixtures import fixture_records, spread


def judged(records: dict, number: int) -> claims.Verdict:
    return claims.judge(CLAIMS[number - 1], records)


def _set(path: str, value):
    """A change to the fixture records: set the value at a dotted path (list indices as numbers)."""

    def change(records: dict) -> None:
        *keys, last = path.split(".")
        node = records
        for k in keys:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(last) if isinstance(node, list) else last] = value

    return change


def _each(paths: list[str], value):
    def change(records: dict) -> None:
        for path in paths:
            _set(path, value)(records)

    return change


CLS = "classifiers.result.results"
RATIOS = "classifiers.result.timing.ratios"
SLOPES = "attention_cost.result.timing.slopes"
ALL_PAIRS = [f"{RATIOS}.{ds}.{m}" for ds in ("mnist", "fashion-mnist") for m in ("gru", "lstm")]
LONGEST = "attention_cost.result.timing.speedup_vs_full.1.ratio"

RULE_CASES = [
    # (claim, change, verdict)
    (1, _each([f"{CLS}.{ds}.gru.accuracy" for ds in ("mnist", "fashion-mnist")], 0.999), "refuted"),
    (1, _set(f"{CLS}.mnist.gru.accuracy", 0.999), "nuanced"),
    (2, _each([f"{CLS}.{ds}.cnn.flops_per_image" for ds in ("mnist", "fashion-mnist")], 10**8), "nuanced"),
    (2, _each(ALL_PAIRS, spread(0.3, 0.6)), "nuanced"),
    (2, _set(f"{RATIOS}.mnist.gru", spread(0.95, 1.08)), "inconclusive"),
    (2, _each(ALL_PAIRS, spread(1.01, 1.02)), "supported"),
    (
        3,
        _each(
            [f"sequences.result.tasks.{t}.models.{m}" for t in ("alternating", "parity") for m in ("gru", "lstm")],
            {"20": 0.9, "50": 0.7, "100": 0.6, "500": 0.52, "1000": 0.5},
        ),
        "refuted",
    ),
    (4, _set("rnn.result.exact.mismatches", 1), "refuted"),
    (4, _set("rnn.result.learn.w_h_error", 0.01), "nuanced"),
    (5, _set(f"{SLOPES}.sliding-blocked", spread(1.6, 1.9)), "nuanced"),
    (5, _each([f"{SLOPES}.sliding-blocked", f"{SLOPES}.linformer"], spread(1.6, 1.9)), "refuted"),
    (5, _set(f"{SLOPES}.sliding-blocked", spread(1.07, 1.18)), "inconclusive"),
    (5, _each([f"{SLOPES}.sliding-blocked", f"{SLOPES}.linformer"], spread(1.2, 1.4)), "nuanced"),
    (6, _set("attention_tasks.result.long_range.results.sliding", 0.97), "refuted"),
    (6, _set("attention_tasks.result.long_range.results.sliding", 0.75), "nuanced"),
    (7, _set(LONGEST, spread(0.4, 0.9)), "supported"),
    (7, _set(LONGEST, spread(1.2, 1.8)), "nuanced"),
    (7, _set(LONGEST, spread(1.8, 2.3)), "inconclusive"),
    (7, _set(LONGEST, spread(0.9, 1.1)), "inconclusive"),
    (
        8,
        _set(
            "attention_tasks.result.linformer_error",
            {"k": [16, 64, 256], "random": [0.0, 0.0, 0.0], "trained": [0.0, 0.0, 0.0]},
        ),
        "refuted",
    ),
    (9, _set("gan.result.runs.mnist-cgan.conditional_accuracy", 0.3), "nuanced"),
    (10, _set("video.result.tasks.first.models.c3d", {"8": 0.99, "16": 0.98, "32": 0.985}), "nuanced"),
    (10, _set("video.result.tasks.direction.models.gru", {"8": 0.93, "16": 0.9, "32": 0.9}), "nuanced"),
    (
        10,
        _each(
            [f"video.result.tasks.{t}.models.transformer" for t in ("first", "direction")],
            {"8": 0.995, "16": 0.99, "32": 0.99},
        ),
        "refuted",
    ),
    (11, _set("captions.result.datasets.mnist.ctc.exact_unseen", 0.95), "nuanced"),
    (
        11,
        _each(
            [
                f"captions.result.datasets.{ds}.ctc.{k}"
                for ds in ("mnist", "fashion-mnist")
                for k in ("exact_seen", "exact_unseen")
            ],
            0.995,
        ),
        "refuted",
    ),
]


def test_fixture_supports_every_claim_but_the_cuda_kernel(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    verdicts = {c.number: claims.judge(c, records) for c in CLAIMS}
    assert {n: v.verdict for n, v in verdicts.items()} == {
        n: "refuted" if n == 7 else "supported" for n in range(1, 12)
    }
    assert all(v.why == "" for v in verdicts.values())


@pytest.mark.parametrize(("number", "change", "expected"), RULE_CASES)
def test_rules_follow_the_numbers(tmp_path: Path, number: int, change, expected: str) -> None:
    records = fixture_records(tmp_path)
    change(records)
    verdict = judged(records, number)
    assert verdict.verdict == expected, verdict
    assert bool(verdict.why) == (expected == "inconclusive")


PRECONDITION_CASES = [
    (1, _set(f"{CLS}.mnist.gru.accuracy", 0.59), "mnist GRU reached 59.00%"),
    (1, _set(f"{CLS}.fashion-mnist.cnn.accuracy", 0.80), "fashion-mnist CNN"),
    (2, _set("classifiers.result.timing.rounds", 3), "3 interleaved timing rounds"),
    (3, _set("sequences.result.tasks.parity.models.hand_wired.50", 0.9), "hand-wired RNN scores 90.00%"),
    (5, _set("attention_cost.result.timing.slope_sizes", [2048, 4096]), "fitted on 2 sequence lengths"),
    (6, _set("attention_tasks.result.long_range.results", {"sliding": 0.5, "linformer": 0.6}), "reaches 90%"),
    (7, _set("attention_cost.result.timing.rounds", 1), "1 interleaved timing rounds"),
    (8, _set("attention_tasks.result.linformer_error.trained.1", math.nan), "measured at 2 values of K"),
    (9, _set("gan.result.runs.mnist-gan.epochs", 0.11), "mnist-gan trained 0.11 of its 5 planned epochs"),
    (10, _set("video.result.tasks.max.models.mean_pool.8", 0.6), "mean_pool reached 60.00% on the control"),
    (10, _set("video.result.tasks.first.details.gru.steps", 50), "first gru trained 50 of its 100 planned steps"),
    (10, _set("video.result.order_tasks", ["first", "direction", "max"]), "no order-blind control"),
    (11, _set("captions.result.datasets.fashion-mnist.crnn.exact_seen", 0.5), "fashion-mnist crnn reached 50.00%"),
]


@pytest.mark.parametrize(("number", "change", "reason"), PRECONDITION_CASES)
def test_a_failed_precondition_is_inconclusive_with_its_reason(tmp_path: Path, number: int, change, reason: str):
    records = fixture_records(tmp_path)
    change(records)
    verdict = judged(records, number)
    assert verdict.verdict == "inconclusive"
    assert verdict.why.startswith("precondition not met") and reason in verdict.why
    assert verdict.evidence, "the numbers are still shown"


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"claim{c.number}")
def test_a_section_stopped_at_its_time_limit_gives_no_verdict(tmp_path: Path, claim: claims.Claim) -> None:
    records = fixture_records(tmp_path)
    section = claim.sections[0]
    records[section]["result"]["budget"] = {
        "work": "x", "unit": "steps", "planned": 3748, "done": 105, "images": 60000, "stopped": "the time limit",
    }  # fmt: skip
    verdict = claims.judge(claim, records)
    assert verdict.verdict == "not measured"
    assert f"section {section} stopped at the time limit after 105 of 3,748 steps" in verdict.why
    assert verdict.evidence == []


def test_claim_7_says_when_it_was_judged_on_cpu_only_and_prefers_cuda(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    assert "judged on CPU only; no CUDA measurement" in judged(records, 7).evidence
    timing = records["attention_cost"]["result"]["timing"]
    timing["speedup_vs_full"].append(
        {"device": "cuda:0", "n": 16384, "method": "sliding-blocked", "ratio": spread(0.5, 0.8)}
    )
    verdict = judged(records, 7)
    assert verdict.verdict == "supported" and verdict.evidence[0] == "judged on CUDA (cuda:0)"
    assert all("on cuda:0" in line for line in verdict.evidence[1:])


def test_every_claim_belongs_to_one_problem_and_claims_are_numbered_in_order() -> None:
    numbers = [c.number for p in PROBLEMS for c in p.claims]
    assert sorted(numbers) == [c.number for c in CLAIMS] == list(range(1, len(CLAIMS) + 1))


def test_a_section_that_failed_or_did_not_run_gives_no_verdict(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    records["gan"] = {"name": "gan", "status": "failed", "result": None, "error": "RuntimeError: out of luck"}
    del records["video"]
    assert (
        judged(records, 9).verdict == "not measured" and "section gan did not produce results" in judged(records, 9).why
    )
    assert judged(records, 10).why == "section video did not produce results"
    records["rnn"]["status"] = "failed"
    records["rnn"]["error"] = "ValueError: bad"
    assert judged(records, 4).why == "section rnn failed: ValueError: bad"


def test_a_bug_in_a_rule_or_a_result_off_its_type_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = fixture_records(tmp_path)
    del records["attention_tasks"]["result"]["long_range"]
    with pytest.raises(KeyError, match="long_range"):
        judged(records, 6)
    records = fixture_records(tmp_path)
    monkeypatch.setattr(images, "ACCURACY_SLACK", None)  # a rule with a bug: arithmetic on None
    with pytest.raises(TypeError):
        claims.judge(images.CNN_ACCURACY, records)


def test_thresholds_are_written_into_the_rules_from_their_names() -> None:
    assert f">= {100 * images.RECURRENT_MIN:.0f}%" in images.RNN_SEQUENCES.rule
    assert f"> {100 * images.CLEAR_LEAD:.0f} points" in images.RNN_SEQUENCES.rule
    assert "MNIST: CNN 99%, RNNs 98%; Fashion-MNIST: CNN 91%, RNNs 88%" in images.CNN_ACCURACY.requires
