"""a3lab.attention.bench: the CPU benchmark at tiny shapes (the real one is benchmarks/attention.py)."""

from __future__ import annotations

import time

import pytest

from a3lab.attention.bench import fit_slope, format_table, run_benchmark
from a3lab.attention.bench_config import BenchConfig
from a3lab.attention.hf_bench import hf_max_abs_diff
from a3lab.timing import time_calls

TINY = dict(  # also read by test_attention_cost
    sizes=(64, 128), heads=2, head_dim=8, window=8, linformer_k=32, repeats=1, matmul_size=128, hf_check_n=64
)


def test_fit_slope_recovers_power_laws() -> None:
    assert fit_slope([(n, 3e-6 * n**2) for n in (1024, 2048, 4096, 8192)]) == pytest.approx(2.0)
    assert fit_slope([(n, 0.5 * n) for n in (2048, 16384, 32768)]) == pytest.approx(1.0)  # 32k outside the fit
    assert fit_slope([(1024, 1.0)]) is None


@pytest.mark.parametrize(
    ("clock", "device", "ticking"), [("cpu", "cpu", "process_time"), ("wall", "cpu", "perf_counter")]
)
def test_time_calls_reads_the_clock_it_names(monkeypatch: pytest.MonkeyPatch, clock, device, ticking) -> None:
    # Fake clocks: the named one advances 2 ms per reading, the other stands still; no sleeping, no wall time.
    ticks = iter(range(0, 10_000, 2))
    for name in ("process_time", "perf_counter"):
        monkeypatch.setattr(time, name, (lambda: next(ticks) / 1e3) if name == ticking else (lambda: 0.0))
    first, later = time_calls(lambda: None, 3, device=device, clock_name=clock)
    assert first == pytest.approx(2.0) and later == pytest.approx([2.0] * 3)


def test_benchmark_rows_and_summaries() -> None:
    config = BenchConfig(**{**TINY, "linformer_k": 100}, methods=("full", "sliding-blocked", "linformer"), memory=False)
    result = run_benchmark(config)
    rows = {(r["n"], r["method"], r["backend"]): r for r in result["rows"]}
    kinds = [("full", "sdpa"), ("sliding", "blocked"), ("linformer", "sdpa")]
    assert set(rows) == {(n, m, b) for n in (64, 128) for m, b in kinds}
    assert rows[(64, "linformer", "sdpa")]["forward_ms"] is None  # K = 100 > N = 64
    assert rows[(64, "linformer", "sdpa")]["note"] == "K = 100 > N"
    timed = [r for r in result["rows"] if r["note"] is None]
    assert len(timed) == 5 and all(r["forward_ms"] > 0 and r["forward_backward_ms"] > 0 for r in timed)
    assert set(result["slopes"]) == {"full", "sliding-blocked"}  # one Linformer point has no slope
    assert result["matmul_gflops"] > 0 and result["band_gflops"]["sliding-blocked"] > 0
    assert result["band_gflops_forward_backward"]["sliding-blocked"] > 0
    assert all(r["device"] == "cpu" and r["clock"] == "cpu" for r in result["rows"])  # every timing names its device
    assert set(result["speedup_vs_full"]) == {"64", "128"}
    assert "sliding" in format_table(result) and "forward+backward (3x the forward's FLOPs)" in format_table(result)


def test_hugging_face_longformer_equals_ours() -> None:
    pytest.importorskip("transformers")
    assert hf_max_abs_diff(BenchConfig(**TINY), 64) <= 1e-5


def test_benchmark_refuses_a_linformer_k_above_every_size() -> None:
    with pytest.raises(ValueError, match="`linformer_k`"):
        BenchConfig(**{**TINY, "linformer_k": 129}, methods=("linformer",))
