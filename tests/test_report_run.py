"""Running sections: a stored result is reused until something in its section's import closure changes, and
sections side by side (spawned workers, which receive the Section objects pickled) give the one-job results."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TypedDict

import pytest

import a3lab.section
from a3lab import report
from a3lab.report.run import run_section, run_sections
from a3lab.section import Section

CALLS: list[str] = []


class CountResult(TypedDict):
    calls: int


def counted_run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    from a3lab import utils  # noqa: F401  (the import closure: a3lab.utils and the a3lab modules it imports)

    CALLS.append(preset)
    return {"calls": len(CALLS)}


def no_blocks(r: dict) -> list:
    return []


COUNTED = Section("counted", "Counted", run=counted_run, render=no_blocks, result=CountResult)


def _edited(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str) -> None:
    """Make `module`'s source, as the cache key reads it, differ from the installed one."""
    real = a3lab.section._module_file
    copy = tmp_path / f"{module}.py"
    copy.write_text(real(module).read_text() + "\n# edited\n")
    monkeypatch.setattr(a3lab.section, "_module_file", lambda name: copy if name == module else real(name))


def test_an_edit_in_the_import_closure_reruns_the_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    CALLS.clear()
    assert "a3lab.utils" in a3lab.section.import_closure(counted_run)
    args = ("quick", tmp_path / "out", "cpu", 0, False, 1)
    assert run_section(COUNTED, *args)["status"] == "ok"
    assert run_section(COUNTED, *args)["status"] == "reused" and CALLS == ["quick"]
    _edited(monkeypatch, tmp_path, "a3lab.gan.config")
    assert run_section(COUNTED, *args)["status"] == "reused", "a module outside the closure changes nothing"
    _edited(monkeypatch, tmp_path, "a3lab.utils")
    rec = run_section(COUNTED, *args)
    assert rec["status"] == "ok" and rec["result"] == {"calls": 2} and CALLS == ["quick", "quick"]
    assert run_section(COUNTED, *args)["status"] == "reused"


def test_the_key_follows_preset_seed_and_threads(tmp_path: Path) -> None:
    CALLS.clear()
    base = ("quick", tmp_path, "cpu", 0, False, 1)
    run_section(COUNTED, *base)
    for changed in (("full", tmp_path, "cpu", 0, False, 1), ("quick", tmp_path, "cpu", 1, False, 1),
                    ("quick", tmp_path, "cpu", 0, False, 2), ("quick", tmp_path, "cpu", 0, True, 1)):  # fmt: skip
        assert run_section(COUNTED, *changed)["status"] == "ok"
    assert len(CALLS) == 5


def test_the_report_sections_pickle_by_reference() -> None:
    for section in report.SECTIONS:
        assert pickle.loads(pickle.dumps(section)) == section


def tiny_run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    """A section cheap enough to run in worker processes: seeded numbers and the worker's threads."""
    import torch

    torch.manual_seed(seed)
    return {"draw": torch.rand(3).tolist(), "threads": torch.get_num_threads(), "preset": preset}


@pytest.mark.parametrize("jobs", [1, 2])
def test_sections_side_by_side_give_the_one_job_results(tmp_path: Path, jobs: int) -> None:
    sections = [Section(name, name, run=tiny_run, render=no_blocks, result=dict, cost=c)
                for name, c in (("short", 1.0), ("long", 5.0))]  # fmt: skip
    lines: list[str] = []
    args = ("quick", tmp_path, "cpu", 3, True, 1)
    records = {s.name: rec for s, rec in run_sections(sections, sections, args, jobs, lines.append)}
    assert set(records) == {"short", "long"} and all(r["status"] == "ok" for r in records.values())
    expected = tiny_run("quick", tmp_path, device="cpu", seed=3)["draw"]
    assert all(r["result"]["draw"] == expected and r["result"]["threads"] == 1 for r in records.values())
    assert sum("short: ok" in line for line in lines) == 1 and len(lines) == 4  # a start and an end line each
    if jobs > 1:
        assert "long" in lines[0], "side by side, the costliest section is queued first"
