"""The write-up's claims, each with a stated rule that turns the measurements into a verdict.

Each claim names the sections it reads, the preconditions its measurements must meet for the comparison to
count, and its rule. `judge` applies them in this order:

1. a section that failed, did not run, or stopped at its time limit gives "not measured" (a run cut short
   never produces a verdict);
2. a failed precondition gives "inconclusive", with the reason;
3. otherwise the rule gives the verdict.

Verdicts are never written by hand: change a number and the verdict follows the rule. Timing rules read
ratios measured in interleaved rounds (`a3lab.timing`) and decide only when the ratio's whole spread
lies on one side of the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from a3lab.timing import MIN_ROUNDS, describe, side_of

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


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def stopped_early(result: Mapping | None) -> str | None:
    """Why a section's result is unfinished ("stopped at the time limit after X of Y steps"), or None.

    Sections state their work in `result["budget"]`: {"work": text, "unit": "steps", "planned": int,
    "done": int, "images": int | None, "stopped": None or what stopped it}.
    """
    budget = (result or {}).get("budget")
    if not budget:
        return None
    if budget.get("stopped") is None and budget.get("done", 0) >= budget.get("planned", 0):
        return None
    why = budget.get("stopped") or "the time limit"
    return f"stopped at {why} after {budget.get('done'):,} of {budget.get('planned'):,} {budget.get('unit', 'steps')}"


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


# ----------------------------------------------------------------------------- problem 1: CNN vs RNN

REFERENCE_ACCURACY = {"mnist": {"cnn": 0.99, "rnn": 0.98}, "fashion-mnist": {"cnn": 0.91, "rnn": 0.88}}
"""Test accuracy each classifier reaches at the full budget (3 epochs on the full training split)."""
ACCURACY_SLACK = 0.05
"""how far below its full-budget accuracy a classifier may stay for claim 1's comparison to count"""


def _classifiers_trained(r: dict) -> list[str]:
    failed = []
    for ds, models in r["classifiers"]["results"].items():
        for m in ("cnn", "gru", "lstm"):
            if m not in models:
                continue
            floor = REFERENCE_ACCURACY.get(ds, {}).get("cnn" if m == "cnn" else "rnn", 0.0) - ACCURACY_SLACK
            if models[m]["accuracy"] < floor:
                failed.append(
                    f"{ds} {m.upper()} reached {pct(models[m]['accuracy'])}, below {pct(floor)} ({pct(ACCURACY_SLACK)} "
                    "under its full-budget accuracy): it is not trained enough to compare"
                )
    return failed


def _judge_cnn_accuracy(r: dict) -> Judgement:
    outcomes, evidence = [], []
    for ds, models in r["classifiers"]["results"].items():
        cnn = models["cnn"]["accuracy"]
        rnns = {m: models[m]["accuracy"] for m in ("gru", "lstm") if m in models}
        best = max(rnns, key=rnns.get)
        outcomes.append(cnn > rnns[best])
        evidence.append(f"{ds}: CNN {pct(cnn)} vs best RNN ({best}) {pct(rnns[best])}")
    return combine(outcomes), evidence


def _timing_rounds(r: dict, section: str) -> list[str]:
    timing = r[section].get("timing") or {}
    rounds = timing.get("rounds", 0)
    if rounds < MIN_ROUNDS:
        return [f"{section}: {rounds} interleaved timing rounds, fewer than {MIN_ROUNDS}"]
    return []


def _judge_cnn_cost(r: dict) -> Judgement:
    """Per (data set, RNN): fewer FLOPs and a speed ratio (CNN images/s over RNN images/s) above 1."""
    results, timing = r["classifiers"]["results"], r["classifiers"]["timing"]
    outcomes: list[Outcome] = []
    evidence = [
        f"inference timed side by side: {timing['rounds']} interleaved rounds, {timing['threads']} thread(s), "
        f"batch {timing['batch_size']}, {timing['images']:,} test images a call, on {timing['device']}"
    ]
    for ds, models in results.items():
        cnn = models["cnn"]
        for m in ("gru", "lstm"):
            if m not in models:
                continue
            ratio = timing["ratios"][ds][m]
            fewer = cnn["flops_per_image"] < models[m]["flops_per_image"]
            side = side_of(ratio, 1.0)
            faster = {"above": True, "below": False, "straddles": None}[side]
            outcomes.append(None if faster is None else (fewer if fewer == faster else "partial"))
            evidence.append(
                f"{ds}: CNN {cnn['flops_per_image'] / 1e6:.2f} vs {m.upper()} "
                f"{models[m]['flops_per_image'] / 1e6:.2f} MFLOP/image; CNN images/s over {m.upper()} images/s "
                f"{describe(ratio)}" + (" (spans 1: neither clearly faster)" if faster is None else "")
            )
    verdict = combine(outcomes)
    why = "a speed ratio's spread spans 1, so which model is faster is not decided" if verdict == "inconclusive" else ""
    return verdict, evidence, why


def _unseen_mean(models: dict, names: tuple[str, ...], train_max: int) -> tuple[str | None, float]:
    """The best model among `names` by mean accuracy over lengths longer than any seen in training."""
    best, best_acc = None, -1.0
    for name in names:
        if name not in models:
            continue
        accs = [a for n, a in models[name].items() if int(n) > train_max]
        if accs and (m := sum(accs) / len(accs)) > best_acc:
            best, best_acc = name, m
    return best, best_acc


def _sequence_sets_sound(r: dict) -> list[str]:
    failed = []
    for task, t in r["sequences"]["tasks"].items():
        hand = t["models"].get("hand_wired")
        if hand is not None and min(hand.values()) < 1.0:
            failed.append(
                f"{task}: the hand-wired RNN scores {pct(min(hand.values()))}, not 100%: the test sets are wrong"
            )
    return failed


def _judge_rnn_sequences(r: dict) -> Judgement:
    evidence, outcomes = [], []
    for task, t in r["sequences"]["tasks"].items():
        rec, rec_acc = _unseen_mean(t["models"], ("gru", "lstm"), t["train_max_length"])
        fix, fix_acc = _unseen_mean(t["models"], ("cnn1d", "mlp"), t["train_max_length"])
        evidence.append(
            f"{task}: mean accuracy on unseen lengths, best recurrent ({rec}) {pct(rec_acc)} vs best "
            f"fixed-window ({fix}) {pct(fix_acc)} (chance {pct(t['chance'])})"
        )
        clear = rec_acc >= 0.9 and rec_acc > fix_acc + 0.1
        outcomes.append(True if clear else ("partial" if rec_acc > fix_acc + 0.05 else False))
    return combine(outcomes), evidence


# ----------------------------------------------------------------------------- problem 2: the hand-wired RNN


def _judge_rnn_derivation(r: dict) -> Judgement:
    ex, lr = r["rnn"]["exact"], r["rnn"]["learn"]
    exact_ok = (
        ex["mismatches"] == 0
        and ex["coefficients_T8"] == [-1, 1] * 4
        and ex["consecutive_all_match"]
        and ex["rule_agreement"] == 1.0
    )
    acc200 = lr["accuracy"].get("200")
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
    learned_ok = lr["w_h_error"] <= 1e-3 and acc200 is not None and acc200 >= 0.99
    if exact_ok and learned_ok:
        return "supported", evidence
    return ("nuanced" if exact_ok else "refuted"), evidence


# ----------------------------------------------------------------------------- problem 3: attention

LINEAR_SLOPE, SUBQUADRATIC_SLOPE = 1.15, 1.5
"""claim 5: a log-log slope of time against N up to LINEAR_SLOPE counts as linear, above SUBQUADRATIC_SLOPE as
not linear"""
MIN_SLOPE_SIZES = 3
"""fewest sequence lengths a slope may be fitted on"""


def _slopes_measured(r: dict) -> list[str]:
    failed = _timing_rounds(r, "attention_cost")
    sizes = (r["attention_cost"].get("timing") or {}).get("slope_sizes", [])
    if len(sizes) < MIN_SLOPE_SIZES:
        failed.append(f"slopes fitted on {len(sizes)} sequence lengths, fewer than {MIN_SLOPE_SIZES}")
    return failed


def _judge_linear_cost(r: dict) -> Judgement:
    timing = r["attention_cost"]["timing"]
    slopes = timing["slopes"]
    evidence = [
        f"log-log slope of forward time against N over N = {', '.join(map(str, timing['slope_sizes']))}, "
        f"fitted per round ({timing['rounds']} interleaved rounds, {timing['threads']} thread(s), {timing['device']}):"
    ] + [f"{m}: {describe(s, '')}" for m, s in slopes.items()]
    outcomes: list[Outcome] = []
    for m, s in slopes.items():
        if not m.startswith(("sliding", "linformer")):
            continue
        if s["high"] <= LINEAR_SLOPE:
            outcomes.append(True)
        elif s["low"] > SUBQUADRATIC_SLOPE:
            outcomes.append(False)
        elif s["low"] > LINEAR_SLOPE and s["high"] <= SUBQUADRATIC_SLOPE:
            outcomes.append("partial")
        else:
            outcomes.append(None)
    if not outcomes:
        return "not measured", evidence, "no sliding-window or Linformer slope in the results"
    verdict = combine(outcomes)
    why = f"a slope's spread spans {LINEAR_SLOPE} or {SUBQUADRATIC_SLOPE}" if verdict == "inconclusive" else ""
    return verdict, evidence, why


def _long_range_learned(r: dict) -> list[str]:
    res = r["attention_tasks"]["long_range"]["results"]
    if not any(acc >= 0.9 for acc in res.values()):
        return [
            "no attention kind reaches 90% on the long-range task, so the training budget does not show what "
            "a window loses"
        ]
    return []


def _judge_window_loses(r: dict) -> Judgement:
    lr = r["attention_tasks"]["long_range"]
    res, chance = lr["results"], lr["chance"]
    evidence = [
        f"task length {lr['length']}, {lr['layers']} layers x one-sided window {lr['window']} "
        f"(receptive field {lr['layers'] * lr['window']} < {lr['length']}); chance {pct(chance)}"
    ] + [f"{kind}: {pct(acc)}" for kind, acc in res.items()]
    sliding = res.get("sliding")
    if sliding is None:
        return "not measured", evidence, "the plain sliding window did not run"
    if sliding <= chance + 0.1:
        return "supported", evidence
    return ("refuted" if sliding >= 0.9 else "nuanced"), evidence


def _cuda_first(speed: list[dict]) -> tuple[list[dict], str]:
    """The speed-ups measured on CUDA when there are any, else those on CPU, and a note on the device."""
    cuda = [s for s in speed if str(s.get("device", "cpu")).startswith("cuda")]
    if cuda:
        return cuda, f"judged on CUDA ({cuda[0]['device']})"
    return speed, "judged on CPU only; no CUDA measurement"


def _judge_cuda_kernel(r: dict) -> Judgement:
    speed, note = _cuda_first(r["attention_cost"]["timing"]["speedup_vs_full"])
    if not speed:
        return "not measured", [], "no side-by-side timing of sliding window and full attention"
    evidence = [note] + [
        f"full attention time over plain-PyTorch sliding window ({s['method']}) at N={s['n']} on {s['device']}: "
        f"{describe(s['ratio'])}"
        for s in speed
    ]
    # The claim says the window is not effective without a custom CUDA kernel: it is refuted when the
    # kernel-free banded code beats dense attention clearly at the longest N.
    n_max = max(s["n"] for s in speed)
    longest = max((s for s in speed if s["n"] == n_max), key=lambda s: s["ratio"]["median"])["ratio"]  # best window
    if side_of(longest, 2.0) == "above":
        return "refuted", evidence
    if side_of(longest, 1.0) == "below":
        return "supported", evidence
    if side_of(longest, 1.0) == "above" and side_of(longest, 2.0) == "below":
        return "nuanced", evidence
    return "inconclusive", evidence, "the speed-up's spread at the longest N spans 1x or 2x"


def _enough_ranks(r: dict) -> list[str]:
    le = r["attention_tasks"]["linformer_error"]
    measured = [
        k for k, e_r, e_t in zip(le["k"], le["random"], le["trained"]) if math.isfinite(e_r) and math.isfinite(e_t)
    ]
    if len(measured) < 3:
        return [f"the error was measured at {len(measured)} values of K, fewer than 3: too few to see it shrink"]
    return []


def _judge_linformer_loses(r: dict) -> Judgement:
    le = r["attention_tasks"]["linformer_error"]
    ks, rnd, trained = le["k"], le["random"], le["trained"]
    evidence = [
        f"K={k}: relative error {e_r:.4f} on random inputs, {e_t:.4f} on trained activations"
        for k, e_r, e_t in zip(ks, rnd, trained)
    ]
    errors = [e for e in (*rnd, *trained) if e is not None and math.isfinite(e)]
    if not errors:
        return "not measured", evidence, "no finite Linformer error in the results"
    lossy = min(rnd[0], trained[0]) > 0.01
    shrinks = rnd[-1] < rnd[0] and trained[-1] < trained[0]
    if lossy and shrinks:
        return "supported", evidence
    return ("nuanced" if lossy or shrinks else "refuted"), evidence


# ----------------------------------------------------------------------------- problem 4: GAN


def _gan_runs_finished(r: dict) -> list[str]:
    return [
        f"{name} trained {v['epochs']} of its {v['epochs_planned']} planned epochs"
        for name, v in r["gan"]["runs"].items()
        if v.get("epochs_planned") is not None and v["epochs"] < v["epochs_planned"]
    ]


def _judge_cgan(r: dict) -> Judgement:
    runs = r["gan"]["runs"]
    evidence, outcomes = [], []
    for ds in sorted({v["dataset"] for v in runs.values()}):
        cgan = next(v for v in runs.values() if v["dataset"] == ds and v["conditional"])
        gan = next(v for v in runs.values() if v["dataset"] == ds and not v["conditional"])
        evidence.append(
            f"{ds}: conditional GAN makes the asked class {pct(cgan['conditional_accuracy'])} of the time; "
            f"plain GAN's classes have entropy {gan['class_entropy_bits']:.2f} bits (uniform: {math.log2(10):.2f})"
        )
        outcomes.append(cgan["conditional_accuracy"] >= 0.8 and gan["class_entropy_bits"] >= 0.8 * math.log2(10))
    return combine(outcomes), evidence


# ----------------------------------------------------------------------------- problem 1, part B: video, captions

VIDEO_MARGIN = 0.05
"""claim 10: how far (accuracy) the GRU must lead every non-recurrent clip model to count as preferred"""
VIDEO_CONTROL_MIN = 0.85
"""claim 10: accuracy every clip model must reach on the order-blind control at the training length"""
CAPTION_MARGIN = 0.02
"""claim 11: how far (exact-caption accuracy) the best recurrent captioner must lead every other one"""
CAPTION_MIN = {"mnist": 0.9, "fashion-mnist": 0.6}
"""claim 11: exact-caption accuracy on the trained lengths 1..4 every captioner must reach, per data set"""
MATCH = 0.01
"""a non-recurrent model within this much (or above) matches the recurrent one"""


def _lead(recurrent: float, others: float, margin: float) -> Outcome:
    """True: the recurrent model leads by more than `margin`; False: the others match or beat it; else partial."""
    if recurrent > others + margin:
        return True
    return False if others >= recurrent - MATCH else "partial"


def _runs_short(name: str, runs: dict) -> list[str]:
    return [
        f"{name} {kind} trained {d['steps']:,} of its {d['steps_planned']:,} planned steps"
        for kind, d in runs.items()
        if d["steps"] < d["steps_planned"]
    ]


def _video_trained(r: dict) -> list[str]:
    v, failed = r["video"], []
    control = [t for t in v["tasks"] if t not in v["order_tasks"]]
    if not control:
        failed.append("no order-blind control task was run, so a failure cannot be blamed on order")
    for task in control:
        for kind, accs in v["tasks"][task]["models"].items():
            acc = accs[str(v["length"])]
            if acc < VIDEO_CONTROL_MIN:
                failed.append(
                    f"{kind} reached {pct(acc)} on the control task '{task}', below {pct(VIDEO_CONTROL_MIN)}: it "
                    "does not yet recognise the items well enough to compare on order"
                )
    for task, entry in v["tasks"].items():
        failed += _runs_short(task, entry["details"])
    return failed


def _judge_video(r: dict) -> Judgement:
    v = r["video"]
    T, longer = str(v["length"]), [str(n) for n in v["lengths"] if n > v["length"]]
    outcomes: list[Outcome] = []
    evidence = [f"trained on clips of {T} frames, tested on {', '.join([T, *longer])} frames"]
    for task in v["order_tasks"]:
        models = v["tasks"][task]["models"]
        others = [k for k in models if k not in v["recurrent"]]
        for label, lengths in (("training length", [T]), ("longer clips", longer)):
            mean = {k: sum(models[k][n] for n in lengths) / len(lengths) for k in models}
            best = max(others, key=mean.get)
            gru = max(mean[k] for k in v["recurrent"] if k in models)
            outcomes.append(_lead(gru, mean[best], VIDEO_MARGIN))
            evidence.append(
                f"{task}, {label}: GRU {pct(gru)} vs best non-recurrent ({best}) {pct(mean[best])}; "
                + ", ".join(f"{k} {pct(mean[k])}" for k in others if k != best)
            )
    return combine(outcomes), evidence


def _captions_trained(r: dict) -> list[str]:
    c, failed = r["captions"], []
    for ds, models in c["datasets"].items():
        floor = CAPTION_MIN.get(ds, 0.0)
        for kind, m in models.items():
            if m["exact_seen"] < floor:
                failed.append(
                    f"{ds} {kind} reached {pct(m['exact_seen'])} exact captions on 1..4 items, below {pct(floor)}: "
                    "it is not trained enough to compare"
                )
        failed += _runs_short(ds, {k: m for k, m in models.items() if k != "show_tell_greedy"})
    return failed


def _judge_captions(r: dict) -> Judgement:
    c = r["captions"]
    outcomes: list[Outcome] = []
    evidence = []
    for ds, models in c["datasets"].items():
        recurrent = [k for k in models if k in c["recurrent"]]
        others = [k for k in models if k not in c["recurrent"] and k != "show_tell_greedy"]
        for label, key in (("1..4 items (trained)", "exact_seen"), ("5..8 items (unseen)", "exact_unseen")):
            rec = max(recurrent, key=lambda k: models[k][key])
            other = max(others, key=lambda k: models[k][key])
            outcomes.append(_lead(models[rec][key], models[other][key], CAPTION_MARGIN))
            wer = key.replace("exact", "wer")
            evidence.append(
                f"{ds}, {label}: exact captions, best recurrent ({rec}) {pct(models[rec][key])} vs best "
                f"non-recurrent ({other}) {pct(models[other][key])}; WER {pct(models[rec][wer])} vs "
                f"{pct(models[other][wer])}"
            )
    return combine(outcomes), evidence


CLAIMS: tuple[Claim, ...] = (
    Claim(
        1,
        "CNNs are better at identifying images than RNNs.",
        ("classifiers",),
        "supported if the CNN's test accuracy beats both row-by-row RNNs (GRU, LSTM) on both data sets; "
        "refuted if it beats them on neither; nuanced otherwise.",
        _judge_cnn_accuracy,
        requires=f"each of CNN, GRU and LSTM within {100 * ACCURACY_SLACK:.0f} points of its full-budget test "
        "accuracy (MNIST: CNN 99%, RNNs 98%; Fashion-MNIST: CNN 91%, RNNs 88%)",
        precondition=_classifiers_trained,
    ),
    Claim(
        2,
        "CNNs reduce the data's dimensions, so they need far fewer computations and less time.",
        ("classifiers",),
        "per data set and RNN, the CNN needs fewer FLOPs per image and its inference speed over the RNN's "
        "(images/s, timed side by side in interleaved rounds) has its whole spread above 1: supported if both "
        "hold everywhere; refuted if neither holds anywhere; nuanced if they hold in part; inconclusive if a "
        "speed ratio's spread spans 1.",
        _judge_cnn_cost,
        timed=True,
        requires=f"at least {MIN_ROUNDS} interleaved timing rounds, one process, same threads and batch size",
        precondition=lambda r: _timing_rounds(r, "classifiers"),
    ),
    Claim(
        3,
        "RNNs are the better choice for sequential or temporal data.",
        ("sequences",),
        "supported if, on every task, the best recurrent model (GRU/LSTM) averages >= 90% on lengths longer "
        "than any seen in training and beats the best fixed-window model (1-D CNN, MLP) by > 10 points; "
        "refuted if it beats it by > 5 points on no task; nuanced otherwise.",
        _judge_rnn_sequences,
        requires="the hand-wired RNN scores 100% on every test set (the labels are right)",
        precondition=_sequence_sets_sound,
    ),
    Claim(
        4,
        "h_2n = x_2n - x_2n-1 + ... + x_2 - x_1 + h_0 (even positions +, odd -); consecutive inputs give "
        "n/2 + h_0; y = sigmoid(500 h) says whether the even positions outweigh the odd.",
        ("rnn",),
        "supported if the closed form equals the recurrence on every checked sequence, the sign pattern and "
        "the consecutive-input value hold, y_T follows the rule on every sequence, and a one-unit RNN learns "
        "w_h within 0.001 of -1 with >= 99% accuracy at length 200; refuted if an exact check fails; "
        "nuanced if only the learning target is missed.",
        _judge_rnn_derivation,
    ),
    Claim(
        5,
        "Longformer and Linformer make self-attention O(n).",
        ("attention_cost",),
        f"the log-log slope of forward time against N, fitted per interleaved round over at least "
        f"{MIN_SLOPE_SIZES} lengths: supported if every sliding-window and Linformer slope's whole spread is "
        f"<= {LINEAR_SLOPE}; refuted if every one is above {SUBQUADRATIC_SLOPE}; nuanced in between; "
        f"inconclusive if a spread spans {LINEAR_SLOPE} or {SUBQUADRATIC_SLOPE} (full attention shown for contrast).",
        _judge_linear_cost,
        timed=True,
        requires=f"at least {MIN_ROUNDS} interleaved rounds and {MIN_SLOPE_SIZES} sequence lengths",
        precondition=_slopes_measured,
    ),
    Claim(
        6,
        "Longformer's sliding window can lose information.",
        ("attention_tasks",),
        "supported if a plain sliding window whose receptive field is shorter than the sequence stays within "
        "10 points of chance on the long-range task; refuted if the plain window reaches >= 90%; nuanced "
        "otherwise.",
        _judge_window_loses,
        requires="global tokens, dilation, Linformer or full attention reach >= 90% on the task (it is learnable "
        "within the budget)",
        precondition=_long_range_learned,
    ),
    Claim(
        7,
        "Longformer needs a custom CUDA kernel to be effective.",
        ("attention_cost",),
        "full attention's time over our plain-PyTorch banded sliding window's (no custom kernel), side by side "
        "in interleaved rounds at the longest N: refuted if the whole spread is >= 2x; supported if it is "
        "below 1x (the window is slower); nuanced if it lies between 1x and 2x; inconclusive if it spans 1x or "
        "2x. CUDA timings decide when the results hold any; otherwise the page says it was judged on CPU only.",
        _judge_cuda_kernel,
        timed=True,
        requires=f"at least {MIN_ROUNDS} interleaved timing rounds",
        precondition=lambda r: _timing_rounds(r, "attention_cost"),
    ),
    Claim(
        8,
        "Linformer loses some information with every factorisation.",
        ("attention_tasks",),
        "supported if Linformer's relative output error against full attention exceeds 1% at the smallest K "
        "and shrinks as K grows, on random inputs and on a trained model's activations; refuted if neither "
        "holds; nuanced otherwise.",
        _judge_linformer_loses,
        requires="finite errors at 3 or more values of K on both inputs",
        precondition=_enough_ranks,
    ),
    Claim(
        9,
        "The conditional GAN generates the class it is asked for; the plain GAN's class is random.",
        ("gan",),
        "supported if, on each data set, the domain CNN calls >= 80% of the conditional GAN's images the "
        "asked class and the plain GAN's class histogram has >= 80% of the uniform entropy (log2 10 bits); "
        "refuted if this holds on no data set; nuanced otherwise.",
        _judge_cgan,
        requires="every GAN run trained all its planned epochs",
        precondition=_gan_runs_finished,
    ),
    Claim(
        10,
        "RNNs are preferred for video: sequential images at different points of time.",
        ("video",),
        f"on each order-dependent clip task (which item came first, direction of motion, whether the items "
        f"increase), at the training length and averaged over clips 2x and 4x longer: the GRU over frame "
        f"features leads every non-recurrent model (mean-pooled frame CNN, C3D, transformer over frames) by "
        f"more than {100 * VIDEO_MARGIN:.0f} points in every case: supported; some non-recurrent model comes "
        f"within {100 * MATCH:.0f} point of it or beats it in every case: refuted; nuanced otherwise.",
        _judge_video,
        requires=f"every clip model reaches {100 * VIDEO_CONTROL_MIN:.0f}% on the order-blind control task at the "
        "training length (so it recognises the items) and every run trained all its planned steps",
        precondition=_video_trained,
    ),
    Claim(
        11,
        "To understand what is happening in an image, for example to caption it, an RNN is ideal.",
        ("captions",),
        f"per data set, on strips of the trained lengths 1..4 and on unseen lengths 5..8: the best recurrent "
        f"captioner (GRU decoder with attention, CRNN) leads the best non-recurrent one (per-position softmaxes, "
        f"CNN+CTC) in exact-caption accuracy by more than {100 * CAPTION_MARGIN:.0f} points in every case: "
        f"supported; a non-recurrent one comes within {100 * MATCH:.0f} point of it or beats it in every case: "
        "refuted; nuanced otherwise.",
        _judge_captions,
        requires="every captioner reaches "
        + ", ".join(f"{100 * v:.0f}% on {ds}" for ds, v in CAPTION_MIN.items())
        + " exact captions on 1..4 items, and every run trained all its planned steps",
        precondition=_captions_trained,
    ),
)

_RESULTS_INCOMPLETE = (KeyError, TypeError, ValueError, StopIteration, ZeroDivisionError, IndexError)


def judge(claim: Claim, records: dict[str, dict]) -> Verdict:
    """Apply a claim's preconditions and rule to the sections' records.

    A failed, missing or malformed section, or one stopped at its time limit, gives "not measured"; a
    failed precondition "inconclusive"; otherwise the rule decides.
    """

    rule = claim.rule + (f" Precondition: {claim.requires}." if claim.requires else "")

    def verdict(name: VerdictName, evidence: list[str], why: str = "") -> Verdict:
        return Verdict(claim.number, claim.claim, name, rule, evidence, why)

    missing = [s for s in claim.sections if records.get(s, {}).get("result") is None]
    if missing:
        return verdict("not measured", [], "; ".join(f"section {s} did not produce results" for s in missing))
    results = {s: records[s]["result"] for s in claim.sections}
    stopped = [f"section {s} {why}" for s in claim.sections if (why := stopped_early(results[s]))]
    if stopped:
        return verdict("not measured", [], "not measured: " + "; ".join(stopped))
    try:
        failed = claim.precondition(results) if claim.precondition else []
        name, evidence, *why = claim.judge(results)
    except _RESULTS_INCOMPLETE as e:
        return verdict("not measured", [], f"results incomplete: {e!r}")
    if failed:
        return verdict("inconclusive", evidence, "precondition not met: " + "; ".join(failed))
    return verdict(name, evidence, why[0] if why else "")
