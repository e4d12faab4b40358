"""Running the report's sections: each one's cache key, its record, and several side by side.

A section's record is {"name", "status": "ok"|"reused"|"failed", "key", "preset", "seconds", "conditions",
"result", "error"}, stored as `OUT/sections/<name>.json`. A stored record is reused while its key, computed
from what the result depends on (the section's import closure among them), is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from a3lab import __version__
from a3lab.report.claims import stopped_early
from a3lab.section import Section
from a3lab.utils import write_json

__all__ = ["conditions", "run_section", "run_sections", "section_key"]


def section_key(section: Section, preset: str, device: str, seed: int, threads: int | None = None) -> str:
    """What a section's result depends on: reuse a stored result only when this is unchanged."""
    inputs = {"section": section.name, "preset": preset, "device": device, "seed": seed, "version": __version__}
    if threads is not None:  # float reductions split over threads differently: part of the result
        inputs["threads"] = threads
    inputs["source"] = section.digest()
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


def _reusable(record_path: Path, key: str) -> dict | None:
    """The stored record when it was made with `key`, succeeded and finished its work (else None)."""
    if not record_path.is_file():
        return None
    try:
        old = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return None
    finished = stopped_early(old.get("result")) is None
    if old.get("key") == key and old.get("status") in ("ok", "reused") and finished:
        return {**old, "status": "reused"}
    return None


def run_section(
    section: Section, preset: str, out_dir: Path, device: str, seed: int, force: bool, threads: int | None = None
) -> dict:
    """Run one section (or reuse its stored finished result); never raises for a failing experiment.

    A stored result that stopped early is run again (the experiments resume their runs).
    """
    record_path = out_dir / "sections" / f"{section.name}.json"
    key = section_key(section, preset, device, seed, threads)
    if not force and (old := _reusable(record_path, key)) is not None:
        return old
    section_dir = out_dir / section.name
    section_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    record: dict[str, Any] = {"name": section.name, "key": key, "preset": preset, "result": None, "error": None}
    record["conditions"] = conditions(device)
    try:
        result = section.run(preset, section_dir, device=device, seed=seed)
        json.dumps(result)  # a result the report cannot store is a failure of that section
        record.update(status="ok", result=result)
    except Exception as e:
        record.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(record, record_path)
    return record


def section_status(section: Section, rec: dict) -> str:
    """One line for the log: how a section ended, and whether it stopped early."""
    status = rec["status"] + (f": {rec['error']}" if rec["status"] == "failed" else "")
    if why := stopped_early(rec.get("result")):
        status += f", UNFINISHED: {why}"
    return f"{section.title}: {status} ({rec.get('seconds', 0)} s)"


def _section_in_process(section: Section, args: tuple) -> dict:
    """`run_section` in a worker process, with the report's intra-op threads."""
    import torch

    torch.set_num_threads(args[-1])
    return run_section(section, *args)


def run_sections(
    sections: Sequence[Section], todo: Sequence[Section], args: tuple, jobs: int, log: Callable[[str], None]
) -> Iterator[tuple[Section, dict]]:
    """Yield (section, record) for each of `todo`, one after another or `jobs` at a time in worker processes.

    `sections` are all the report's sections (they number the log lines); `args` are `run_section`'s after the
    section. Side by side, the costliest start first and the short ones fill the gaps, so the report ends close
    to (total work) / jobs.
    """
    n = len(sections)
    number = {s.name: i for i, s in enumerate(sections, 1)}
    if jobs == 1 or len(todo) < 2:
        for section in todo:
            log(f"[{number[section.name]}/{n}] {section.title} ({section.name}) ...")
            rec = run_section(section, *args)
            log(f"[{number[section.name]}/{n}] {section_status(section, rec)}")
            yield section, rec
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked child of a process that has started OpenMP threads can hang in its first region
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        try:
            for section in sorted(todo, key=lambda s: -s.cost):
                log(f"[{number[section.name]}/{n}] {section.title} ({section.name}) ... (queued, {jobs} jobs)")
                futures[pool.submit(_section_in_process, section, args)] = section
            for future in as_completed(futures):
                section = futures[future]
                rec = future.result()
                log(f"[{number[section.name]}/{n}] {section_status(section, rec)}")
                yield section, rec
        except BaseException:  # Ctrl-C or SIGTERM: stop the workers now instead of waiting for their sections
            _stop_workers(pool)
            raise


def _stop_workers(pool) -> None:
    """Cancel the queued sections and end the running ones (a SIGTERM reaches the parent only)."""
    workers = list((pool._processes or {}).values())  # the executor has no public way to end its workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
