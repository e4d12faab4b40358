"""Run the quick report quietly and beside K busy processes; compare verdicts, results and times.

    python benchmarks/report_under_load.py --busy 2 --out /tmp/under-load
    python benchmarks/report_under_load.py --busy 2 --env OMP_WAIT_POLICY=ACTIVE   # the spinning default

Each run is `a3lab report --preset P --force --no-progress` in a fresh subprocess, into OUT/quiet and
OUT/busy-K. A busy process is `python -c 'while True: pass'`, started just before the loaded run and ended
right after it. Prints a Markdown table: wall time, its ratio to the quiet run, the load average when each
section started, each section's seconds, and every claim's verdict in both runs; then whether the two
results.json agree apart from their timing fields (`a3lab.report.without_timings`).
Run it on an otherwise idle machine: anything else running is load the quiet run does not expect.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from a3lab.report import SECTION_NAMES, without_timings


def run_report(out: Path, preset: str, threads: int | None, env: dict[str, str], jobs: int | None = None) -> float:
    """Run the report into `out`; return its wall time in seconds."""
    cmd = [sys.executable, "-m", "a3lab", "report", "--preset", preset, "--out", str(out), "--force", "--no-progress"]
    if threads:
        cmd += ["--threads", str(threads)]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (out / "stdout.txt").write_text(done.stdout)
    (out / "stderr.txt").write_text(done.stderr)
    if done.returncode != 0:
        print(f"report into {out} exited {done.returncode}; see {out}/stderr.txt", file=sys.stderr)
    return seconds


def with_busy_processes(k: int, fn):
    """Call fn() while k CPU-bound Python processes run; end them afterwards."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]
    try:
        time.sleep(2.0)  # let the scheduler and the load average see them
        return fn()
    finally:
        for p in busy:
            p.kill()
            p.wait()


def summary_table(runs: dict[str, dict]) -> str:
    """Markdown: one column per run, rows for time, load, sections and verdicts."""
    names = list(runs)
    quiet = runs[names[0]]["seconds"]
    rows = [
        ["wall time (s)"] + [f"{r['seconds']:.0f}" for r in runs.values()],
        ["time / quiet"] + [f"{r['seconds'] / quiet:.2f}x" for r in runs.values()],
    ]
    for section in SECTION_NAMES:
        cells = []
        for r in runs.values():
            rec = r["results"]["sections"].get(section, {})
            load = (rec.get("conditions") or {}).get("load_average")
            cells.append(f"{rec.get('seconds', '-')} s (load {load})" if rec else "-")
        rows.append([f"{section}", *cells])
    for i, v in enumerate(runs[names[0]]["results"]["verdicts"]):
        cells = [r["results"]["verdicts"][i]["verdict"] for r in runs.values()]
        rows.append([f"claim {v['number']}", *cells])
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes beside the loaded run (default: 2)")
    parser.add_argument("--preset", default="quick", choices=["quick", "full"], help="report preset (default: quick)")
    parser.add_argument("--threads", type=int, default=None, help="report --threads (default: the report's own)")
    parser.add_argument("--jobs", type=int, default=None, help="report --jobs (default: the report's own)")
    parser.add_argument("--out", type=Path, default=Path("report-under-load"), help="output folder")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the report runs (repeatable)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    runs: dict[str, dict] = {}
    for name, k in (("quiet", 0), (f"beside {args.busy} busy", args.busy)):
        out = args.out / ("quiet" if k == 0 else f"busy-{k}")
        out.mkdir(parents=True, exist_ok=True)
        seconds = with_busy_processes(k, lambda out=out: run_report(out, args.preset, args.threads, env, args.jobs))
        results_path = out / "results.json"
        if not results_path.is_file():
            print(f"no results in {out}", file=sys.stderr)
            return 1
        runs[name] = {"seconds": seconds, "results": json.loads(results_path.read_text())}
    table = summary_table(runs)
    first, second = (r["results"] for r in runs.values())
    same_verdicts = [v["verdict"] for v in first["verdicts"]] == [v["verdict"] for v in second["verdicts"]]
    same_results = without_timings(first) == without_timings(second)
    print(f"a3lab report --preset {args.preset}, quiet and beside {args.busy} busy processes; env {env or 'as is'}\n")
    print(table)
    print(f"\nsame verdicts: {'yes' if same_verdicts else 'NO'}; results.json equal apart from timings: "
          f"{'yes' if same_results else 'NO'}")  # fmt: skip
    (args.out / "summary.md").write_text(table + "\n")
    return 0 if same_verdicts else 1


if __name__ == "__main__":
    sys.exit(main())
