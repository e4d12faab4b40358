"""The report's timing protocol: interleaved rounds, ratios with their spread, the one-side rule."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from a3lab.timing import (
    interleaved_rounds,
    intra_op_threads,
    log_log_slope,
    ratio_spread,
    side_of,
    spread,
)


def test_rounds_interleave_and_rotate_the_order() -> None:
    calls: list[str] = []
    contenders = {name: (lambda name=name: calls.append(name)) for name in "ABC"}
    times = interleaved_rounds(contenders, rounds=4, warmup=1)
    assert calls[:3] == ["A", "B", "C"]  # warm-up
    assert calls[3:] == list("ABC" + "BCA" + "CAB" + "ABC")
    assert {k: len(v) for k, v in times.items()} == {"A": 4, "B": 4, "C": 4}


def test_rounds_time_the_work_each_contender_does() -> None:
    x = torch.randn(64, 64)

    def work(repeats: int):
        return lambda: [x @ x for _ in range(repeats)]

    times = interleaved_rounds({"light": work(20), "heavy": work(400)}, rounds=5)
    ratio = ratio_spread(times["heavy"], times["light"])
    assert ratio["rounds"] == 5 and len(ratio["values"]) == 5
    assert side_of(ratio, 2.0) == "above"  # 20x the work is clearly more than twice the time


def test_spread_and_ratio_spread() -> None:
    assert spread([3.0, 1.0, 2.0, math.nan]) == {"median": 2.0, "low": 1.0, "high": 3.0, "rounds": 3}
    assert spread([]) == {"median": None, "low": None, "high": None, "rounds": 0}
    r = ratio_spread([2.0, 4.0, 9.0], [1.0, 2.0, 0.0])  # a zero denominator drops its round
    assert r["values"] == [2.0, 2.0] and r["rounds"] == 2


@pytest.mark.parametrize(
    ("low", "high", "side"),
    [(1.1, 1.3, "above"), (0.7, 0.9, "below"), (0.9, 1.1, "straddles"), (1.0, 1.2, "straddles")],
)
def test_side_of_needs_the_whole_spread_on_one_side(low: float, high: float, side: str) -> None:
    assert side_of({"low": low, "high": high}, 1.0) == side


@given(st.floats(0.5, 2.5), st.floats(1e-3, 1e3))
def test_log_log_slope_recovers_a_power_law(exponent: float, scale: float) -> None:
    points = [(n, scale * n**exponent) for n in (1024, 2048, 4096, 8192)]
    assert log_log_slope(points) == pytest.approx(exponent, rel=1e-9)


def test_log_log_slope_needs_two_lengths() -> None:
    assert log_log_slope([(1024, 1.0), (1024, 2.0)]) is None
    assert log_log_slope([]) is None


def test_intra_op_threads_restores_the_setting() -> None:
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
