"""`a3lab report`: run the four problems' experiments and write the report, claim by claim."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from a3lab.commands import apply_threads, subcommand, thread_count, word_list
from a3lab.runs import open_run


def section_names(text: str) -> list[str]:
    """argparse type for `--only`: a comma-separated list of the report's section names."""
    from a3lab import report  # its section list imports no torch

    names = word_list(text)
    unknown = sorted(set(names) - {s.name for s in report.SECTIONS})
    if unknown:
        known = ", ".join(s.name for s in report.SECTIONS)
        raise argparse.ArgumentTypeError(f"unknown section(s) {', '.join(unknown)}; known: {known}")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    from a3lab.report import DEFAULT_THREADS, PRESETS, SECTION_NAMES

    what = "run the experiments and write the report (HTML, Markdown, JSON)"
    force = "re-run sections even when their inputs are unchanged"
    p = subcommand(sub, "report", what, cmd_report, default_threads=DEFAULT_THREADS, force=force)
    p.add_argument("--preset", choices=PRESETS, default=PRESETS[0], help=f"experiment budget (default: {PRESETS[0]})")
    p.add_argument("--out", default="report", help="output folder (default: report)")
    p.add_argument(
        "--only",
        type=section_names,
        default=None,
        metavar="{" + ",".join(SECTION_NAMES) + "}",
        help="comma-separated sections to run; the others are reused from --out if stored (--out is a cache: "
        "reusing it is intended)",
    )
    p.add_argument("--list", action="store_true", help="list the sections and claims, then exit")
    p.add_argument(
        "--jobs",
        type=thread_count,
        default=None,
        help="sections run side by side, one process each (default: 2, or 1 on a one-core machine); the results "
        "are those of one job, only timings differ",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars (section header lines stay)")
    p.add_argument(
        "--browser-check",
        action="store_true",
        help="open index.html in headless Chromium, save OUT/screenshot.png, fail on broken images or console errors",
    )


def cmd_report(args: argparse.Namespace) -> int:
    from a3lab import report

    report.quiet_waiting_threads()
    os.environ["A3LAB_PROGRESS"] = "0" if args.no_progress else os.environ.get("A3LAB_PROGRESS", "1")
    from a3lab.utils import resolve_device, seed_everything

    if args.list:
        print(report.listing())
        return 0
    device = str(resolve_device(args.device))
    apply_threads(args)
    if args.browser_check:
        report.require_chromium()
    # the stored section records are a cache worth keeping even when the run fails
    with open_run(args.out, report.FOLDER, reuse=True, force=args.force, keep_on_failure=("sections",)):
        seed_everything(args.seed)
        verdicts, records = report.build_report(
            args.preset,
            args.out,
            device=device,
            seed=args.seed,
            only=tuple(args.only) if args.only else None,
            force=args.force,
            threads=args.threads,
            jobs=args.jobs or min(2, os.cpu_count() or 1),
        )
        all_ran = report.print_summary(args.out, verdicts, records)
        page_ok = report.check_page(Path(args.out)) if args.browser_check else True
    return 0 if all_ran and page_ok else 1
