"""Problem 3's cost for the report: the CPU benchmark's table (`bench`), then the side-by-side timing of
interleaved rounds that the claims read (`interleaved_timing`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from a3lab.attention.bench import plot, run_benchmark
from a3lab.attention.bench_config import BenchConfig, hf_installed, preset_config
from a3lab.attention.bench_methods import available, bench_inputs, build_method
from a3lab.errors import UserError
from a3lab.section import budget
from a3lab.timing import interleaved_rounds, intra_op_threads, log_log_slope, ratio_spread, spread
from a3lab.utils import progress, resolve_device

_CLAIM_TIMING = {"methods": ("full", "sliding-blocked", "linformer"), "sizes": (1024, 2048, 4096, 8192, 16384),
                 "full_max_n": 4096, "rounds": 5}  # fmt: skip
REPORT_TIMING = {"quick": _CLAIM_TIMING, "full": _CLAIM_TIMING}
"""The report's side-by-side timing: methods, lengths (full attention only up to full_max_n), rounds. The same in
both presets, so that the quick report measures exactly what the full one judges claims 5 and 7 on."""


def interleaved_timing(cfg: BenchConfig, methods: tuple[str, ...], sizes: tuple[int, ...], full_max_n: int,
                       rounds: int) -> dict:  # fmt: skip
    """Forward time of every (method, N) cell in interleaved rounds on one thread, in one process.

    Returns {"device", "threads", "rounds", "slope_sizes", "ms": {method: {str(N): spread}}, "slopes":
    {method: spread of the per-round log-log slopes}, "speedup_vs_full": [{"device", "n", "method", "ratio":
    spread of full's time over the method's, per round}]}.
    """
    cells = [(m, n) for n in sizes for m in methods if (m != "full" or n <= full_max_n) and not available(m, n, cfg)]
    calls = {}
    for method, n in progress(cells, desc="attention timing (set-up)"):
        fn, (q, k, v) = build_method(method, cfg, n), bench_inputs(cfg, n)
        calls[f"{method}@{n}"] = lambda fn=fn, q=q, k=k, v=v: fn(q, k, v)
    with torch.no_grad(), intra_op_threads(1):
        seconds = interleaved_rounds(calls, rounds, cfg.device, desc="attention timing")
    ms = {m: {str(n): spread([1e3 * t for t in seconds[f"{m}@{n}"]]) for mm, n in cells if mm == m} for m in methods}
    timed_sizes = sorted({n for _, n in cells})
    slopes = {}
    for m in methods:
        ns = [n for mm, n in cells if mm == m]
        per_round = [log_log_slope([(n, seconds[f"{m}@{n}"][r]) for n in ns]) for r in range(rounds)]
        if len(ns) >= 2:
            slopes[m] = spread([x for x in per_round if x is not None])
    speedups = [
        {"device": cfg.device, "n": n, "method": m, "ratio": ratio_spread(seconds[f"full@{n}"], seconds[f"{m}@{n}"])}
        for m in methods
        if m.startswith("sliding")
        for n in sizes
        if f"full@{n}" in seconds
    ]
    return {"device": cfg.device, "threads": 1, "rounds": rounds, "slope_sizes": timed_sizes, "ms": ms,
            "slopes": slopes, "speedup_vs_full": speedups}  # fmt: skip


def section_experiment(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict:
    """The benchmark for `a3lab report`: "quick" (N up to 4096, no FlexAttention) or "full" (N from 1k to 32k
    where it fits, FlexAttention included), then the claims' side-by-side timing (`interleaved_timing`,
    `REPORT_TIMING`).

    Returns a JSON-serialisable dict with exactly these keys:
        "images": file names of the PNG plots written into out_dir (log-log time and memory against N).
        "rows": [{"n", "method", "backend", "device", "forward_ms", "forward_backward_ms", "peak_mb"}], one per
            method and N; method is full, sliding, linformer or hf-longformer; None where not run.
        "slopes": {method label: log-log slope of forward time against N between 2k and 16k}; labels are
            full, sliding-blocked, sliding-matmul, sliding-flex, linformer, hf-longformer.
        "matmul_gflops": GFLOP/s of a 2048^2 float32 matmul in the same run (the machine's practical peak).
        "band_gflops": {band method label: useful band GFLOP/s, 4 N (2W + 1) D H / forward time, at its
            largest N}.
        "hf": {"installed": bool, "max_abs_diff": float | None}: HF LongformerSelfAttention against ours on
            the same weights (None when not installed).
        "speedup_vs_full": {str(N): full SDPA time / our best sliding-window time}.
        "speedup_vs_hf": {str(N): HF time / our best sliding-window time, or None without transformers}.
        "timing": `interleaved_timing`'s dict: what claims 5 and 7 read.
        "budget": {"work", "unit": "cells", "planned", "done", "images": None, "stopped"}: cells of the table
            skipped because a smaller N took over `max_call_s` count as not done.
    """
    if preset not in REPORT_TIMING:
        raise UserError(f"`preset` must be one of {', '.join(REPORT_TIMING)}, got {preset!r}")
    dev = str(resolve_device(device))
    cfg = preset_config(preset, device=dev, seed=seed)
    if not hf_installed():
        cfg = replace(cfg, methods=tuple(m for m in cfg.methods if m != "hf-longformer"))
    result = run_benchmark(cfg)
    timing = interleaved_timing(cfg, **REPORT_TIMING[preset])
    out_dir = Path(out_dir)
    images = plot(result, out_dir)
    timed = sum(1 for r in result["rows"] if r["forward_ms"] is not None)
    cut = sum(1 for r in result["rows"] if (r["note"] or "").startswith("skipped: a smaller N took over"))
    work = budget(
        f"{len(cfg.sizes)} lengths x {len(cfg.methods)} methods, then {timing['rounds']} interleaved rounds",
        "cells",
        planned=timed + cut,
        done=timed,
        stopped=f"the per-call time limit ({cfg.max_call_s:g} s)" if cut else None,
    )
    keys = ("n", "method", "backend", "forward_ms", "forward_backward_ms", "peak_mb")
    return {
        "images": images,
        "rows": [{**{k: r[k] for k in keys}, "device": dev} for r in result["rows"]],
        "slopes": result["slopes"],
        "matmul_gflops": result["matmul_gflops"],
        "band_gflops": result["band_gflops"],
        "hf": {"installed": result["hf"]["installed"], "max_abs_diff": result["hf"]["max_abs_diff"]},
        "speedup_vs_full": result["speedup_vs_full"],
        "speedup_vs_hf": result["speedup_vs_hf"],
        "timing": timing,
        "budget": work,
    }
