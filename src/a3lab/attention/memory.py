"""Peak memory of one forward call of each benchmark method.

On CPU: peak resident set size above the resident size just before the call (no grad), in a fresh
subprocess: VmHWM after resetting it through /proc/self/clear_refs, with MALLOC_MMAP_THRESHOLD_=65536 so
that freed tensors go back to the OS and cannot hide an allocation (tracemalloc does not see torch's CPU
allocations). On CUDA: `torch.cuda.max_memory_allocated` above the allocation before the call.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict

import torch

from a3lab.attention.bench_config import BenchConfig
from a3lab.attention.bench_methods import bench_inputs, build_method, small_n
from a3lab.config import from_dict

CPU_METHOD = "peak RSS (VmHWM reset by /proc/self/clear_refs) above RSS before the call, fresh subprocess"
CUDA_METHOD = "torch.cuda.max_memory_allocated above the allocation before the call"


def _status_mb(field_name: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def peak_rss_mb(fn: Callable[[], object]) -> float:
    """Peak RSS above the current RSS while fn runs (needs Linux /proc/self/clear_refs)."""
    gc.collect()
    before = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    out = fn()
    peak = _status_mb("VmHWM")
    del out
    return max(0.0, peak - before)


def memory_probe(config: dict, cells: list[tuple[str, int]]) -> dict[str, float]:
    """Run in a fresh process: peak extra MB of one forward call (no grad) per (method, n).

    Each cell gets a warm-up call first (compilation, caches), then the measured call.
    """
    cfg = from_dict(BenchConfig, config)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    small = small_n(cfg)
    with torch.no_grad():  # one-off library start-up (thread pools, kernels) before any measurement
        for method in dict.fromkeys(m for m, _ in cells):
            if method != "sliding-flex":
                build_method(method, cfg, small)(*bench_inputs(cfg, small))
    return {f"{method}@{n}": _probe_cell(method, n, cfg) for method, n in cells}


def _probe_cell(method: str, n: int, cfg: BenchConfig) -> float:
    """Peak extra MB of one forward call, after a warm-up call."""
    fn = build_method(method, cfg, n)
    q, k, v = bench_inputs(cfg, n)
    with torch.no_grad():
        if method == "sliding-flex":
            fn(q, k, v)  # compiles and builds the block mask
        if not cfg.device.startswith("cuda"):
            return peak_rss_mb(lambda: fn(q, k, v))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(q, k, v)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20


def measure_memory(cfg: BenchConfig, cells: list[tuple[str, int]], timeout_s: float = 1800) -> dict[str, float]:
    """`memory_probe` in a fresh subprocess (CPU) or in this process (CUDA)."""
    if not cells:
        return {}
    if cfg.device.startswith("cuda"):
        return memory_probe(asdict(cfg), cells)
    code = (
        "import json, sys; from a3lab.attention.memory import memory_probe; "
        "a = json.loads(sys.argv[1]); print(json.dumps(memory_probe(a['config'], [tuple(c) for c in a['cells']])))"
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    if cfg.threads is not None:
        env["OMP_NUM_THREADS"] = str(cfg.threads)
    arg = json.dumps({"config": asdict(cfg), "cells": cells})
    done = subprocess.run(
        [sys.executable, "-c", code, arg], capture_output=True, text=True, env=env, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
