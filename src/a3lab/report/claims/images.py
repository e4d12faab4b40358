"""Problem 1, CNN vs RNN: claims 1, 2 and 3 (images and sequences) and 10 and 11 (video and captions)."""

from __future__ import annotations

from a3lab.blocks import pct
from a3lab.report.claims.verdicts import Claim, Judgement, Outcome, combine, timing_rounds
from a3lab.timing import MIN_ROUNDS, describe, side_of

_SHOWN = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

# ----------------------------------------------------------------------------- claim 1: accuracy

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


_REFERENCES = "; ".join(
    f"{_SHOWN[ds]}: CNN {100 * a['cnn']:.0f}%, RNNs {100 * a['rnn']:.0f}%" for ds, a in REFERENCE_ACCURACY.items()
)

CNN_ACCURACY = Claim(
    1,
    "CNNs are better at identifying images than RNNs.",
    ("classifiers",),
    "supported if the CNN's test accuracy beats both row-by-row RNNs (GRU, LSTM) on both data sets; "
    "refuted if it beats them on neither; nuanced otherwise.",
    _judge_cnn_accuracy,
    requires=f"each of CNN, GRU and LSTM within {100 * ACCURACY_SLACK:.0f} points of its full-budget test "
    f"accuracy ({_REFERENCES})",
    precondition=_classifiers_trained,
)

# ----------------------------------------------------------------------------- claim 2: cost

SPEED_PARITY = 1.0
"""claim 2: the CNN's images/s over an RNN's above this is faster"""


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
            faster = {"above": True, "below": False, "straddles": None}[side_of(ratio, SPEED_PARITY)]
            outcomes.append(None if faster is None else (fewer if fewer == faster else "partial"))
            evidence.append(
                f"{ds}: CNN {cnn['flops_per_image'] / 1e6:.2f} vs {m.upper()} "
                f"{models[m]['flops_per_image'] / 1e6:.2f} MFLOP/image; CNN images/s over {m.upper()} images/s "
                f"{describe(ratio)}" + (f" (spans {SPEED_PARITY:g}: neither clearly faster)" if faster is None else "")
            )
    verdict = combine(outcomes)
    why = (
        f"a speed ratio's spread spans {SPEED_PARITY:g}, so which model is faster is not decided"
        if verdict == "inconclusive"
        else ""
    )
    return verdict, evidence, why


CNN_COST = Claim(
    2,
    "CNNs reduce the data's dimensions, so they need far fewer computations and less time.",
    ("classifiers",),
    "per data set and RNN, the CNN needs fewer FLOPs per image and its inference speed over the RNN's "
    f"(images/s, timed side by side in interleaved rounds) has its whole spread above {SPEED_PARITY:g}: supported "
    "if both hold everywhere; refuted if neither holds anywhere; nuanced if they hold in part; inconclusive if a "
    f"speed ratio's spread spans {SPEED_PARITY:g}.",
    _judge_cnn_cost,
    timed=True,
    requires=f"at least {MIN_ROUNDS} interleaved timing rounds, one process, same threads and batch size",
    precondition=lambda r: timing_rounds(r, "classifiers"),
)

# ----------------------------------------------------------------------------- claim 3: sequences

RECURRENT_MIN = 0.9
"""claim 3: mean accuracy on unseen lengths the best recurrent model must reach"""
CLEAR_LEAD, SOME_LEAD = 0.10, 0.05
"""claim 3: its lead over the best fixed-window model for the claim to hold, and to hold in part"""


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
        clear = rec_acc >= RECURRENT_MIN and rec_acc > fix_acc + CLEAR_LEAD
        outcomes.append(True if clear else ("partial" if rec_acc > fix_acc + SOME_LEAD else False))
    return combine(outcomes), evidence


RNN_SEQUENCES = Claim(
    3,
    "RNNs are the better choice for sequential or temporal data.",
    ("sequences",),
    f"supported if, on every task, the best recurrent model (GRU/LSTM) averages >= {100 * RECURRENT_MIN:.0f}% on "
    "lengths longer than any seen in training and beats the best fixed-window model (1-D CNN, MLP) by > "
    f"{100 * CLEAR_LEAD:.0f} points; refuted if it beats it by > {100 * SOME_LEAD:.0f} points on no task; "
    "nuanced otherwise.",
    _judge_rnn_sequences,
    requires="the hand-wired RNN scores 100% on every test set (the labels are right)",
    precondition=_sequence_sets_sound,
)

# ----------------------------------------------------------------------------- claims 10 and 11: video, captions

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


RNN_VIDEO = Claim(
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
)


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


RNN_CAPTIONS = Claim(
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
)

CLAIMS = (CNN_ACCURACY, CNN_COST, RNN_SEQUENCES, RNN_VIDEO, RNN_CAPTIONS)
