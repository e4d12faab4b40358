"""a3lab.attention.cost: the report's attention-cost experiment, and its section's renderer on what it returns."""

from __future__ import annotations

import json

import pytest

from a3lab.attention import bench, bench_config, bench_methods, cost
from a3lab.attention.bench_config import BenchConfig
from a3lab.attention.cost import section_experiment
from a3lab.attention.section import COST
from test_attention_bench import TINY


def test_section_experiment_returns_exactly_the_documented_keys(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench_config.PRESETS, "quick", BenchConfig(**TINY, memory=True))
    methods = ("full", "sliding-blocked", "linformer")
    timing = {"methods": methods, "sizes": (64, 128, 256), "full_max_n": 128, "rounds": 5}
    monkeypatch.setitem(cost.REPORT_TIMING, "quick", timing)
    for module in (cost, bench, bench_methods):
        monkeypatch.setattr(module, "hf_installed", lambda: False)
    out = section_experiment("quick", tmp_path)
    assert set(out) == {"images", "rows", "slopes", "matmul_gflops", "band_gflops", "hf", "speedup_vs_full",
                        "speedup_vs_hf", "timing", "budget"}  # fmt: skip
    t = out["timing"]
    assert t["rounds"] == 5 and t["slope_sizes"] == [64, 128, 256] and t["device"] == "cpu"
    assert set(t["slopes"]) == {"full", "sliding-blocked", "linformer"} and t["slopes"]["full"]["rounds"] == 5
    assert set(t["ms"]["full"]) == {"64", "128"}  # full attention only up to full_max_n
    assert [(s["n"], s["method"], s["ratio"]["rounds"]) for s in t["speedup_vs_full"]] == [
        (64, "sliding-blocked", 5), (128, "sliding-blocked", 5)]  # fmt: skip
    assert out["budget"]["done"] == out["budget"]["planned"] > 0 and out["budget"]["stopped"] is None
    assert out["images"] and all((tmp_path / name).is_file() for name in out["images"])
    assert out["hf"] == {"installed": False, "max_abs_diff": None}
    assert out["speedup_vs_hf"] == {"64": None, "128": None}
    assert all(
        set(r) == {"n", "method", "backend", "device", "forward_ms", "forward_backward_ms", "peak_mb"}
        for r in out["rows"]
    )
    assert all(r["peak_mb"] is not None for r in out["rows"] if r["forward_ms"] is not None)
    json.dumps(out)
    assert COST.render(out)[0][0] == "table" and any(b[0] == "p" for b in COST.render(out))
