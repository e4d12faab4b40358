"""How a3lab times things: contenders side by side in one process, interleaved rounds, ratios with spread.

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


def clock(device: str) -> Callable[[], float]:
    """The clock of a device: this process's CPU time on CPU, the wall time on CUDA (between `sync`s)."""
    return time.perf_counter if device.startswith("cuda") else time.process_time


def sync(device: str) -> None:
    """Wait for the device's queued work (a no-op on CPU), so that a clock reading covers it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_calls(
    fn: Callable[[], object], repeats: int, device: str = "cpu", clock_name: Literal["cpu", "wall"] = "cpu"
) -> tuple[float, list[float]]:
    """(first call, later calls) in milliseconds: one warm-up call, then `repeats` timed ones.

    clock_name "cpu" is `clock(device)`; "wall" is `time.perf_counter`, which CUDA always uses.
    """
    now = time.perf_counter if clock_name == "wall" else clock(device)
    times = []
    for _ in range(repeats + 1):
        sync(device)
        start = now()
        fn()
        sync(device)
        times.append(1e3 * (now() - start))
    return times[0], times[1:]


def cuda_call(call: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """(seconds by CUDA events, peak MB allocated above the start) of one call on a CUDA device."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    call()
    end.record()
    torch.cuda.synchronize(device)
    return begin.elapsed_time(end) / 1e3, (torch.cuda.max_memory_allocated(device) - before) / 2**20


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
    now = clock(device)
    times: dict[str, list[float]] = {name: [0.0] * rounds for name in names}
    for r in progress(range(rounds), desc=desc):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sync(device)
            start = now()
            contenders[name]()
            sync(device)
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


def log_log_slope(
    points: list[tuple[float, float]], low: float | None = None, high: float | None = None
) -> float | None:
    """Least-squares slope of log(y) against log(x), over low <= x <= high where given.

    None with fewer than two distinct positive x in that range.

    >>> round(log_log_slope([(1, 3.0), (2, 6.0), (4, 12.0)]), 6)
    1.0
    >>> round(log_log_slope([(1, 1.0), (10, 100.0), (1000, 1.0)], high=100), 6)
    2.0
    """
    use = [
        (math.log(x), math.log(y))
        for x, y in points
        if x > 0 and y > 0 and (low is None or x >= low) and (high is None or x <= high)
    ]
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
