"""Fake section results for the report's tests, built through the sections' result types and checked against
them: a fixture that drifts from its section's `TypedDict` (a renamed key, a changed type) fails here.

`make(T, **given)` fills every key of the TypedDict `T` (given values, else a neutral default); `mismatches`
checks a value against an annotation, strictly: missing keys, unknown keys and wrong leaf types.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypedDict, Union

import pytest
from PIL import Image

from a3lab import report
from a3lab.attention.section import COST, TASKS
from a3lab.classifiers.captions.section import CAPTIONS
from a3lab.classifiers.section import IMAGES, SEQUENCES
from a3lab.classifiers.video.section import VIDEO
from a3lab.gan.section import GAN
from a3lab.rnn.section import RNN
from a3lab.section import Section

# ----------------------------------------------------------------------------- checking against a type


def _options(annotation: Any) -> tuple | None:
    """The alternatives of a union annotation (`X | None`), else None."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return None


def _typed_dict_mismatches(value: Any, td: type, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected a {td.__name__} dict, got {type(value).__name__}"]
    hints = typing.get_type_hints(td)
    out = [f"{where}: missing {k!r}" for k in sorted(td.__required_keys__ - value.keys())]
    out += [f"{where}: {k!r} is not a key of {td.__name__}" for k in sorted(value.keys() - hints.keys())]
    for k in sorted(value.keys() & hints.keys()):
        out += mismatches(value[k], hints[k], f"{where}.{k}")
    return out


_LEAVES = {float: (int, float), int: (int,), str: (str,), bool: (bool,)}


def mismatches(value: Any, annotation: Any, where: str = "result") -> list[str]:
    """Where `value` does not match `annotation` (a TypedDict, dict/list/tuple of them, a union, a leaf type)."""
    if annotation is Any:
        return []
    if typing.is_typeddict(annotation):
        return _typed_dict_mismatches(value, annotation, where)
    if (options := _options(annotation)) is not None:
        if value is None:
            return [] if type(None) in options else [f"{where}: None where {annotation} is declared"]
        rest = [a for a in options if a is not type(None)]
        if len(rest) == 1:
            return mismatches(value, rest[0], where)
        return [] if any(not mismatches(value, a, where) for a in rest) else [f"{where}: {value!r} is no {annotation}"]
    origin, args = typing.get_origin(annotation) or annotation, typing.get_args(annotation)
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r} is none of {args}"]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected a dict, got {type(value).__name__}"]
        return [m for k, v in value.items() for m in (mismatches(v, args[1], f"{where}.{k}") if args else [])]
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [m for i, v in enumerate(value) for m in (mismatches(v, args[0], f"{where}.{i}") if args else [])]
    if annotation in _LEAVES:
        ok = isinstance(value, _LEAVES[annotation]) and (annotation is bool or not isinstance(value, bool))
        return [] if ok else [f"{where}: {value!r} is not a {annotation.__name__}"]
    raise TypeError(f"{where}: cannot check a value against {annotation!r}")


# ----------------------------------------------------------------------------- building through a type


def _default(annotation: Any) -> Any:
    if typing.is_typeddict(annotation):
        return make(annotation)
    if (options := _options(annotation)) is not None:
        return None if type(None) in options else _default(options[0])
    origin = typing.get_origin(annotation) or annotation
    if origin is Literal:
        return typing.get_args(annotation)[0]
    return {dict: {}, list: [], tuple: [], float: 0.0, int: 0, str: "", bool: False}.get(origin)


def make(td: type, **given: Any) -> dict:
    """A `td` with every key: the given values, and a neutral default for the rest."""
    hints = typing.get_type_hints(td)
    unknown = sorted(given.keys() - hints.keys())
    if unknown:
        raise KeyError(f"{td.__name__} has no key(s) {', '.join(unknown)}")
    return {k: given[k] if k in given else _default(ann) for k, ann in hints.items()}


def part(section: Section, path: str) -> type:
    """The type at a dotted path inside a section's result type ("*": a dict's values or a list's items)."""
    annotation = section.result
    for key in path.split("."):
        annotation = typing.get_args(annotation)[-1] if key == "*" else typing.get_type_hints(annotation)[key]
        if (options := _options(annotation)) is not None:
            annotation = next(a for a in options if a is not type(None))
    return annotation


# ----------------------------------------------------------------------------- the fixture

DATASETS = ("mnist", "fashion-mnist")
MODELS = ("cnn", "gru", "lstm", "mlp")
META = {"preset": "quick", "device": "cpu", "seed": 0, "version": "test", "torch": "x", "generated": "now"}


def spread(low: float, high: float, rounds: int = 7) -> dict:
    """A ratio measured in interleaved rounds, as `a3lab.timing.ratio_spread` gives it."""
    return {"median": (low + high) / 2, "low": low, "high": high, "rounds": rounds}


def png(path: Path, color: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), color).save(path)
    return path.name


def _classifiers(out: Path) -> dict:
    acc = {"cnn": 0.99, "gru": 0.98, "lstm": 0.975, "mlp": 0.97}
    flops = {"cnn": 2.0e6, "gru": 3.5e6, "lstm": 4.6e6, "mlp": 0.2e6}
    speed = {"cnn": 9000.0, "gru": 3000.0, "lstm": 2500.0, "mlp": 50000.0}
    scores = {
        ds: {
            m: make(part(IMAGES, "results.*.*"), accuracy=acc[m] - (0.08 if ds == "fashion-mnist" else 0), params=1000,
                    flops_per_image=int(flops[m]), train_seconds_per_epoch=10.0, inference_images_per_second=speed[m],
                    epochs=3, train_examples=60000)
            for m in MODELS
        }
        for ds in DATASETS
    }  # fmt: skip
    ratio = part(IMAGES, "timing.ratios.*.*")
    ratios = {ds: {m: make(ratio, **spread(2.5, 3.5)) for m in ("gru", "lstm")} for ds in DATASETS}
    timing = make(part(IMAGES, "timing"), device="cpu", threads=1, batch_size=256, images=512, rounds=7, ratios=ratios)
    images = [png(out / "classifiers" / "accuracy_vs_flops.png", (200, 0, 0))]
    return make(IMAGES.result, images=images, results=scores, timing=timing)


def _sequences(out: Path) -> dict:
    lengths = [20, 50, 100, 500, 1000]
    models = {
        "gru": dict.fromkeys(map(str, lengths), 0.99),
        "lstm": dict.fromkeys(map(str, lengths), 0.97),
        "cnn1d": {"20": 0.9, "50": 0.7, "100": 0.6, "500": 0.52, "1000": 0.5},
        "mlp": {"20": 0.85},
        "hand_wired": dict.fromkeys(map(str, lengths), 1.0),
    }
    task = part(SEQUENCES, "tasks.*")
    tasks = {
        t: make(task, train_max_length=20, lengths=lengths, chance=0.5, models=copy.deepcopy(models))
        for t in ("alternating", "parity")
    }
    return make(SEQUENCES.result, images=[png(out / "sequences" / "accuracy_vs_length.png", (0, 200, 0))], tasks=tasks)


def _rnn(out: Path) -> dict:
    consecutive = make(part(RNN, "exact.consecutive.*"), **{"T": 4, "start": 1, "h0": 0, "h_T": 2, "T/2+h0": 2})
    exact = make(
        part(RNN, "exact"), checked_sequences=13000, max_length=64, max_abs_value=10**6, mismatches=0,
        coefficients_T8=[-1, 1] * 4, coefficients_T7=[1, -1, 1, -1, 1, -1, 1], consecutive=[consecutive],
        consecutive_all_match=True, rule_agreement=1.0, rule_sequences=10000, rule_ties=400,
    )  # fmt: skip
    weights = part(RNN, "learn.start")
    learn = make(
        part(RNN, "learn"), start=make(weights, w_x=0.1, w_h=0.2, b=0.0),
        learned=make(weights, w_x=20.0, w_h=-1.0003, b=0.001), w_h_error=3e-4,
        accuracy={"50": 0.999, "200": 0.995, "1000": 0.97}, seconds=12.0, config={"min_length": 2, "max_length": 20},
    )  # fmt: skip
    return make(RNN.result, images=[png(out / "rnn" / "rnn_learning.png", (0, 0, 200))], exact=exact, learn=learn)


def _attention_cost(out: Path) -> dict:
    rows = [
        make(part(COST, "rows.*"), n=n, method=m, backend="blocked", device="cpu", forward_ms=1.0,
             forward_backward_ms=3.0, peak_mb=5.0)
        for n in (1024, 4096)
        for m in ("full", "sliding", "linformer")
    ]  # fmt: skip
    slope = part(COST, "timing.slopes.*")
    slopes = {"full": spread(1.8, 1.95), "sliding-blocked": spread(0.98, 1.05), "linformer": spread(1.0, 1.1)}
    speedup = [
        make(part(COST, "timing.speedup_vs_full.*"), device="cpu", n=n, method="sliding-blocked",
             ratio=make(part(COST, "timing.speedup_vs_full.*.ratio"), **spread(lo, hi)))
        for n, lo, hi in ((1024, 0.7, 0.9), (4096, 2.8, 3.4))
    ]  # fmt: skip
    timing = make(
        part(COST, "timing"), device="cpu", threads=1, rounds=5, slope_sizes=[1024, 2048, 4096, 8192],
        slopes={m: make(slope, **s) for m, s in slopes.items()}, speedup_vs_full=speedup,
    )  # fmt: skip
    return make(
        COST.result, images=[png(out / "attention_cost" / "time.png", (100, 100, 0))], rows=rows,
        slopes={"full": 1.95, "sliding": 1.02, "linformer": 1.01}, matmul_gflops=150.0, band_gflops={"sliding": 60.0},
        hf=make(part(COST, "hf"), installed=True, max_abs_diff=2e-7), speedup_vs_full={"1024": 0.8, "4096": 3.1},
        speedup_vs_hf={"1024": 1.5, "4096": 2.5}, timing=timing,
    )  # fmt: skip


def _attention_tasks(out: Path) -> dict:
    run = part(TASKS, "pixel.*.*")
    pixel = {
        ds: {k: make(run, accuracy=0.9, seconds_per_epoch=30.0, steps=100, train_examples=5000)
             for k in ("full", "sliding", "sliding_global", "linformer")}
        for ds in DATASETS
    }  # fmt: skip
    long_range = make(
        part(TASKS, "long_range"), length=2048, layers=2, window=64, chance=0.5,
        results={"sliding": 0.51, "sliding_global": 1.0, "sliding_dilated": 0.98, "linformer": 0.95},
    )  # fmt: skip
    error = make(part(TASKS, "linformer_error"), k=[16, 64, 256], random=[0.5, 0.3, 0.1], trained=[0.2, 0.1, 0.05])
    images = [png(out / "attention_tasks" / "linformer_error.png", (0, 100, 100))]
    return make(TASKS.result, images=images, pixel=pixel, long_range=long_range, linformer_error=error)


def _gan(out: Path) -> dict:
    run = part(GAN, "runs.*")
    runs = {
        f"{ds}-{'cgan' if cond else 'gan'}": make(
            run, dataset=ds, conditional=cond, arch="dcgan", loss="bce", epochs=5, epochs_planned=5,
            train_seconds=100.0, fid=5.0, kid=0.01, fid_floor=1.0, kid_floor=0.001, precision=0.7, recall=0.6,
            class_histogram=[0.1] * 10, class_entropy_bits=math.log2(10) - 0.01,
            conditional_accuracy=0.95 if cond else None, per_class_accuracy=[0.95] * 10 if cond else None,
        )
        for ds in DATASETS
        for cond in (False, True)
    }  # fmt: skip
    return make(GAN.result, images=[png(out / "gan" / "mnist-cgan_grid.png", (50, 50, 50))], runs=runs)


def _video(out: Path) -> dict:
    clip_acc = {"gru": 0.99, "mean_pool": 0.5, "c3d": 0.9, "transformer": 0.92}
    speed = make(part(VIDEO, "tasks.*.details.*.clips_per_second"), median=100.0, min=90.0, max=110.0)
    details = make(part(VIDEO, "tasks.*.details.*"), params=1000, flops_per_clip=10**6, steps=100, steps_planned=100,
                   clips_per_second=speed)  # fmt: skip
    tasks = {
        task: make(
            part(VIDEO, "tasks.*"), classes=10, chance=0.1, order_blind_ceiling=1.0 if task == "max" else 0.5,
            models={m: {n: (0.97 if task == "max" else a) for n in ("8", "16", "32")} for m, a in clip_acc.items()},
            details={m: copy.deepcopy(details) for m in clip_acc},
        )
        for task in ("first", "direction", "max")
    }  # fmt: skip
    return make(
        VIDEO.result, images=[png(out / "video" / "video_accuracy_vs_length.png", (10, 20, 30))],
        frame_cnn_accuracy=0.98, recurrent=["gru"], order_tasks=["first", "direction"], length=8, lengths=[8, 16, 32],
        tasks=tasks,
    )  # fmt: skip


def _captions(out: Path) -> dict:
    exact = {"show_tell": 0.99, "show_tell_greedy": 0.985, "crnn": 0.97, "per_position": 0.95, "ctc": 0.94}
    scores, length = part(CAPTIONS, "datasets.*.*"), part(CAPTIONS, "datasets.*.*.by_length.*")
    datasets = {
        ds: {
            m: make(scores, exact_seen=a, exact_unseen=a - 0.1, wer_seen=1 - a, wer_unseen=1.1 - a, params=10,
                    by_length={str(n): make(length, exact=a, wer=1 - a) for n in range(1, 9)}, steps=5,
                    steps_planned=5)
            for m, a in exact.items()
        }
        for ds in DATASETS
    }  # fmt: skip
    images = [png(out / "captions" / f"captions_examples_{ds}.png", (30, 20, 10)) for ds in DATASETS]
    return make(
        CAPTIONS.result, images=images, recurrent=["show_tell", "crnn"],
        encoder_accuracy={"mnist": 0.99, "fashion-mnist": 0.9}, datasets=datasets,
    )  # fmt: skip


RESULTS = {
    "classifiers": _classifiers,
    "sequences": _sequences,
    "rnn": _rnn,
    "attention_cost": _attention_cost,
    "attention_tasks": _attention_tasks,
    "gan": _gan,
    "video": _video,
    "captions": _captions,
}


def fixture_records(out: Path) -> dict[str, dict]:
    """One record per section, its result built through its section's type; images written under `out`."""
    return {
        name: {"name": name, "status": "ok", "seconds": 1.0, "result": build(out), "error": None}
        for name, build in RESULTS.items()
    }


# ----------------------------------------------------------------------------- the fixture against the types


def test_there_is_a_fixture_for_every_section() -> None:
    assert list(RESULTS) == [s.name for s in report.SECTIONS]


@pytest.mark.parametrize("section", report.SECTIONS, ids=lambda s: s.name)
def test_each_fixture_matches_its_section_type(tmp_path: Path, section: Section) -> None:
    assert mismatches(fixture_records(tmp_path)[section.name]["result"], section.result) == []


class _Inner(TypedDict):
    x: float
    tag: Literal["a", "b"]


class _Outer(TypedDict):
    inner: dict[str, _Inner]
    sizes: list[int]
    note: str | None


def test_a_drift_from_the_type_is_found() -> None:
    good = {"inner": {"k": {"x": 1, "tag": "a"}}, "sizes": [1, 2], "note": None}
    assert mismatches(good, _Outer) == []
    assert mismatches({**good, "extra": 1}, _Outer) == ["result: 'extra' is not a key of _Outer"]
    assert mismatches({"inner": {}, "sizes": []}, _Outer) == ["result: missing 'note'"]
    assert mismatches({**good, "sizes": [1, 2.5]}, _Outer) == ["result.sizes.1: 2.5 is not a int"]
    bad = {**good, "inner": {"k": {"x": "1", "tag": "c"}}}
    assert mismatches(bad, _Outer) == [
        "result.inner.k.tag: 'c' is none of ('a', 'b')",
        "result.inner.k.x: '1' is not a float",
    ]
    with pytest.raises(KeyError, match="no key"):
        make(_Outer, renamed=1)
    assert make(_Outer, sizes=[3]) == {"inner": {}, "sizes": [3], "note": None}
