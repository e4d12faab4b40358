"""Building the report: run (or reuse) the sections, judge the claims, write the page, its Markdown and its JSON."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import a3lab.report as report
from a3lab import __version__
from a3lab.errors import UserError
from a3lab.report import DEFAULT_THREADS, PRESETS, TIMING_KEYS
from a3lab.report.claims import CLAIMS, VERDICTS, Verdict, judge, stopped_early
from a3lab.report.page import document, to_html, to_markdown
from a3lab.report.run import run_sections, section_key
from a3lab.section import Section
from a3lab.utils import atomic_write_text, write_json

__all__ = ["build_report", "listing", "print_summary", "render", "without_timings"]


def render(
    records: dict[str, dict], meta: dict, out_dir: Path, sections: Sequence[Section] | None = None
) -> list[Verdict]:
    """Write index.html, report.md and results.json from the sections' records; return the verdicts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verdicts = [judge(c, records) for c in CLAIMS]
    blocks = document(records, verdicts, meta, report.SECTIONS if sections is None else sections)
    atomic_write_text(to_markdown(blocks), out_dir / "report.md")
    atomic_write_text(to_html(blocks, out_dir), out_dir / "index.html")
    write_json(
        {
            "meta": meta,
            "verdicts": [asdict(v) for v in verdicts],
            "verdict_colours": {name: colour for name, (colour, _) in VERDICTS.items()},
            "sections": {
                n: {k: rec.get(k) for k in ("status", "seconds", "key", "conditions", "error", "result")}
                for n, rec in records.items()
            },
        },
        out_dir / "results.json",
    )
    return verdicts


def without_timings(results: Any) -> Any:
    """results.json without its timing fields (`TIMING_KEYS`) and without the evidence of timed claims."""
    timed = {c.number for c in CLAIMS if c.timed}
    if isinstance(results, dict):
        out = {k: without_timings(v) for k, v in results.items() if k not in TIMING_KEYS}
        if out.get("number") in timed and "evidence" in out:
            out.pop("evidence")
        return out
    if isinstance(results, list):
        return [without_timings(v) for v in results]
    return results


def _stored(section: Section, path: Path, key: str) -> dict:
    """The stored record of a section left out by `only`: reused as it is when the code and settings that made
    it are today's, else kept off the page's claims ("stale"), since an older result may not hold what today's
    rules read."""
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError:
        old = {}
    if old.get("key") == key:
        return {**old, "status": "reused"}
    why = f"its stored result was made by other code or settings: run `a3lab report --only {section.name}`"
    return {"name": section.name, "status": "stale", "key": old.get("key"), "result": None, "error": why}


def _check_options(preset: str, only: tuple[str, ...] | None, threads: int, jobs: int, names: list[str]) -> None:
    if threads < 1:
        raise UserError(f"`threads` must be >= 1, got {threads}")
    if jobs < 1:
        raise UserError(f"`jobs` must be >= 1, got {jobs}")
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    unknown = set(only or ()) - set(names)
    if unknown:
        raise UserError(f"`only`: unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(names)}")


def _meta(preset: str, device: str, seed: int, threads: int, jobs: int) -> dict[str, Any]:
    import torch

    return {
        "preset": preset,
        "device": device,
        "seed": seed,
        "version": __version__,
        "torch": torch.__version__,
        "threads": threads,
        "jobs": jobs,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def build_report(
    preset: str = "quick",
    out_dir: str | Path = "report",
    device: str = "cpu",
    seed: int = 0,
    only: tuple[str, ...] | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
    threads: int | None = None,
    jobs: int = 1,
) -> tuple[list[Verdict], dict[str, dict]]:
    """Run (or reuse) the sections, then render the report. Sections not in `only` are reused if stored.

    `threads`: intra-op threads for training (default: `DEFAULT_THREADS`). Timings use one thread each,
    whatever this is (see `a3lab.timing`). `jobs`: sections run side by side, each in its own process
    (every section seeds itself, so the results are those of a one-job run; only the timings differ).
    """
    import torch

    sections = report.SECTIONS  # read when called: the report's list, as the CLI saw it
    threads = DEFAULT_THREADS if threads is None else threads
    _check_options(preset, only, threads, jobs, [s.name for s in sections])
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict] = {}
    todo = []
    for section in sections:
        stored = out_dir / "sections" / f"{section.name}.json"
        if only and section.name not in only:
            if stored.is_file():
                records[section.name] = _stored(section, stored, section_key(section, preset, device, seed, threads))
            continue
        todo.append(section)
    args = (preset, out_dir, device, seed, force, threads)
    for section, rec in run_sections(sections, todo, args, jobs, log):
        records[section.name] = rec
    records = {s.name: records[s.name] for s in sections if s.name in records}  # the sections' order
    verdicts = render(records, _meta(preset, device, seed, threads, jobs), out_dir, sections)
    return verdicts, records


def listing() -> str:
    """Every section (with the function that runs it) and every claim (with the sections it reads)."""
    sections = [f"section {s.name:<16} {s.title}  ({s.run.__module__}.{s.run.__name__})" for s in report.SECTIONS]
    claims = [f"claim {c.number}: {c.claim}  [sections: {', '.join(c.sections)}]" for c in CLAIMS]
    return "\n".join(sections + claims)


def print_summary(out: str | Path, verdicts: list[Verdict], records: dict[str, dict]) -> bool:
    """Print the verdicts, the files written and what failed; True when every section ran."""
    print(f"{'#':>2}  {'verdict':<13} claim")
    for v in verdicts:
        print(f"{v.number:>2}  {v.verdict:<13} {v.claim}")
    print(f"wrote {out}/index.html, {out}/report.md and {out}/results.json")
    failed = [n for n, r in records.items() if r.get("status") == "failed"]
    if failed:
        print(f"failed sections: {', '.join(failed)} (see the report)")
    unfinished = [n for n, r in records.items() if stopped_early(r.get("result"))]
    if unfinished:
        print(f"stopped early, their claims not measured: {', '.join(unfinished)} (see the report)")
    return not failed
