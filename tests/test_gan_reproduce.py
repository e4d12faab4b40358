"""a3lab.gan.reproduce: the four runs, their time budget on resume, a subset of runs, the report's result."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from a3lab.gan import evaluate as gan_evaluate
from a3lab.gan import reference as gan_reference
from a3lab.gan import reproduce as gan_reproduce
from a3lab.gan.folder import RUN_NAMES
from a3lab.gan.section import GANResult
from test_gan_fixtures import TINY
from test_gan_metrics import BarClassifier
from test_report_fixtures import mismatches


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """`section_experiment("quick")` once per module, with the quick preset shrunk to one step of a narrow DCGAN
    on the tiny data and the known classifier as judge; its four run folders serve the other tests."""
    from conftest import write_tiny_dataset

    base = tmp_path_factory.mktemp("gan-eval")
    for name in ("mnist", "fashion-mnist"):
        write_tiny_dataset(base / "data", name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("A3LAB_DATA", str(base / "data"))
        mp.setitem(gan_reproduce.PRESETS, "quick", TINY)
        mp.setattr(gan_reference, "default_eval_cache", lambda: base / "cache")
        for module in (gan_evaluate, gan_reproduce):
            mp.setattr(module, "load_classifier", lambda dataset, root=None, device="cpu": BarClassifier())
        result = gan_reproduce.section_experiment("quick", base / "report")
    return result, base / "report"


def test_reproduce_resume_keeps_a_run_that_used_up_its_time_budget(tiny_data: Path, tmp_path: Path):
    kwargs = dict(cache_dir=tmp_path / "cache", classifier_for=lambda d: BarClassifier(), progress_bar=False)
    capped = replace(TINY, epochs=3, train_examples=96, max_minutes=1e-6)  # stops after its first step
    first = gan_reproduce.reproduce(capped, tmp_path / "out", runs=["mnist-gan"], **kwargs)["runs"]["mnist-gan"]
    assert first["stopped"] == "time_limit" and first["epochs"] < 3
    checkpoint = tmp_path / "out" / "mnist-gan" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = gan_reproduce.reproduce(capped, tmp_path / "out", runs=["mnist-gan"], resume=True, **kwargs)["runs"][
        "mnist-gan"
    ]
    assert checkpoint.stat().st_mtime_ns == stamp  # not trained past the preset's cap
    assert (again["epochs"], again["train_seconds"], again["fid"]) == (
        first["epochs"],
        first["train_seconds"],
        first["fid"],
    )
    # A run interrupted before its cap continues, with what is left of the budget.
    roomy = replace(capped, max_minutes=5.0)
    summary = json.loads((tmp_path / "out" / "mnist-gan" / "summary.json").read_text())
    (tmp_path / "out" / "mnist-gan" / "summary.json").write_text(json.dumps({**summary, "stopped": "interrupted"}))
    more = gan_reproduce.reproduce(roomy, tmp_path / "out", runs=["mnist-gan"], resume=True, **kwargs)["runs"][
        "mnist-gan"
    ]
    assert more["stopped"] == "completed" and more["epochs"] == 3


def test_reproduce_runs_only_the_named_runs_and_a_later_call_reuses_them(tiny_data: Path, tmp_path: Path):
    kwargs = dict(cache_dir=tmp_path / "cache", classifier_for=lambda d: BarClassifier(), progress_bar=False)
    preset = replace(TINY, by_dataset={"fashion-mnist": {"arch": "mlp", "loss": "hinge"}})
    part = gan_reproduce.reproduce(preset, tmp_path / "out", runs=["fashion-mnist-cgan"], **kwargs)
    assert list(part["runs"]) == ["fashion-mnist-cgan"] and part["runs"]["fashion-mnist-cgan"]["arch"] == "mlp"
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == ["fashion-mnist-cgan"]
    stamp = (tmp_path / "out" / "fashion-mnist-cgan" / "checkpoint.pt").stat().st_mtime_ns
    whole = gan_reproduce.reproduce(preset, tmp_path / "out", resume=True, **kwargs)
    assert [(r["arch"], r["loss"]) for r in whole["runs"].values()] == [("dcgan", "bce")] * 2 + [("mlp", "hinge")] * 2
    assert list(whole["runs"]) == ["mnist-gan", "mnist-cgan", "fashion-mnist-gan", "fashion-mnist-cgan"]
    assert (tmp_path / "out" / "fashion-mnist-cgan" / "checkpoint.pt").stat().st_mtime_ns == stamp  # not retrained
    assert whole["runs"]["fashion-mnist-cgan"]["fid"] == part["runs"]["fashion-mnist-cgan"]["fid"]
    with pytest.raises(ValueError, match="`runs` takes some of mnist-gan"):
        gan_reproduce.reproduce(TINY, tmp_path / "bad", runs=["cifar-gan"], **kwargs)


def test_section_experiment_runs_the_four_runs(report, tiny_data: Path, tmp_path: Path):
    result, out = report
    assert mismatches(result, GANResult) == []  # exactly the section's declared result
    budget = result["budget"]
    assert budget["done"] == budget["planned"] > 0 and budget["stopped"] is None and budget["unit"] == "steps"
    assert list(result["runs"]) == list(RUN_NAMES)
    for name, run in result["runs"].items():
        assert set(run) == {*gan_reproduce.REPORT_RUN_KEYS, "epochs_planned"}
        assert run["epochs"] == run["epochs_planned"] == TINY.epochs
        assert run["conditional"] == name.endswith("cgan") and run["dataset"] == name.rsplit("-", 1)[0]
        assert math.isclose(sum(run["class_histogram"]), 1.0) and len(run["class_histogram"]) == 10
        assert (run["conditional_accuracy"] is None) == (not run["conditional"])
        assert run["train_seconds"] > 0 and run["fid_floor"] >= 0
    assert sorted(result["images"]) == sorted(f"{n}-grid.png" for n in RUN_NAMES)
    assert all((out / image).is_file() for image in result["images"])
    json.dumps(result)
    markdown = (out / "comparison.md").read_text()
    assert all(f"| {n} |" in markdown for n in RUN_NAMES) and "![mnist-cgan](mnist-cgan-grid.png)" in markdown
    assert set(json.loads((out / "comparison.json").read_text())["runs"]) == set(RUN_NAMES)
    # A second call resumes finished runs instead of refusing their folders.
    again = gan_reproduce.reproduce(
        TINY, out, resume=True, classifier_for=lambda d: BarClassifier(), progress_bar=False, cache_dir=tmp_path
    )
    assert again["runs"]["mnist-gan"]["fid"] == pytest.approx(result["runs"]["mnist-gan"]["fid"])


def test_report_budget_marks_a_run_stopped_at_its_time_limit(tmp_path: Path) -> None:
    for name, steps, stopped in (("mnist-gan", 1874, "completed"), ("mnist-cgan", 105, "time_limit")):
        (tmp_path / name).mkdir()
        summary = {"epochs": 2, "steps_per_epoch": 937, "global_step": steps, "stopped": stopped}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    budget = gan_reproduce._report_budget(TINY, tmp_path)
    assert (budget["planned"], budget["done"]) == (2 * 1874, 1874 + 105)
    assert budget["stopped"] == "the time limit (mnist-cgan)"
    from a3lab.report.claims import stopped_early

    assert stopped_early({"budget": budget}) == "stopped at the time limit (mnist-cgan) after 1,979 of 3,748 steps"
