"""a3lab.attention.sweep: the device benchmark, run on CPU with tiny sizes (the real run is on CUDA)."""

from __future__ import annotations

import json

import pytest
import torch

from a3lab.attention.bench_config import SweepConfig
from a3lab.attention.sweep import run_group, run_sweep, sdpa_backend
from a3lab.cli import main

METHODS = ("full", "sliding-blocked", "sliding-matmul", "linformer", "flash-window")
TINY = dict(sizes=(32, 64), windows=(4,), heads=2, head_dim=8, linformer_k=16, rounds=2, warmup=1, device="cpu",
            exact_max_n=32, methods=METHODS)  # fmt: skip


def test_sweep_rows_name_their_device_and_time_in_interleaved_rounds() -> None:
    result = run_sweep(SweepConfig(**TINY))
    rows = result["rows"]
    assert len(rows) == 2 * 2 * 2 * 5  # dtypes x passes x sizes x methods
    assert all(r["device"] == "cpu" for r in rows + result["exactness"])
    timed = [r for r in rows if r["seconds"]]
    assert {r["method"] for r in timed} == {"full", "sliding-blocked", "sliding-matmul", "linformer"}
    assert all(r["seconds"]["rounds"] == 2 and r["seconds"]["low"] <= r["seconds"]["median"] for r in timed)
    assert all(r["ratios"]["vs_full"]["median"] > 0 for r in timed if r["method"] != "full")
    assert all(r["note"] == "flash_attn is CUDA only" for r in rows if r["method"] == "flash-window")
    assert {r["backend"] for r in rows if r["method"] == "full"} <= {"FLASH_ATTENTION", "MATH"}
    best = result["summary"]["best_band"]
    assert {b["band"] for b in best} <= {"sliding-blocked", "sliding-matmul"} and len(best) == 8
    slopes = result["summary"]["slopes"]
    assert len(slopes) == 2 * 2 * 4 and all(s["device"] == "cpu" and s["sizes"] == [32, 64] for s in slopes)
    json.dumps(result)


def test_sweep_exactness_against_a_float64_dense_reference() -> None:
    errors = run_sweep(SweepConfig(**{**TINY, "passes": ("forward",), "sizes": (32,)}))["summary"]["max_abs_err"]
    for method in ("full", "sliding-blocked", "sliding-matmul", "linformer"):
        assert errors["float32 W=4 N=32"][method] < 1e-5
        assert errors["bfloat16 W=4 N=32"][method] < 0.05


def test_full_attention_stops_once_over_its_limit() -> None:
    cfg = SweepConfig(**{**TINY, "full_limit_s": 1e-9, "methods": ("full", "sliding-blocked")})
    stopped: set[str] = set()
    first = run_group(cfg, torch.device("cpu"), 32, 4, "float32", "forward", stopped)
    assert stopped == {"full"} and first[0]["note"] == "over 1e-09 s"
    later = run_group(cfg, torch.device("cpu"), 64, 4, "float32", "forward", stopped)
    assert later[0]["note"].startswith("stopped") and later[1]["seconds"]["rounds"] == 2


def test_sdpa_backend_is_named() -> None:
    assert sdpa_backend(torch.randn(1, 2, 16, 8)) in {"FLASH_ATTENTION", "MATH", "EFFICIENT_ATTENTION"}


@pytest.mark.parametrize("bad,message", [(dict(dtypes=("float16",)), "`dtypes`"), (dict(rounds=0), "`rounds`"),
                                         (dict(methods=()), "`methods`")])  # fmt: skip
def test_sweep_config_is_validated(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SweepConfig(**{**TINY, **bad})


def test_cli_sweep_on_cpu_writes_json_and_plots(tmp_path) -> None:
    flags = ["--sweep", "--device", "cpu", "--sizes", "32", "--windows", "4", "--dtypes", "float32", "--heads", "2",
             "--head-dim", "8", "--linformer-k", "16", "--repeats", "1", "--methods", "full,sliding-blocked",
             "--out", str(tmp_path)]  # fmt: skip
    assert main(["attention", "bench", *flags]) == 0
    saved = json.loads((tmp_path / "attention_sweep.json").read_text())
    assert {r["method"] for r in saved["rows"]} == {"full", "sliding-blocked"}
    assert all((tmp_path / name).is_file() for name in saved["images"]) and saved["images"]
