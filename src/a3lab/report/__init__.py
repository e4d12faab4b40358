"""The report: every claim of the write-up next to the measurement that supports or refutes it.

`build_report` runs (or reuses) each section's experiment (`a3lab.section.Section`, defined beside the experiment
in its problem package; this package only lists them), `render` turns the results into `index.html`
(self-contained: images embedded), `report.md` (PNGs beside it) and `results.json` (every number shown).
Verdicts are computed from the numbers by the rules stated next to them (`claims`), never written by hand. A
section that fails shows its error; the rest still renders.

Budgets are work (epochs, steps), never wall time, so a verdict does not depend on how busy the machine is.
A section's result states its work in `result["budget"]` (`a3lab.section.Budget`); a section stopped early by a
safety time limit is marked unfinished, and every claim that reads it says "not measured" (see `claims.judge`).
Each section's record also keeps the conditions it ran under: device, intra-op threads, load average at its start.
"""

from __future__ import annotations

import os

from a3lab.attention.section import COST, TASKS
from a3lab.classifiers.captions.section import CAPTIONS
from a3lab.classifiers.section import IMAGES, SEQUENCES
from a3lab.classifiers.video.section import VIDEO
from a3lab.gan.section import GAN
from a3lab.lazy import served
from a3lab.rnn.section import RNN
from a3lab.runs import Kind
from a3lab.section import Section

PRESETS = ("quick", "full")

SECTIONS: tuple[Section, ...] = (IMAGES, SEQUENCES, RNN, COST, TASKS, GAN, VIDEO, CAPTIONS)
"""The report's sections, in the order of results.json and of the log; the page groups them by problem."""
SECTION_NAMES = tuple(s.name for s in SECTIONS)
FOLDER = Kind(
    "report",
    "report",
    ("index.html", "report.md", "results.json", "screenshot.png", "sections", *SECTION_NAMES),
    ("sections",),
)
"""The report's folder: the page, its records (`sections/`) and one folder per section."""

TIMING_KEYS = frozenset({"seconds", "conditions", "generated"}).union(*(s.timing_keys for s in SECTIONS))
"""Keys of results.json whose values are timings or the machine's state, not results: two runs of the report
with the same seed, preset and threads agree on everything else (and on every verdict)."""

DEFAULT_THREADS = 1
"""Intra-op threads for training unless told otherwise. The report's models run many small ops: a second thread
gains little on an idle machine, and beside other processes every parallel region waits for whichever of its
threads is not on a core, so a section slows down many times beyond its share of the machine. One thread slows
by its share only."""

# The rest loads on first use: the CLI reads the sections above while it builds its parser, without torch.
_HOMES = {
    "build_report": "build",
    "render": "build",
    "without_timings": "build",
    "run_section": "run",
    "CLAIMS": "claims",
    "VERDICTS": "claims",
    "Claim": "claims",
    "Verdict": "claims",
    "browser_check": "browser",
    "find_chromium": "browser",
    "require_chromium": "browser",
    "check_page": "browser",
    "print_summary": "build",
    "listing": "build",
}

__all__ = [
    "DEFAULT_THREADS",
    "FOLDER",
    "PRESETS",
    "SECTIONS",
    "SECTION_NAMES",
    "TIMING_KEYS",
    "Section",
    "quiet_waiting_threads",
    *sorted(_HOMES),
]


def quiet_waiting_threads() -> None:
    """Make OpenMP's idle threads sleep instead of spinning, unless the user chose a policy.

    By default an OpenMP worker that runs out of work spins for a while before it sleeps. On a machine with
    other busy processes the spinning workers take turns on the cores from the ones still computing, and a
    parallel region waits for its slowest thread: the run slows down far beyond its fair share of the cores.
    Read once, when torch loads its OpenMP runtime, so this must run before torch is imported.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


__getattr__, __dir__ = served(__name__, _HOMES)
