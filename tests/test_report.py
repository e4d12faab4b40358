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

MODELS = ("cnn", "gru", "lstm", "mlp")


def _png(path: Path, color: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), color).save(path)
    return path.name


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
            }
    gan = {"images": [_png(out / "gan" / "mnist-cgan_grid.png", (50, 50, 50))], "runs": runs}
    results = {
        "classifiers": classifiers,
        "sequences": sequences,
        "rnn": rnn,
        "attention_cost": attention_cost,
        "attention_tasks": attention_tasks,
        "gan": gan,
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
    }
    page = (tmp_path / "index.html").read_text()
    md = (tmp_path / "report.md").read_text()
    for spec in report.SECTIONS:
        assert spec.title in page and spec.title in md
    for claim in report.CLAIMS:
        assert f"Claim {claim.number}." in page and f"**Claim {claim.number}.**" in md
    # every image is embedded and decodes to a non-empty picture
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == 6
    for data in embedded:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        assert img.size[0] > 0 and img.size[1] > 0
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / link).stat().st_size > 0
    stored = json.loads((tmp_path / "results.json").read_text())
    assert [v["verdict"] for v in stored["verdicts"]] == [verdicts[i] for i in range(1, 10)]
    assert stored["sections"]["rnn"]["result"]["learn"]["w_h_error"] == 3e-4


def test_verdicts_follow_the_numbers(tmp_path: Path) -> None:
    base = fixture_results(tmp_path)

    r = copy.deepcopy(base)  # RNNs beat the CNN on both data sets
    for ds in r["classifiers"]["result"]["results"].values():
        ds["gru"]["accuracy"] = 0.999
    assert verdicts_of(r, tmp_path)[1] == "refuted"

    r = copy.deepcopy(base)  # the CNN needs more FLOPs than the RNNs but is faster
    for ds in r["classifiers"]["result"]["results"].values():
        ds["cnn"]["flops_per_image"] = 10**8
    assert verdicts_of(r, tmp_path)[2] == "nuanced"

    r = copy.deepcopy(base)  # recurrent models no better than the window on unseen lengths
    for t in r["sequences"]["result"]["tasks"].values():
        t["models"]["gru"] = t["models"]["lstm"] = t["models"]["cnn1d"]
    assert verdicts_of(r, tmp_path)[3] == "refuted"

    r = copy.deepcopy(base)
    r["rnn"]["result"]["exact"]["mismatches"] = 1
    assert verdicts_of(r, tmp_path)[4] == "refuted"
    r = copy.deepcopy(base)
    r["rnn"]["result"]["learn"]["w_h_error"] = 0.01
    assert verdicts_of(r, tmp_path)[4] == "nuanced"

    r = copy.deepcopy(base)
    r["attention_cost"]["result"]["slopes"]["sliding"] = 1.9
    assert verdicts_of(r, tmp_path)[5] == "refuted"

    r = copy.deepcopy(base)
    r["attention_tasks"]["result"]["long_range"]["results"]["sliding"] = 0.97
    assert verdicts_of(r, tmp_path)[6] == "refuted"

    r = copy.deepcopy(base)
    r["attention_cost"]["result"]["speedup_vs_full"] = {"1024": 0.3, "4096": 0.6}
    assert verdicts_of(r, tmp_path)[7] == "supported"

    r = copy.deepcopy(base)
    r["attention_tasks"]["result"]["linformer_error"] = {"k": [16, 64], "random": [0.0, 0.0], "trained": [0.0, 0.0]}
    assert verdicts_of(r, tmp_path)[8] == "refuted"

    r = copy.deepcopy(base)
    r["gan"]["result"]["runs"]["mnist-cgan"]["conditional_accuracy"] = 0.3
    assert verdicts_of(r, tmp_path)[9] == "nuanced"


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
    monkeypatch.setattr(report, "SECTIONS", specs)
    out = tmp_path / "rep"
    assert main(["report", "--preset", "quick", "--out", str(out), "--device", "cpu"]) == 1
    assert ok_calls == ["quick"] and bad_calls == ["quick"]
    assert (out / "index.html").is_file() and "experiment exploded" in (out / "index.html").read_text()
    assert (out / "rnn" / "plot.png").is_file()

    main(["report", "--preset", "quick", "--out", str(out), "--device", "cpu"])
    assert ok_calls == ["quick"], "an unchanged section must be reused, not re-run"
    assert bad_calls == ["quick", "quick"], "a failed section is retried"
    main(["report", "--preset", "full", "--out", str(out), "--device", "cpu", "--only", "rnn"])
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
    assert check["images"] == 6 and check["broken_images"] == 0
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
    assert "6 images, 0 broken, 0 console messages" in capsys.readouterr().out
    assert Image.open(tmp_path / "screenshot.png").size == (1200, 2400)
    page = (tmp_path / "index.html").read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    (tmp_path / "index.html").write_text(page)
    assert not check_in_browser(tmp_path)
    assert "1 broken" in capsys.readouterr().out
