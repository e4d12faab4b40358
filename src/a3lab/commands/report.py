"""`a3lab report`: run the four problems' experiments and write the report, claim by claim."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from a3lab.commands import add_common, thread_count, word_list
from a3lab.commands.flags import add_threads, apply_threads
from a3lab.errors import UserError
from a3lab.runs import Kind, open_run


def report_kind() -> Kind:
    """The report's folder: the page, its records (`sections/`) and one folder per section."""
    from a3lab.report import SECTION_NAMES

    page = ("index.html", "report.md", "results.json", "screenshot.png")
    return Kind("report", "report", (*page, "sections", *SECTION_NAMES), ("sections",))


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

    p = sub.add_parser("report", help="run the experiments and write the report (HTML, Markdown, JSON)")
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
    p.add_argument("--force", action="store_true", help="re-run sections even when their inputs are unchanged")
    p.add_argument("--list", action="store_true", help="list the sections and claims, then exit")
    add_threads(p, default=DEFAULT_THREADS)
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
    add_common(p)
    p.set_defaults(func=cmd_report)


def quiet_waiting_threads() -> None:
    """Make OpenMP's idle threads sleep instead of spinning, unless the user chose a policy.

    By default an OpenMP worker that runs out of work spins for a while before it sleeps. On a machine with
    other busy processes the spinning workers take turns on the cores from the ones still computing, and a
    parallel region waits for its slowest thread: the run slows down far beyond its fair share of the cores.
    Read once, when torch loads its OpenMP runtime, so this must run before torch is imported.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def cmd_report(args: argparse.Namespace) -> int:
    quiet_waiting_threads()
    os.environ["A3LAB_PROGRESS"] = "0" if args.no_progress else os.environ.get("A3LAB_PROGRESS", "1")
    from a3lab.report import CLAIMS, SECTIONS, build_report
    from a3lab.utils import resolve_device, seed_everything

    if args.list:
        for s in SECTIONS:
            print(f"section {s.name:<16} {s.title}  ({s.run.__module__}.{s.run.__name__})")
        for c in CLAIMS:
            print(f"claim {c.number}: {c.claim}  [sections: {', '.join(c.sections)}]")
        return 0
    only = tuple(args.only) if args.only else None
    device = str(resolve_device(args.device))
    apply_threads(args)
    if args.browser_check:
        find_browser()
    # the stored section records are a cache worth keeping even when the run fails
    with open_run(args.out, report_kind(), reuse=True, force=args.force, keep_on_failure=("sections",)):
        seed_everything(args.seed)
        verdicts, records = build_report(
            args.preset,
            args.out,
            device=device,
            seed=args.seed,
            only=only,
            force=args.force,
            threads=args.threads,
            jobs=args.jobs or min(2, os.cpu_count() or 1),
        )
        page_ok = _print_summary(args, verdicts, records)
    return 0 if page_ok else 1


def _print_summary(args: argparse.Namespace, verdicts: list, records: dict[str, dict]) -> bool:
    """The verdicts, the files written and what failed; True when every section ran and the page is clean."""
    from a3lab.report.claims import stopped_early

    print(f"{'#':>2}  {'verdict':<13} claim")
    for v in verdicts:
        print(f"{v.number:>2}  {v.verdict:<13} {v.claim}")
    print(f"wrote {args.out}/index.html, {args.out}/report.md and {args.out}/results.json")
    failed = [n for n, r in records.items() if r.get("status") == "failed"]
    if failed:
        print(f"failed sections: {', '.join(failed)} (see the report)")
    unfinished = [n for n, r in records.items() if stopped_early(r.get("result"))]
    if unfinished:
        print(f"stopped early, their claims not measured: {', '.join(unfinished)} (see the report)")
    page_ok = check_in_browser(Path(args.out)) if args.browser_check else True
    return not failed and page_ok


def find_browser() -> None:
    """Before any work: `--browser-check` needs Chromium."""
    from a3lab.report import find_chromium

    if find_chromium() is None:
        raise UserError("`browser_check` needs chromium (Debian: apt-get install chromium)")


def check_in_browser(out: Path) -> bool:
    """Open out/index.html in headless Chromium, save out/screenshot.png, print what it saw; True if clean."""
    from a3lab.report import browser_check

    find_browser()
    check = browser_check(out / "index.html", out / "screenshot.png")
    broken, console = check["broken_images"], check["console"]
    print(
        f"browser: {'loaded' if check['loaded'] else 'did not load'}, {check['images']} images, "
        f"{broken} broken, {len(console)} console messages; screenshot {check['screenshot']}"
    )
    for line in console:
        print(f"  {line}")
    return bool(check["loaded"]) and broken == 0 and not console
