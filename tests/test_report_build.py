"""`build_report` and `a3lab report`: stored sections are reused, a failing one is retried and reported, bad
options are one line with exit 2, and two runs agree apart from their timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import pytest

from a3lab import report
from a3lab.cli import main
from a3lab.section import Section
from test_report_fixtures import png

CALLS: dict[str, list[str]] = {"ok": [], "bad": []}


class PlotResult(TypedDict):
    images: list[str]


def ok_run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    CALLS["ok"].append(preset)
    return {"images": [png(Path(out_dir) / "plot.png", (1, 2, 3))]}


def bad_run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    CALLS["bad"].append(preset)
    raise RuntimeError("experiment exploded")


def no_blocks(r: dict) -> list:
    return []


FAKE = (
    Section("fake_ok", "A section that works", run=ok_run, render=no_blocks, result=PlotResult),
    Section("fake_bad", "A section that fails", run=bad_run, render=no_blocks, result=PlotResult),
)


def test_build_report_reuses_unchanged_sections_and_reports_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    CALLS["ok"].clear(), CALLS["bad"].clear()
    monkeypatch.setattr(report, "SECTIONS", FAKE)  # in this process only: one job, no worker processes
    out = tmp_path / "rep"
    command = ["report", "--preset", "quick", "--out", str(out), "--device", "cpu", "--jobs", "1"]
    assert main(command) == 1
    assert CALLS == {"ok": ["quick"], "bad": ["quick"]}
    assert (out / "index.html").is_file() and "experiment exploded" in (out / "index.html").read_text()
    assert (out / "fake_ok" / "plot.png").is_file()

    main(command)
    assert CALLS["ok"] == ["quick"], "an unchanged section must be reused, not re-run"
    assert CALLS["bad"] == ["quick", "quick"], "a failed section is retried"
    main(["report", "--preset", "full", "--out", str(out), "--device", "cpu", "--jobs", "1", "--only", "fake_ok"])
    assert CALLS == {"ok": ["quick", "full"], "bad": ["quick", "quick"]}
    assert "failed sections: fake_bad" in capsys.readouterr().out
    stale = json.loads((out / "results.json").read_text())["sections"]["fake_bad"]
    assert stale["status"] == "stale", "a stored result of other settings, left out by --only, is not shown as today's"
    assert "--only fake_bad" in stale["error"] and stale["result"] is None


def test_list_names_each_section_and_its_run_function(capsys) -> None:
    assert main(["report", "--list"]) == 0
    out = capsys.readouterr().out
    assert "section gan              GAN and conditional GAN  (a3lab.gan.section.run)" in out
    assert all(f"section {s.name}" in out for s in report.SECTIONS)
    assert all(f"claim {c.number}: " in out for c in report.CLAIMS)


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--only", "nope"], "--only"), (["--only", "rnn,,gan"], "--only"), (["--threads", "0"], "--threads"),
     (["--jobs", "0"], "--jobs"), (["--preset", "huge"], "--preset")],
)  # fmt: skip
def test_bad_options_are_one_line_exit_2(tmp_path: Path, capsys, flags: list[str], named: str) -> None:
    with pytest.raises(SystemExit) as e:  # argparse refuses them
        main(["report", "--out", str(tmp_path), *flags])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0]


def test_timing_keys_are_the_sections_and_the_reports_own() -> None:
    own = {"seconds", "conditions", "generated"}
    assert own.union(*(s.timing_keys for s in report.SECTIONS)) == report.TIMING_KEYS
    assert {"timing", "clips_per_second", "train_seconds"} <= report.TIMING_KEYS


def test_two_runs_of_a_tiny_preset_agree_apart_from_timings(
    tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from a3lab.classifiers import compare
    from a3lab.classifiers.sequences import config as sequences
    from a3lab.rnn import experiment as rnn

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
