"""How the report times things: contenders side by side in one process, interleaved rounds, ratios with spread.

A single timing of A and one of B, taken seconds apart, compare two moments of the machine as much as two
programs: another process, a frequency change or a page fault lands on one of them. So every contender runs
once per round, in one process, with the same threads and inputs, and the order rotates from round to round
(A B C, B C A, C A B, ...). A ratio is formed within each round, where both calls saw the same machine, and
the rounds give its median and its spread (lowest to highest). A rule may call a ratio above or below a
threshold only when the whole spread is on that side (`side_of`).

On CPU the clock is the process's CPU time (`time.process_time`) with one intra-op thread: it counts the
work done, not the waits for a core on a busy machine. On CUDA it is the wall time between synchronisations.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

import torch

MIN_ROUNDS = 5
"""fewest interleaved rounds a timing claim accepts"""

Side = Literal["above", "below", "straddles"]


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` intra-op threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _clock(device: str) -> Callable[[], float]:
    return time.perf_counter if device.startswith("cuda") else time.process_time


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved_rounds(
    contenders: Mapping[str, Callable[[], object]],
    rounds: int = 7,
    device: str = "cpu",
    warmup: int = 1,
    desc: str = "timing rounds",
) -> dict[str, list[float]]:
    """Seconds per call of each contender, one call each per round, the order rotating every round.

    Each contender is called `warmup` times first (thread pools, allocator, kernel selection), in order.
    A progress bar (`desc`) counts the rounds. Returns {name: [seconds in round 0, round 1, ...]}.
    """
    from a3lab.utils import progress

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    now = _clock(device)
    times: dict[str, list[float]] = {name: [0.0] * rounds for name in names}
    for r in progress(range(rounds), desc=desc):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            _sync(device)
            start = now()
            contenders[name]()
            _sync(device)
            times[name][r] = now() - start
    return times


def spread(values: list[float]) -> dict:
    """{"median", "low", "high", "rounds"} of a list of per-round values (non-finite ones dropped)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"median": None, "low": None, "high": None, "rounds": 0}
    return {"median": statistics.median(finite), "low": min(finite), "high": max(finite), "rounds": len(finite)}


def ratio_spread(numerator: list[float], denominator: list[float]) -> dict:
    """Per-round ratios numerator[r] / denominator[r] and their `spread` (rounds with a zero denominator dropped)."""
    ratios = [a / b if b > 0 else math.nan for a, b in zip(numerator, denominator)]
    return {**spread(ratios), "values": [round(x, 4) for x in ratios if math.isfinite(x)]}


def log_log_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x); None with fewer than two distinct positive x."""
    use = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len({x for x, _ in use}) < 2:
        return None
    mx, my = statistics.fmean(x for x, _ in use), statistics.fmean(y for _, y in use)
    return sum((x - mx) * (y - my) for x, y in use) / sum((x - mx) ** 2 for x, _ in use)


def side_of(stats: Mapping, threshold: float) -> Side:
    """Where a ratio's whole spread lies against a threshold: "above" (low > t), "below" (high < t) or not."""
    if stats["low"] > threshold:
        return "above"
    if stats["high"] < threshold:
        return "below"
    return "straddles"


def describe(stats: Mapping, unit: str = "x") -> str:
    """'1.23x (1.10-1.31x over 7 rounds)'."""
    return f"{stats['median']:.2f}{unit} ({stats['low']:.2f}-{stats['high']:.2f}{unit} over {stats['rounds']} rounds)"
