"""The report renders from small fixture results (no training), and its verdicts follow the stated rules."""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import re
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

from a3lab import report
from a3lab.cli import main
from a3lab.report import claims

MODELS = ("cnn", "gru", "lstm", "mlp")


def spread(low: float, high: float, rounds: int = 7) -> dict:
    """A ratio measured in interleaved rounds, as `a3lab.timing.ratio_spread` gives it."""
    return {"median": (low + high) / 2, "low": low, "high": high, "rounds": rounds}


def _png(path: Path, color: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), color).save(path)
    return path.name


def part_b_results(out: Path) -> dict[str, dict]:
    """Problem 1 part B records (video, captions) in which the recurrent models lead everywhere."""
    clip_acc = {"gru": 0.99, "mean_pool": 0.5, "c3d": 0.9, "transformer": 0.92}
    details = {"params": 1000, "flops_per_clip": 10**6, "steps": 100, "steps_planned": 100,
               "clips_per_second": {"median": 100.0, "min": 90.0, "max": 110.0}}  # fmt: skip
    tasks = {
        task: {
            "classes": 10, "chance": 0.1, "order_blind_ceiling": 1.0 if task == "max" else 0.5,
            "models": {m: {n: (0.97 if task == "max" else a) for n in ("8", "16", "32")} for m, a in clip_acc.items()},
            "details": {m: dict(details) for m in clip_acc},
        }
        for task in ("first", "direction", "max")
    }  # fmt: skip
    video = {
        "images": [_png(out / "video" / "video_accuracy_vs_length.png", (10, 20, 30))],
        "frame_cnn_accuracy": 0.98, "recurrent": ["gru"], "order_tasks": ["first", "direction"],
        "length": 8, "lengths": [8, 16, 32], "tasks": tasks,
    }  # fmt: skip
    exact = {"show_tell": 0.99, "show_tell_greedy": 0.985, "crnn": 0.97, "per_position": 0.95, "ctc": 0.94}
    captions = {
        "images": [
            _png(out / "captions" / f"captions_examples_{ds}.png", (30, 20, 10)) for ds in ("mnist", "fashion-mnist")
        ],
        "recurrent": ["show_tell", "crnn"],
        "encoder_accuracy": {"mnist": 0.99, "fashion-mnist": 0.9},
        "datasets": {
            ds: {
                m: {"exact_seen": a, "exact_unseen": a - 0.1, "wer_seen": 1 - a, "wer_unseen": 1.1 - a, "params": 10,
                    "by_length": {str(n): {"exact": a, "wer": 1 - a} for n in range(1, 9)}, "steps": 5,
                    "steps_planned": 5}
                for m, a in exact.items()
            }
            for ds in ("mnist", "fashion-mnist")
        },
    }  # fmt: skip
    return {"video": video, "captions": captions}


def fixture_results(out: Path) -> dict[str, dict]:
    """One record per section, shaped like the areas' report entry points return them."""
    acc = {"cnn": 0.99, "gru": 0.98, "lstm": 0.975, "mlp": 0.97}
    flops = {"cnn": 2.0e6, "gru": 3.5e6, "lstm": 4.6e6, "mlp": 0.2e6}
    speed = {"cnn": 9000.0, "gru": 3000.0, "lstm": 2500.0, "mlp": 50000.0}
    classifiers = {
        "images": [_png(out / "classifiers" / "accuracy_vs_flops.png", (200, 0, 0))],
        "results": {
            ds: {
                m: {
                    "accuracy": acc[m] - (0.08 if ds == "fashion-mnist" else 0),
                    "params": 1000,
                    "flops_per_image": int(flops[m]),
                    "train_seconds_per_epoch": 10.0,
                    "inference_images_per_second": speed[m],
                    "epochs": 3,
                    "train_examples": 60000,
                }
                for m in MODELS
            }
            for ds in ("mnist", "fashion-mnist")
        },
        "timing": {
            "device": "cpu",
            "threads": 1,
            "batch_size": 256,
            "images": 512,
            "rounds": 7,
            "ratios": {ds: {m: spread(2.5, 3.5) for m in ("gru", "lstm")} for ds in ("mnist", "fashion-mnist")},
        },
    }
    lengths = [20, 50, 100, 500, 1000]
    seq_models = {
        "gru": dict.fromkeys(map(str, lengths), 0.99),
        "lstm": dict.fromkeys(map(str, lengths), 0.97),
        "cnn1d": {"20": 0.9, "50": 0.7, "100": 0.6, "500": 0.52, "1000": 0.5},
        "mlp": {"20": 0.85},
        "hand_wired": dict.fromkeys(map(str, lengths), 1.0),
    }
    sequences = {
        "images": [_png(out / "sequences" / "accuracy_vs_length.png", (0, 200, 0))],
        "tasks": {
            t: {"train_max_length": 20, "lengths": lengths, "chance": 0.5, "models": copy.deepcopy(seq_models)}
            for t in ("alternating", "parity")
        },
    }
    rnn = {
        "images": [_png(out / "rnn" / "rnn_learning.png", (0, 0, 200))],
        "exact": {
            "checked_sequences": 13000,
            "max_length": 64,
            "max_abs_value": 10**6,
            "mismatches": 0,
            "coefficients_T8": [-1, 1] * 4,
            "coefficients_T7": [1, -1, 1, -1, 1, -1, 1],
            "consecutive": [{"T": 4, "start": 1, "h0": 0, "h_T": 2, "T/2+h0": 2}],
            "consecutive_all_match": True,
            "rule_agreement": 1.0,
            "rule_sequences": 10000,
            "rule_ties": 400,
        },
        "learn": {
            "start": {"w_x": 0.1, "w_h": 0.2, "b": 0.0},
            "learned": {"w_x": 20.0, "w_h": -1.0003, "b": 0.001},
            "w_h_error": 3e-4,
            "accuracy": {"50": 0.999, "200": 0.995, "1000": 0.97},
            "seconds": 12.0,
        },
    }
    attention_cost = {
        "images": [_png(out / "attention_cost" / "time.png", (100, 100, 0))],
        "rows": [
            {"n": n, "method": m, "backend": "blocked", "forward_ms": 1.0, "forward_backward_ms": 3.0, "peak_mb": 5.0}
            for n in (1024, 4096)
            for m in ("full", "sliding", "linformer")
        ],
        "slopes": {"full": 1.95, "sliding": 1.02, "linformer": 1.01},
        "matmul_gflops": 150.0,
        "band_gflops": {"sliding": 60.0},
        "hf": {"installed": True, "max_abs_diff": 2e-7},
        "speedup_vs_full": {"1024": 0.8, "4096": 3.1},
        "speedup_vs_hf": {"1024": 1.5, "4096": 2.5},
        "timing": {
            "device": "cpu",
            "threads": 1,
            "rounds": 5,
            "slope_sizes": [1024, 2048, 4096, 8192],
            "slopes": {"full": spread(1.8, 1.95), "sliding-blocked": spread(0.98, 1.05), "linformer": spread(1.0, 1.1)},
            "speedup_vs_full": [
                {"device": "cpu", "n": n, "method": "sliding-blocked", "ratio": spread(lo, hi)}
                for n, lo, hi in ((1024, 0.7, 0.9), (4096, 2.8, 3.4))
            ],
        },
    }
    attention_tasks = {
        "images": [_png(out / "attention_tasks" / "linformer_error.png", (0, 100, 100))],
        "pixel": {
            ds: {
                k: {"accuracy": 0.9, "seconds_per_epoch": 30.0, "steps": 100, "train_examples": 5000}
                for k in ("full", "sliding", "sliding_global", "linformer")
            }
            for ds in ("mnist", "fashion-mnist")
        },
        "long_range": {
            "length": 2048,
            "layers": 2,
            "window": 64,
            "chance": 0.5,
            "results": {"sliding": 0.51, "sliding_global": 1.0, "sliding_dilated": 0.98, "linformer": 0.95},
        },
        "linformer_error": {"k": [16, 64, 256], "random": [0.5, 0.3, 0.1], "trained": [0.2, 0.1, 0.05]},
    }
    runs = {}
    for ds in ("mnist", "fashion-mnist"):
        for cond in (False, True):
            runs[f"{ds}-{'cgan' if cond else 'gan'}"] = {
                "dataset": ds,
                "conditional": cond,
                "arch": "dcgan",
                "epochs": 5,
                "train_seconds": 100.0,
                "fid": 5.0,
                "kid": 0.01,
                "fid_floor": 1.0,
                "kid_floor": 0.001,
                "precision": 0.7,
                "recall": 0.6,
                "class_histogram": [0.1] * 10,
                "class_entropy_bits": math.log2(10) - 0.01,
                "conditional_accuracy": 0.95 if cond else None,
                "per_class_accuracy": [0.95] * 10 if cond else None,
                "epochs_planned": 5,
            }
    gan = {"images": [_png(out / "gan" / "mnist-cgan_grid.png", (50, 50, 50))], "runs": runs}
    results = {
        "classifiers": classifiers,
        "sequences": sequences,
        "rnn": rnn,
        "attention_cost": attention_cost,
        "attention_tasks": attention_tasks,
        "gan": gan,
        **part_b_results(out),
    }
    return {
        name: {"name": name, "status": "ok", "seconds": 1.0, "result": r, "error": None} for name, r in results.items()
    }


META = {"preset": "quick", "device": "cpu", "seed": 0, "version": "test", "torch": "x", "generated": "now"}


def verdicts_of(records: dict, out: Path) -> dict[int, str]:
    return {v.number: v.verdict for v in report.render(records, META, out)}


def test_render_writes_every_section_image_and_verdict(tmp_path: Path) -> None:
    records = fixture_results(tmp_path)
    verdicts = verdicts_of(records, tmp_path)
    assert verdicts == {
        1: "supported",
        2: "supported",
        3: "supported",
        4: "supported",
        5: "supported",
        6: "supported",
        7: "refuted",
        8: "supported",
        9: "supported",
        10: "supported",
        11: "supported",
    }
    page = (tmp_path / "index.html").read_text()
    md = (tmp_path / "report.md").read_text()
    for spec in report.SECTIONS:
        assert spec.title in page and spec.title in md
    for claim in report.CLAIMS:
        assert f"Claim {claim.number}." in page and f"**Claim {claim.number}.**" in md
    # every image is embedded and decodes to a non-empty picture
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == 9
    for data in embedded:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        assert img.size[0] > 0 and img.size[1] > 0
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / link).stat().st_size > 0
    stored = json.loads((tmp_path / "results.json").read_text())
    assert [v["verdict"] for v in stored["verdicts"]] == [verdicts[i] for i in range(1, 12)]
    assert stored["sections"]["rnn"]["result"]["learn"]["w_h_error"] == 3e-4


def judged(records: dict, number: int) -> claims.Verdict:
    return claims.judge(report.CLAIMS[number - 1], records)


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
    records = fixture_results(tmp_path)
    verdicts = {c.number: claims.judge(c, records) for c in report.CLAIMS}
    assert {n: v.verdict for n, v in verdicts.items()} == {
        n: "refuted" if n == 7 else "supported" for n in range(1, 12)
    }
    assert all(v.why == "" for v in verdicts.values())


@pytest.mark.parametrize(("number", "change", "expected"), RULE_CASES)
def test_rules_follow_the_numbers(tmp_path: Path, number: int, change, expected: str) -> None:
    records = fixture_results(tmp_path)
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
    records = fixture_results(tmp_path)
    change(records)
    verdict = judged(records, number)
    assert verdict.verdict == "inconclusive"
    assert verdict.why.startswith("precondition not met") and reason in verdict.why
    assert verdict.evidence, "the numbers are still shown"


@pytest.mark.parametrize("claim", report.CLAIMS, ids=lambda c: f"claim{c.number}")
def test_a_section_stopped_at_its_time_limit_gives_no_verdict(tmp_path: Path, claim: claims.Claim) -> None:
    records = fixture_results(tmp_path)
    section = claim.sections[0]
    records[section]["result"]["budget"] = {
        "work": "x", "unit": "steps", "planned": 3748, "done": 105, "images": 60000, "stopped": "the time limit",
    }  # fmt: skip
    verdict = claims.judge(claim, records)
    assert verdict.verdict == "not measured"
    assert f"section {section} stopped at the time limit after 105 of 3,748 steps" in verdict.why
    assert verdict.evidence == []


def test_the_page_flags_a_stopped_section_in_red_at_the_top(tmp_path: Path) -> None:
    records = fixture_results(tmp_path)
    records["gan"]["result"]["budget"] = {
        "work": "4 runs", "unit": "steps", "planned": 7496, "done": 420, "images": 60000, "stopped": "the time limit",
    }  # fmt: skip
    records["gan"]["conditions"] = {"device": "cpu", "threads": 2, "cores": 2, "load_average": 6.1}
    verdicts = {v.number: v.verdict for v in report.render(records, META, tmp_path)}
    assert verdicts[9] == "not measured" and verdicts[1] == "supported"
    page = (tmp_path / "index.html").read_text()
    flag = page.index('<div class="error">Stopped early')
    assert flag < page.index("<table>"), "the flag comes before the verdict table"
    assert "gan (stopped at the time limit after 420 of 7,496 steps)" in page
    assert "6.1 on 2 cores" in page and "NO: stopped at the time limit" in page
    md = (tmp_path / "report.md").read_text()
    assert "> **Not measured:** not measured: section gan stopped at the time limit" in md


def test_a_finished_section_shows_its_budget_and_conditions(tmp_path: Path) -> None:
    records = fixture_results(tmp_path)
    records["rnn"]["result"]["budget"] = {
        "work": "6,000 Adam steps of 1024 sequences", "unit": "steps", "planned": 6000, "done": 6000, "images": None,
        "stopped": None,
    }  # fmt: skip
    records["rnn"]["conditions"] = {"device": "cpu", "threads": 1, "cores": 2, "load_average": 0.31}
    report.render(records, META, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| 6,000 Adam steps of 1024 sequences | 6,000 of 6,000 steps | - | yes | cpu | 1 | 0.31 on 2 cores |" in md
    assert "Stopped early" not in md


def test_claim_7_says_when_it_was_judged_on_cpu_only_and_prefers_cuda(tmp_path: Path) -> None:
    records = fixture_results(tmp_path)
    assert "judged on CPU only; no CUDA measurement" in judged(records, 7).evidence
    timing = records["attention_cost"]["result"]["timing"]
    timing["speedup_vs_full"].append(
        {"device": "cuda:0", "n": 16384, "method": "sliding-blocked", "ratio": spread(0.5, 0.8)}
    )
    verdict = judged(records, 7)
    assert verdict.verdict == "supported" and verdict.evidence[0] == "judged on CUDA (cuda:0)"
    assert all("on cuda:0" in line for line in verdict.evidence[1:])


def test_every_verdict_has_one_documented_colour_used_on_the_page(tmp_path: Path) -> None:
    assert set(claims.VERDICTS) == {"supported", "refuted", "nuanced", "inconclusive", "not measured"}
    colours = [colour for colour, _ in claims.VERDICTS.values()]
    assert len(set(colours)) == len(colours)
    report.render(fixture_results(tmp_path), META, tmp_path)
    page = (tmp_path / "index.html").read_text()
    for name, (colour, _) in claims.VERDICTS.items():
        assert f"td.v-{name.replace(' ', '-')} {{ color: {colour};" in page
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["verdict_colours"] == {n: c for n, (c, _) in claims.VERDICTS.items()}


def test_failed_section_still_renders(tmp_path: Path) -> None:
    records = fixture_results(tmp_path)
    records["gan"] = {"name": "gan", "status": "failed", "result": None, "error": "RuntimeError: out of luck"}
    del records["attention_tasks"]["result"]["long_range"]  # malformed: the claim is not measured
    verdicts = verdicts_of(records, tmp_path)
    assert verdicts[9] == "not measured" and verdicts[6] == "not measured"
    assert verdicts[1] == "supported"
    page = (tmp_path / "index.html").read_text()
    assert "RuntimeError: out of luck" in page and 'class="error"' in page


def _fake_area(calls: list[str], fail: bool = False):
    def report_experiment(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict:
        calls.append(preset)
        if fail:
            raise RuntimeError("experiment exploded")
        _png(Path(out_dir) / "plot.png", (1, 2, 3))
        return {"images": ["plot.png"], "exact": {}, "learn": {}}

    return report_experiment


def test_build_report_reuses_unchanged_sections_and_reports_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    ok_calls: list[str] = []
    bad_calls: list[str] = []
    module = types.ModuleType("fake_area")
    module.ok = _fake_area(ok_calls)
    module.bad = _fake_area(bad_calls, fail=True)
    monkeypatch.setitem(sys.modules, "fake_area", module)
    specs = (
        report.SectionSpec("rnn", "The hand-wired RNN", "fake_area:ok", ("a3lab.rnn",)),
        report.SectionSpec("gan", "GAN and conditional GAN", "fake_area:bad", ("a3lab.data",)),
    )
    monkeypatch.setattr(report, "SECTIONS", specs)  # in this process only: one job, no worker processes
    out = tmp_path / "rep"
    assert main(["report", "--preset", "quick", "--out", str(out), "--device", "cpu", "--jobs", "1"]) == 1
    assert ok_calls == ["quick"] and bad_calls == ["quick"]
    assert (out / "index.html").is_file() and "experiment exploded" in (out / "index.html").read_text()
    assert (out / "rnn" / "plot.png").is_file()

    main(["report", "--preset", "quick", "--out", str(out), "--device", "cpu", "--jobs", "1"])
    assert ok_calls == ["quick"], "an unchanged section must be reused, not re-run"
    assert bad_calls == ["quick", "quick"], "a failed section is retried"
    main(["report", "--preset", "full", "--out", str(out), "--device", "cpu", "--jobs", "1", "--only", "rnn"])
    assert ok_calls == ["quick", "full"] and bad_calls == ["quick", "quick"]
    assert "failed sections: gan" in capsys.readouterr().out


def test_bad_options_are_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["report", "--out", str(tmp_path), "--only", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--only" in err[0]


@pytest.mark.skipif(report.find_chromium() is None, reason="no chromium installed")
def test_page_in_a_real_browser(tmp_path: Path) -> None:
    records = fixture_results(tmp_path)
    report.render(records, META, tmp_path)
    check = report.browser_check(tmp_path / "index.html", tmp_path / "screenshot.png")
    assert check["loaded"], check
    embedded = (tmp_path / "index.html").read_text().count("data:image/png;base64,")  # one per figure
    assert embedded >= 6 and check["images"] == embedded and check["broken_images"] == 0
    assert check["console"] == []
    assert Image.open(check["screenshot"]).size == (1200, 2400)
    # and the check does see a broken image
    page = (tmp_path / "index.html").read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    (tmp_path / "broken.html").write_text(page)
    bad = report.browser_check(tmp_path / "broken.html", tmp_path / "broken.png")
    assert bad["broken_images"] == 1 and any("broken images" in line for line in bad["console"])


@pytest.mark.skipif(report.find_chromium() is None, reason="no chromium installed")
def test_cli_browser_check_saves_a_screenshot_and_fails_on_a_broken_image(tmp_path: Path, capsys) -> None:
    from a3lab.commands.report import check_in_browser

    report.render(fixture_results(tmp_path), META, tmp_path)
    assert check_in_browser(tmp_path)
    embedded = (tmp_path / "index.html").read_text().count("data:image/png;base64,")
    assert f"{embedded} images, 0 broken, 0 console messages" in capsys.readouterr().out
    assert Image.open(tmp_path / "screenshot.png").size == (1200, 2400)
    page = (tmp_path / "index.html").read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    (tmp_path / "index.html").write_text(page)
    assert not check_in_browser(tmp_path)
    assert "1 broken" in capsys.readouterr().out


def test_two_runs_of_a_tiny_preset_agree_apart_from_timings(
    tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from a3lab import rnn
    from a3lab.classifiers import compare, sequences

    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    tiny_timing = {"images": 32, "batch_size": 16, "rounds": 5}
    monkeypatch.setitem(
        compare.PRESETS, "quick", {"epochs": 1, "train_examples": 100, "timing": tiny_timing, "note": "tiny"}
    )
    monkeypatch.setitem(
        sequences.PRESETS, "quick", {"steps": 8, "eval_size": 20, "test_lengths": (20, 40), "batch_size": 16}
    )
    monkeypatch.setitem(rnn.PRESETS, "quick", {"steps": 20, "batch_size": 32, "eval_size": 50})
    stored = []
    for run in ("a", "b"):
        report.build_report("quick", tmp_path / run, seed=3, only=("classifiers", "sequences", "rnn"), threads=1,
                            log=lambda line: None)  # fmt: skip
        stored.append(json.loads((tmp_path / run / "results.json").read_text()))
    first, second = stored
    assert first["sections"]["classifiers"]["result"]["timing"] != second["sections"]["classifiers"]["result"]["timing"]
    assert report.without_timings(first) == report.without_timings(second)
    for name in ("classifiers", "sequences", "rnn"):
        budget = first["sections"][name]["result"]["budget"]
        assert budget["done"] == budget["planned"] > 0 and budget["stopped"] is None
        assert first["sections"][name]["conditions"]["threads"] == 1
    assert first["sections"]["rnn"]["result"]["budget"]["planned"] == 20
    assert first["sections"]["classifiers"]["result"]["timing"]["rounds"] == 5


def test_gan_section_shows_inception_fid_beside_the_published_best() -> None:
    from a3lab.report.render import _render_gan

    run = {
        "arch": "mlp", "loss": "hinge", "epochs": 40, "fid": 7.3, "fid_floor": 2.6, "kid": 0.01, "precision": 0.8,
        "recall": 0.7, "class_entropy_bits": 3.32, "conditional_accuracy": None, "train_seconds": 1.0,
        "class_histogram": [0.1] * 10, "inception_fid_published": 6.8,
    }  # fmt: skip
    without = str(_render_gan({"runs": {"mnist-gan": run}}))
    assert "Lucic" not in without  # not measured: no empty table
    measured = {**run, "inception_fid": 9.5, "inception_n": 2000, "inception_fid_floor": 1.1}
    measured["inception_note"] = "FID at 2000 images is biased upward."
    shown = str(_render_gan({"runs": {"mnist-gan": measured}}))
    assert all(s in shown for s in ("Lucic et al. 2018", "9.5", "2000", "6.8", "biased upward"))


def tiny_section(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict:
    """A section entry point cheap enough to run in worker processes: seeded numbers and the worker's threads."""
    import torch

    torch.manual_seed(seed)
    return {"draw": torch.rand(3).tolist(), "threads": torch.get_num_threads(), "preset": preset}


@pytest.mark.parametrize("jobs", [1, 2])
def test_sections_side_by_side_give_the_one_job_results(tmp_path: Path, jobs: int) -> None:
    from a3lab.report import SectionSpec, _run_sections

    specs = [SectionSpec(name, name, f"{__name__}:tiny_section", (__name__,)) for name in ("rnn", "sequences")]
    lines: list[str] = []
    args = ("quick", tmp_path, "cpu", 3, True, 1)
    records = {spec.name: rec for spec, rec in _run_sections(specs, args, jobs, lines.append)}
    assert set(records) == {"rnn", "sequences"} and all(r["status"] == "ok" for r in records.values())
    expected = tiny_section("quick", tmp_path, seed=3)["draw"]
    assert all(r["result"]["draw"] == expected and r["result"]["threads"] == 1 for r in records.values())
    assert sum("rnn: ok" in line for line in lines) == 1 and len(lines) == 4  # a start and an end line each
