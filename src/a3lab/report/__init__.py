"""The report: every claim of the write-up next to the measurement that supports or refutes it.

`build_report` runs (or reuses) each section's experiment through one entry point per area,
`render` turns the results into `index.html` (self-contained: images embedded), `report.md` (PNGs beside
it) and `results.json` (every number shown). Verdicts are computed from the numbers by the rules stated
next to them, never written by hand. A section that fails shows its error; the rest still renders.

Budgets are work (epochs, steps), never wall time, so a verdict does not depend on how busy the machine is.
A section's result states its work in `result["budget"]` ({"work": text, "unit", "planned", "done",
"images", "stopped"}); a section stopped early by a safety time limit is marked unfinished, and every claim
that reads it says "not measured" (see `claims.judge`). Each section's record also keeps the conditions it
ran under: device, intra-op threads, load average at its start.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from a3lab import __version__
from a3lab.errors import UserError
from a3lab.report.browser import browser_check, find_chromium
from a3lab.report.claims import CLAIMS, VERDICTS, Claim, Verdict, judge, stopped_early
from a3lab.report.render import document, to_html, to_markdown
from a3lab.utils import atomic_write_text, write_json

__all__ = [
    "CLAIMS",
    "PRESETS",
    "SECTIONS",
    "TIMING_KEYS",
    "VERDICTS",
    "Claim",
    "SectionSpec",
    "Verdict",
    "browser_check",
    "build_report",
    "find_chromium",
    "render",
    "run_section",
    "without_timings",
]

PRESETS = ("quick", "full")


# ----------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class SectionSpec:
    """One experiment of the report, run through `entry(preset, out_dir, device=, seed=) -> dict`."""

    name: str
    title: str
    entry: str
    """"module:function" of the area's report entry point"""
    sources: tuple[str, ...]
    """modules whose source code is part of the cache key (a change re-runs the section); a package
    name covers only its `__init__.py`, so list every module the experiment runs"""


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "classifiers",
        "Image classifiers",
        "a3lab.classifiers:report_experiment",
        (
            "a3lab.classifiers",
            "a3lab.classifiers.models",
            "a3lab.classifiers.training",
            "a3lab.classifiers.compare",
            "a3lab.data",
            "a3lab.timing",
        ),
    ),
    SectionSpec(
        "sequences",
        "Sequence tasks",
        "a3lab.classifiers.sequences:report_experiment",
        ("a3lab.classifiers.sequences", "a3lab.rnn"),
    ),
    SectionSpec("rnn", "The hand-wired RNN", "a3lab.rnn:report_experiment", ("a3lab.rnn",)),
    SectionSpec(
        "attention_cost",
        "Attention cost",
        "a3lab.attention.bench:report_experiment",
        (
            "a3lab.attention.functional",
            "a3lab.attention.band",
            "a3lab.attention.flex",
            "a3lab.attention.bench",
            "a3lab.timing",
        ),
    ),
    SectionSpec(
        "attention_tasks",
        "Attention tasks",
        "a3lab.attention.experiment:report_experiment",
        (
            "a3lab.attention.functional",
            "a3lab.attention.band",
            "a3lab.attention.flex",
            "a3lab.attention.modules",
            "a3lab.attention.tasks",
            "a3lab.attention.linformer_error",
            "a3lab.attention.experiment",
            "a3lab.data",
        ),
    ),
    SectionSpec(
        "gan",
        "GAN and conditional GAN",
        "a3lab.gan.reproduce:report_experiment",
        (
            "a3lab.gan.config",
            "a3lab.gan.models",
            "a3lab.gan.train",
            "a3lab.gan.sampling",
            "a3lab.gan.plots",
            "a3lab.gan.metrics",
            "a3lab.gan.evaluate",
            "a3lab.gan.reproduce",
            "a3lab.classifiers.models",
            "a3lab.classifiers.training",
            "a3lab.data",
        ),
    ),
    SectionSpec(
        "video",
        "Video clips",
        "a3lab.classifiers.video:report_experiment",
        (
            "a3lab.classifiers.video",
            "a3lab.classifiers.video_data",
            "a3lab.classifiers.video_models",
            "a3lab.attention.modules",
            "a3lab.attention.functional",
            "a3lab.attention.band",
            "a3lab.data",
        ),
    ),
    SectionSpec(
        "captions",
        "Image captions",
        "a3lab.classifiers.captions:report_experiment",
        (
            "a3lab.classifiers.captions",
            "a3lab.classifiers.captions_data",
            "a3lab.classifiers.captions_models",
            "a3lab.classifiers.video",
            "a3lab.classifiers.video_models",
            "a3lab.data",
        ),
    ),
)
SECTION_NAMES = tuple(s.name for s in SECTIONS)


def source_digest(modules: tuple[str, ...]) -> str:
    """sha256 over the source file of each named module (a package counts as its `__init__.py` only)."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            h.update(f"{name}:missing".encode())
            continue
        h.update(name.encode())
        h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:16]


def section_key(spec: SectionSpec, preset: str, device: str, seed: int, threads: int | None = None) -> str:
    """What a section's result depends on: reuse a stored result only when this is unchanged."""
    inputs = {"section": spec.name, "preset": preset, "device": device, "seed": seed, "version": __version__}
    if threads is not None:  # float reductions split over threads differently: part of the result
        inputs["threads"] = threads
    inputs["source"] = source_digest(spec.sources)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def conditions(device: str) -> dict[str, Any]:
    """What the machine was doing when a section started: device, intra-op threads, 1-minute load average."""
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "device": device,
        "threads": torch.get_num_threads(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": None if load is None else round(load, 2),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def run_section(
    spec: SectionSpec, preset: str, out_dir: Path, device: str, seed: int, force: bool, threads: int | None = None
) -> dict:
    """Run one section (or reuse its stored finished result); never raises for a failing experiment.

    Returns a record: {"name", "status": "ok"|"reused"|"failed", "key", "seconds", "conditions", "result",
    "error"}. A stored result that stopped early is run again (the experiments resume their runs).
    """
    record_path = out_dir / "sections" / f"{spec.name}.json"
    key = section_key(spec, preset, device, seed, threads)
    if not force and record_path.is_file():
        try:
            old = json.loads(record_path.read_text())
        except json.JSONDecodeError:
            old = {}
        finished = stopped_early(old.get("result")) is None
        if old.get("key") == key and old.get("status") in ("ok", "reused") and finished:
            return {**old, "status": "reused"}
    section_dir = out_dir / spec.name
    section_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    record: dict[str, Any] = {"name": spec.name, "key": key, "preset": preset, "result": None, "error": None}
    record["conditions"] = conditions(device)
    try:
        module_name, func_name = spec.entry.split(":")
        entry = getattr(importlib.import_module(module_name), func_name)
        result = entry(preset, section_dir, device=device, seed=seed)
        json.dumps(result)  # a result the report cannot store is a failure of that section
        record.update(status="ok", result=result)
    except Exception as e:
        record.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(record, record_path)
    return record


# ----------------------------------------------------------------------------- building it


def render(records: dict[str, dict], meta: dict, out_dir: Path) -> list[Verdict]:
    """Write index.html, report.md and results.json from the sections' records; return the verdicts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verdicts = [judge(c, records) for c in CLAIMS]
    blocks = document(records, verdicts, meta, {s.name: s.title for s in SECTIONS})
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


TIMING_KEYS = frozenset(
    {
        "seconds", "conditions", "generated", "timing", "rows", "slopes", "matmul_gflops", "band_gflops",
        "speedup_vs_full", "speedup_vs_hf", "speedup_vs_flex", "compile_s", "train_seconds", "seconds_per_epoch",
        "train_seconds_per_epoch", "inference_images_per_second", "train_images_per_second", "images_per_second",
        "clips_per_second", "train_cpu_seconds",
    }
)  # fmt: skip
"""Keys of results.json whose values are timings or the machine's state, not results: two runs of the report
with the same seed, preset and threads agree on everything else (and on every verdict)."""


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


DEFAULT_THREADS = 1
"""Intra-op threads for training unless told otherwise. The report's models run many small ops: a second thread
gains little on an idle machine, and beside other processes every parallel region waits for whichever of its
threads is not on a core, so a section slows down many times beyond its share of the machine. One thread slows
by its share only."""


LONGEST_FIRST = ("gan", "attention_tasks", "classifiers", "attention_cost", "captions", "video", "sequences", "rnn")
"""Section names by their usual work, longest first: side by side, the long ones start first and the short ones
fill the gaps, so the report ends close to (total work) / jobs."""


def _section_status(spec: SectionSpec, rec: dict) -> str:
    status = rec["status"] + (f": {rec['error']}" if rec["status"] == "failed" else "")
    if why := stopped_early(rec.get("result")):
        status += f", UNFINISHED: {why}"
    return f"{spec.title}: {status} ({rec.get('seconds', 0)} s)"


def _section_in_process(spec: SectionSpec, args: tuple) -> dict:
    """`run_section` in a worker process, with the report's intra-op threads."""
    import torch

    torch.set_num_threads(args[-1])
    return run_section(spec, *args)


def _run_sections(specs: list[SectionSpec], args: tuple, jobs: int, log: Callable[[str], None]):
    """Yield (spec, record) for each section, run one after another or `jobs` at a time in worker processes."""
    n = len(SECTIONS)
    number = {s.name: i for i, s in enumerate(SECTIONS, 1)}
    if jobs == 1 or len(specs) < 2:
        for spec in specs:
            log(f"[{number[spec.name]}/{n}] {spec.title} ({spec.name}) ...")
            rec = run_section(spec, *args)
            log(f"[{number[spec.name]}/{n}] {_section_status(spec, rec)}")
            yield spec, rec
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    ordered = sorted(specs, key=lambda s: rank.get(s.name, -1))  # unknown sections first: no estimate
    # spawn, not fork: a forked child of a process that has started OpenMP threads can hang in its first region
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for spec in ordered:
            log(f"[{number[spec.name]}/{n}] {spec.title} ({spec.name}) ... (queued, {jobs} jobs)")
            futures[pool.submit(_section_in_process, spec, args)] = spec
        for future in as_completed(futures):
            spec = futures[future]
            rec = future.result()
            log(f"[{number[spec.name]}/{n}] {_section_status(spec, rec)}")
            yield spec, rec


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

    threads = DEFAULT_THREADS if threads is None else threads
    if threads < 1:
        raise UserError(f"`threads` must be >= 1, got {threads}")
    if jobs < 1:
        raise UserError(f"`jobs` must be >= 1, got {jobs}")
    torch.set_num_threads(threads)
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    unknown = set(only or ()) - set(SECTION_NAMES)
    if unknown:
        raise UserError(f"`only`: unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTION_NAMES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict] = {}
    todo = []
    for spec in SECTIONS:
        stored = out_dir / "sections" / f"{spec.name}.json"
        if only and spec.name not in only:
            if stored.is_file():
                records[spec.name] = {**json.loads(stored.read_text()), "status": "reused"}
            continue
        todo.append(spec)
    args = (preset, out_dir, device, seed, force, threads)
    for spec, rec in _run_sections(todo, args, jobs, log):
        records[spec.name] = rec
    records = {s.name: records[s.name] for s in SECTIONS if s.name in records}  # the page's order
    meta = {
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
    verdicts = render(records, meta, out_dir)
    return verdicts, records
