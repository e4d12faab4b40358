"""Problem 3's cost: time, memory and throughput of full, sliding-window and Linformer attention.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window (HF `attention_window` = 2 W), K Linformer rank.

Papers: Beltagy et al. 2020 (Longformer, arXiv:2004.05150), Wang et al. 2020 (Linformer, arXiv:2006.04768).

Every method runs on the same q, k, v `[B, H, N, D]` in one process, so their ratios are fair on a loaded
machine. Hugging Face's `LongformerSelfAttention` (optional: `pip install 'a3lab[bench]'`) is timed on its
core: its q/k/v projections are replaced by copies of the same q, k, v (three `clone`s of `[N, B, H*D]`,
included in its time). Its output is checked against ours on the same weights.

Time: median of `repeats` calls after one warm-up call, by default in process CPU time (`clock="cpu"`: one
intra-op thread, so it is the compute time, not the wait for a core on a shared machine; `clock="wall"` for
elapsed time; CUDA always uses wall time after synchronising) (FlexAttention's first call, which builds the block
mask and compiles, is reported separately as `compile_s`). Forward+backward: one forward and
`torch.autograd.grad` of a fixed random output gradient.

Memory: peak resident set size above the resident size just before the forward call (no grad), in a fresh
subprocess: VmHWM after resetting it through /proc/self/clear_refs, with MALLOC_MMAP_THRESHOLD_=65536 so that
freed tensors go back to the OS and cannot hide an allocation. (tracemalloc does not see torch's CPU
allocations.) On CUDA: `torch.cuda.max_memory_allocated` above the allocation before the call.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from a3lab.attention import (
    flex_available,
    full_attention,
    linformer_attention,
    sliding_window_attention,
)
from a3lab.errors import UserError
from a3lab.utils import progress, save_figure

METHODS = ("full", "sliding-blocked", "sliding-matmul", "sliding-flex", "linformer", "hf-longformer")
"""What can be benchmarked: `<kind>` or `<kind>-<backend>`."""
SLIDING = ("sliding-blocked", "sliding-matmul", "sliding-flex")
BAND_METHODS = (*SLIDING, "hf-longformer")


@dataclass
class BenchConfig:
    """One benchmark run; errors name the CLI flags of `a3lab attention bench`."""

    sizes: tuple[int, ...] = (1024, 2048, 4096)
    """sequence lengths N"""
    methods: tuple[str, ...] = ("full", "sliding-blocked", "sliding-matmul", "linformer", "hf-longformer")
    """methods to time (see METHODS); hf-longformer is skipped with a note when transformers is missing"""
    batch: int = 1
    heads: int = 12
    head_dim: int = 64
    window: int = 128
    """one-sided window W (HF attention_window = 2 W = 256)"""
    linformer_k: int = 256
    repeats: int = 3
    """timed calls per cell (median), after one warm-up"""
    backward: bool = True
    """also time forward + backward"""
    memory: bool = True
    """measure peak memory (fresh subprocess on CPU)"""
    threads: int = 1
    """intra-op threads (0: torch's default)"""
    matmul_size: int = 2048
    """square sgemm size for the machine's GFLOP/s"""
    max_call_s: float = 60.0
    """skip a method's larger N once one call took longer than this"""
    device: str = "cpu"
    seed: int = 0
    hf_check_n: int = 1024
    """sequence length of the equal-output check against Hugging Face"""
    clock: str = "cpu"
    """cpu: process CPU time (robust on a shared machine), wall: elapsed time (always on CUDA)"""

    def __post_init__(self) -> None:
        self.sizes = tuple(sorted(set(self.sizes)))
        self.methods = tuple(self.methods)
        if not self.sizes or min(self.sizes) < 1:
            raise UserError(f"`sizes` must be positive integers, got {self.sizes}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise UserError(f"`methods`: unknown {', '.join(unknown)} (choose from {', '.join(METHODS)})")
        for name in ("batch", "heads", "head_dim", "window", "linformer_k", "repeats", "matmul_size", "hf_check_n"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"`{name}` must be an integer >= 1, got {value!r}")
        if self.clock not in ("cpu", "wall"):
            raise UserError(f"`clock` must be cpu or wall, got {self.clock!r}")
        if self.threads < 0:
            raise UserError(f"`threads` must be >= 0, got {self.threads}")
        if self.max_call_s <= 0:
            raise UserError(f"`max_call_s` must be > 0, got {self.max_call_s}")
        if "linformer" in self.methods and self.linformer_k > max(self.sizes):
            raise UserError(
                f"`linformer_k` must be <= the largest of `sizes` ({max(self.sizes)}), got {self.linformer_k}"
            )
        if "hf-longformer" in self.methods and any(n % (2 * self.window) for n in self.sizes):
            raise UserError(
                f"hf-longformer needs every `sizes` value to be a multiple of 2 * `window` = {2 * self.window}"
            )


PRESETS = {
    "quick": BenchConfig(methods=("full", "sliding-blocked", "linformer", "hf-longformer")),
    "full": BenchConfig(
        sizes=(1024, 2048, 4096, 8192, 16384, 32768),
        methods=METHODS,
        repeats=3,
        max_call_s=40.0,
    ),
}


def preset_config(preset: str, **overrides) -> BenchConfig:
    """The configuration of a named preset ("quick" or "full"), with fields overridden."""
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    return replace(PRESETS[preset], **overrides)


def hf_installed() -> bool:
    """Whether Hugging Face transformers is installed (looked up without the slow import)."""
    import importlib.util

    return importlib.util.find_spec("transformers") is not None


def label_backend(method: str) -> tuple[str, str]:
    """("sliding", "blocked") for "sliding-blocked"; the backend of the others."""
    if method.startswith("sliding-"):
        return "sliding", method.removeprefix("sliding-")
    return method, {"full": "sdpa", "linformer": "sdpa", "hf-longformer": "transformers"}[method]


# ----------------------------------------------------------------------------------------------------------------
# the methods, each a function of (q, k, v)


class _Preprojected(torch.nn.Module):
    """Stands in for one of HF's q/k/v projections: returns a copy of a tensor computed outside the timing."""

    def __init__(self) -> None:
        super().__init__()
        self.value: torch.Tensor | None = None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        assert self.value is not None
        return self.value.clone()  # HF divides the query in place


def hf_layer(heads: int, head_dim: int, window: int, seed: int = 0) -> torch.nn.Module:
    """HF `LongformerSelfAttention` with attention_window = 2 * window, no dropout, random weights."""
    from transformers import LongformerConfig
    from transformers.models.longformer.modeling_longformer import LongformerSelfAttention

    config = LongformerConfig(
        hidden_size=heads * head_dim,
        num_attention_heads=heads,
        attention_window=[2 * window],
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    return LongformerSelfAttention(config, layer_id=0).eval()


def _hf_call(layer: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    B, N, _ = hidden.shape
    mask = torch.zeros(B, N, device=hidden.device)  # 0 = local attention for every token
    out = layer(
        hidden, attention_mask=mask, is_index_masked=mask < 0, is_index_global_attn=mask > 0, is_global_attn=False
    )
    return out[0]  # (B, N, H * D)


def hf_max_abs_diff(cfg: BenchConfig, n: int, backends: tuple[str, ...] = ("blocked", "matmul")) -> float:
    """Largest |HF - ours| over our backends, same weights and input, no global tokens.

    Shapes: internally x `[1, n, H * D]`.
    """
    H, D, W = cfg.heads, cfg.head_dim, cfg.window
    layer = hf_layer(H, D, W, cfg.seed).to(cfg.device)
    x = torch.randn(1, n, H * D, generator=torch.Generator().manual_seed(cfg.seed)).to(cfg.device)
    with torch.no_grad():
        theirs = _hf_call(layer, x)
        q, k, v = (proj(x).view(1, n, H, D).transpose(1, 2) for proj in (layer.query, layer.key, layer.value))
        diff = 0.0
        for backend in backends:
            ours = sliding_window_attention(q, k, v, W, backend=backend).transpose(1, 2).reshape(1, n, H * D)
            diff = max(diff, (ours - theirs).abs().max().item())
    return diff


def build_method(
    method: str, cfg: BenchConfig, n: int
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """A function (q, k, v) -> output for one method at length n (projections and layers made here).

    Shapes: q, k, v `[B, H, n, D]` -> `[B, H, n, D]` (HF: `[B, n, H * D]`).
    """
    kind, backend = label_backend(method)
    W = cfg.window
    if kind == "full":
        return full_attention
    if kind == "sliding":
        return lambda q, k, v: sliding_window_attention(q, k, v, W, backend=backend)
    if kind == "linformer":
        g = torch.Generator().manual_seed(cfg.seed)
        E = (torch.randn(cfg.linformer_k, n, generator=g) / math.sqrt(cfg.linformer_k)).to(cfg.device)
        F_ = (torch.randn(cfg.linformer_k, n, generator=g) / math.sqrt(cfg.linformer_k)).to(cfg.device)
        return lambda q, k, v: linformer_attention(q, k, v, E, F_)
    layer = hf_layer(cfg.heads, cfg.head_dim, W, cfg.seed).to(cfg.device)
    layer.query, layer.key, layer.value = _Preprojected(), _Preprojected(), _Preprojected()
    B, H, D = cfg.batch, cfg.heads, cfg.head_dim
    hidden = torch.empty(B, n, H * D, device=cfg.device)  # only its shape is read

    def call(q, k, v):
        for proj, x in ((layer.query, q), (layer.key, k), (layer.value, v)):
            proj.value = x.permute(2, 0, 1, 3).reshape(n, B, H * D)  # HF's (N, B, H * D) layout
        return _hf_call(layer, hidden)

    return call


def available(method: str, n: int, cfg: BenchConfig) -> str | None:
    """Why a method cannot run at length n (None when it can)."""
    if method == "hf-longformer" and not hf_installed():
        return "not installed"
    if method == "sliding-flex" and not flex_available():
        return "no FlexAttention in this PyTorch"
    if method == "linformer" and cfg.linformer_k > n:
        return f"K = {cfg.linformer_k} > N"
    return None


# ----------------------------------------------------------------------------------------------------------------
# timing


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _inputs(cfg: BenchConfig, n: int, requires_grad: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(cfg.seed + n)
    shape = (cfg.batch, cfg.heads, n, cfg.head_dim)
    return [torch.randn(shape, generator=g).to(cfg.device).requires_grad_(requires_grad) for _ in range(3)]


def time_calls(
    fn: Callable[[], object], repeats: int, device: str = "cpu", clock: str = "cpu"
) -> tuple[float, list[float]]:
    """(first call, later calls) in milliseconds: one warm-up call, then `repeats` timed ones.

    clock "cpu" is this process's CPU time (`time.process_time`): on a shared machine it counts the work, not
    the waits for a core (with one intra-op thread it equals the wall time of an idle machine). "wall" is
    `time.perf_counter`, and always used on CUDA.
    """
    now = time.perf_counter if clock == "wall" or device.startswith("cuda") else time.process_time
    times = []
    for _ in range(repeats + 1):
        _sync(device)
        start = now()
        fn()
        _sync(device)
        times.append(1e3 * (now() - start))
    return times[0], times[1:]


def matmul_gflops(size: int = 2048, repeats: int = 5, device: str = "cpu", clock: str = "cpu") -> float:
    """Achieved GFLOP/s of a square float32 `torch.matmul` (2 size^3 FLOPs): the machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    _, times = time_calls(lambda: a @ b, repeats, device, clock)
    return 2 * size**3 / (min(times) / 1e3) / 1e9


def band_flops(n: int, cfg: BenchConfig) -> float:
    """Useful FLOPs of the band: q k^T and p v over 2W + 1 keys per query, 4 N (2W + 1) D H B."""
    return 4.0 * n * (2 * cfg.window + 1) * cfg.head_dim * cfg.heads * cfg.batch


def fit_slope(points: list[tuple[int, float]], lo: int = 2048, hi: int = 16384) -> float | None:
    """Slope of log(time) against log(N) by least squares over lo <= N <= hi (all points if fewer than 2)."""
    inside = [(n, t) for n, t in points if lo <= n <= hi and t > 0]
    use = inside if len(inside) >= 2 else [(n, t) for n, t in points if t > 0]
    if len(use) < 2:
        return None
    xs = [math.log(n) for n, _ in use]
    ys = [math.log(t) for _, t in use]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


# ----------------------------------------------------------------------------------------------------------------
# memory


def _status_mb(field_name: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _peak_rss_mb(fn: Callable[[], object]) -> float:
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
    cfg = BenchConfig(**{**config, "sizes": tuple(config["sizes"]), "methods": tuple(config["methods"])})
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    small = _small_n(cfg)
    with torch.no_grad():  # one-off library start-up (thread pools, kernels) before any measurement
        for method in dict.fromkeys(m for m, _ in cells):
            if method != "sliding-flex":
                build_method(method, cfg, small)(*_inputs(cfg, small))
    result = {f"{method}@{n}": _probe_cell(method, n, cfg) for method, n in cells}
    return result


def _probe_cell(method: str, n: int, cfg: BenchConfig) -> float:
    """Peak extra MB of one forward call, after a warm-up call."""
    fn = build_method(method, cfg, n)
    q, k, v = _inputs(cfg, n)
    with torch.no_grad():
        if method == "sliding-flex":
            fn(q, k, v)  # compiles and builds the block mask
        if not cfg.device.startswith("cuda"):
            return _peak_rss_mb(lambda: fn(q, k, v))
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
        "import json, sys; from a3lab.attention.bench import memory_probe; "
        "a = json.loads(sys.argv[1]); print(json.dumps(memory_probe(a['config'], [tuple(c) for c in a['cells']])))"
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    if cfg.threads:
        env["OMP_NUM_THREADS"] = str(cfg.threads)
    arg = json.dumps({"config": asdict(cfg), "cells": cells})
    done = subprocess.run(
        [sys.executable, "-c", code, arg], capture_output=True, text=True, env=env, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------------------
# the benchmark


@dataclass
class Cell:
    method: str
    n: int
    forward_ms: float | None = None
    forward_backward_ms: float | None = None
    peak_mb: float | None = None
    first_call_ms: float | None = None
    note: str | None = None


def run_benchmark(cfg: BenchConfig) -> dict:
    """Time (and measure) every method at every length; returns a JSON-serialisable result.

    Keys: "config", "rows" (one per method and N: n, method, backend, forward_ms, forward_backward_ms,
    peak_mb, note), "skipped" ({method: reason}), "slopes", "matmul_gflops", "band_gflops", "hf",
    "speedup_vs_full", "speedup_vs_hf", "speedup_vs_flex", "best_sliding", "compile_s", "threads",
    "memory_method".
    """
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: BenchConfig) -> dict:
    torch.manual_seed(cfg.seed)
    skipped: dict[str, str] = {}
    cells: dict[tuple[str, int], Cell] = {}
    methods = []
    for method in cfg.methods:
        reason = available(method, max(cfg.sizes), cfg) if method != "linformer" else available(method, 10**9, cfg)
        if reason in ("not installed", "no FlexAttention in this PyTorch"):
            skipped[method] = reason
        else:
            methods.append(method)
    _warm_up(cfg, methods)
    too_slow: set[str] = set()
    bar = progress(total=len(methods) * len(cfg.sizes), desc="attention bench")
    for n in cfg.sizes:
        for method in methods:
            bar.update(1)
            cell = cells[(method, n)] = Cell(method, n)
            reason = available(method, n, cfg)
            if reason or method in too_slow:
                cell.note = reason or f"skipped: a smaller N took over {cfg.max_call_s:g} s"
                continue
            _time_cell(cell, cfg)
            if max(cell.forward_ms or 0, cell.forward_backward_ms or 0) > 1e3 * cfg.max_call_s:
                too_slow.add(method)
            gc.collect()
    bar.close()

    memory_method = "not measured"
    if cfg.memory:
        timed = [(c.method, c.n) for c in cells.values() if c.forward_ms is not None]
        try:
            peaks = measure_memory(cfg, timed)
            for (method, n), cell in cells.items():
                cell.peak_mb = peaks.get(f"{method}@{n}")
            memory_method = (
                "torch.cuda.max_memory_allocated above the allocation before the call"
                if cfg.device.startswith("cuda")
                else "peak RSS (VmHWM reset by /proc/self/clear_refs) above RSS before the call, fresh subprocess"
            )
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            memory_method = f"failed: {e}"
    return _summarise(cfg, cells, skipped, methods, memory_method)


def _small_n(cfg: BenchConfig) -> int:
    """The smallest multiple of 2W that is at least K: every method runs there."""
    step = 2 * cfg.window
    return step * -(-max(cfg.linformer_k, step) // step)


def _warm_up(cfg: BenchConfig, methods: list[str]) -> None:
    """One forward and backward of each method at a small N: one-off start-up costs (thread pools, autograd
    engine, kernel selection) stay out of the first timed cell."""
    n = _small_n(cfg)
    for method in methods:
        if method == "sliding-flex":
            continue  # compiles per shape; its first call is reported as compile_s instead
        fn = build_method(method, cfg, n)
        q, k, v = _inputs(cfg, n, requires_grad=True)
        torch.autograd.grad(fn(q, k, v).sum(), (q, k, v))


def _time_cell(cell: Cell, cfg: BenchConfig) -> None:
    """Fill in one cell's forward and forward+backward times."""
    fn = build_method(cell.method, cfg, cell.n)
    q, k, v = _inputs(cfg, cell.n)
    with torch.no_grad():
        first, times = time_calls(lambda: fn(q, k, v), cfg.repeats, cfg.device, cfg.clock)
    cell.first_call_ms, cell.forward_ms = first, statistics.median(times)
    if not cfg.backward:
        return
    if cell.method == "sliding-flex" and not cfg.device.startswith("cuda"):
        cell.note = "no backward on CPU"
        return
    qg, kg, vg = (x.detach().requires_grad_() for x in (q, k, v))
    grad = torch.randn_like(fn(q, k, v))

    def step():
        return torch.autograd.grad(fn(qg, kg, vg), (qg, kg, vg), grad)

    _, times = time_calls(step, max(1, cfg.repeats // 2), cfg.device, cfg.clock)  # after a warm-up call
    cell.forward_backward_ms = statistics.median(times)


def _summarise(cfg: BenchConfig, cells: dict, skipped: dict, methods: list[str], memory_method: str) -> dict:
    rows = []
    for (method, n), c in sorted(cells.items(), key=lambda kv: (kv[0][1], cfg.methods.index(kv[0][0]))):
        kind, backend = label_backend(method)
        rows.append({"device": cfg.device, "clock": cfg.clock, "n": n, "method": kind, "backend": backend,
                     "forward_ms": c.forward_ms, "forward_backward_ms": c.forward_backward_ms, "peak_mb": c.peak_mb,
                     "note": c.note})  # fmt: skip

    def ms(method: str, n: int, key: str = "forward_ms") -> float | None:
        c = cells.get((method, n))
        return getattr(c, key) if c else None

    slopes = {}
    for method in methods:
        slope = fit_slope([(n, ms(method, n)) for n in cfg.sizes if ms(method, n)])
        if slope is not None:
            slopes[method] = round(slope, 3)
    gflops = matmul_gflops(cfg.matmul_size, device=cfg.device, clock=cfg.clock)
    best_by_n = {}
    for n in cfg.sizes:
        timed = [(ms(m, n), m) for m in SLIDING if m in methods and ms(m, n)]
        if timed:
            best_by_n[n] = min(timed)
    return {
        "config": asdict(cfg),
        "device": cfg.device,
        "rows": rows,
        "skipped": skipped,
        "slopes": slopes,
        "matmul_gflops": round(gflops, 2),
        "band_gflops": _band_gflops(cfg, methods, ms, "forward_ms", 1),
        "band_gflops_forward_backward": _band_gflops(cfg, methods, ms, "forward_backward_ms", FORWARD_BACKWARD_FLOPS),
        "hf": _hf_check(cfg),
        **_speedups(best_by_n, ms),
        "forward_backward_vs_hf": _forward_backward_vs_hf(cfg, ms),
        "best_sliding": {str(n): m for n, (_, m) in best_by_n.items()},
        "compile_s": _compile_seconds(cells),
        "threads": torch.get_num_threads(),
        "memory_method": memory_method,
    }


FORWARD_BACKWARD_FLOPS = 3
"""Forward + backward FLOPs over the forward's: the backward's four matmuls (dV, dP, dQ, dK) are twice the
forward's two (q k^T, p v); a recomputation of the scores is not counted as useful work."""


def _band_gflops(cfg: BenchConfig, methods: list[str], ms: Callable, key: str, factor: int) -> dict[str, float]:
    """{band method: useful GFLOP/s at its largest timed N}, `factor` times the forward's FLOPs."""
    result = {}
    for method in (m for m in methods if m in BAND_METHODS):
        timed = [n for n in cfg.sizes if ms(method, n, key)]
        if timed:
            n = max(timed)
            result[method] = round(factor * band_flops(n, cfg) / (ms(method, n, key) / 1e3) / 1e9, 2)
    return result


def _speedups(best_by_n: dict, ms: Callable) -> dict[str, dict]:
    """Forward time of full SDPA, HF and FlexAttention over our best sliding window's, per N."""
    speedups: dict[str, dict] = {"speedup_vs_full": {}, "speedup_vs_hf": {}, "speedup_vs_flex": {}}
    for n, (t, _) in best_by_n.items():
        full, hf, flex = ms("full", n), ms("hf-longformer", n), ms("sliding-flex", n)
        if full:
            speedups["speedup_vs_full"][str(n)] = round(full / t, 2)
        speedups["speedup_vs_hf"][str(n)] = round(hf / t, 2) if hf else None
        if flex:
            speedups["speedup_vs_flex"][str(n)] = round(flex / t, 2)
    return speedups


def _forward_backward_vs_hf(cfg: BenchConfig, ms: Callable) -> dict[str, float]:
    """HF's forward + backward time over our faster band's (blocked or matmul), per N where both ran."""
    result = {}
    for n in cfg.sizes:
        ours = [t for m in ("sliding-blocked", "sliding-matmul") if (t := ms(m, n, "forward_backward_ms"))]
        theirs = ms("hf-longformer", n, "forward_backward_ms")
        if ours and theirs:
            result[str(n)] = round(theirs / min(ours), 2)
    return result


def _compile_seconds(cells: dict) -> dict[str, float]:
    """FlexAttention's first call per N (block mask and compilation), seconds."""
    return {
        str(n): round(c.first_call_ms / 1e3, 2)
        for (method, n), c in cells.items()
        if method == "sliding-flex" and c.first_call_ms is not None
    }


def _hf_check(cfg: BenchConfig) -> dict:
    hf = {"installed": hf_installed(), "max_abs_diff": None}
    if hf["installed"] and "hf-longformer" in cfg.methods:
        n = cfg.hf_check_n - cfg.hf_check_n % (2 * cfg.window) or 2 * cfg.window
        hf["max_abs_diff"] = hf_max_abs_diff(cfg, n)
        hf["check_n"] = n
    return hf


# ----------------------------------------------------------------------------------------------------------------
# output


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table, then slopes, throughput, HF check and speed-ups."""
    cfg = result["config"]
    lines = [
        f"B={cfg['batch']} H={cfg['heads']} D={cfg['head_dim']} window={cfg['window']} one-sided "
        f"(HF attention_window={2 * cfg['window']}), Linformer K={cfg['linformer_k']}, fp32, "
        f"{result['threads']} thread(s), {cfg['device']}, median of {cfg['repeats']} ({cfg['clock']} clock)",
        f"{'N':>6}  {'method':<14} {'backend':<13} {'forward ms':>11} {'fwd+bwd ms':>11} {'peak MB':>9}  note",
    ]

    def num(x: float | None, fmt: str) -> str:
        width = int(fmt.split(".")[0])
        return f"{'-':>{width}}" if x is None else format(x, fmt)

    for r in result["rows"]:
        lines.append(
            f"{r['n']:>6}  {r['method']:<14} {r['backend']:<13} {num(r['forward_ms'], '11.1f')} "
            f"{num(r['forward_backward_ms'], '11.1f')} {num(r['peak_mb'], '9.1f')}  {r['note'] or ''}"
        )
    for method, reason in result["skipped"].items():
        lines.append(f"{'':>6}  {method}: {reason}")
    lines.append("")
    lines += _summary_lines(result)
    return "\n".join(lines)


def _summary_lines(result: dict) -> list[str]:
    """Slopes, GFLOP/s, the HF check, speed-ups and memory method under the table."""
    cfg = result["config"]
    lines = []
    lines.append(
        "log-log slope of forward time against N (2k..16k): "
        + ", ".join(f"{m} {s:.2f}" for m, s in result["slopes"].items())
    )
    lines.append(
        f"matmul {cfg['matmul_size']}^2: {result['matmul_gflops']:.1f} GFLOP/s; band at the largest N: "
        + ", ".join(
            f"{m} {g:.1f} GFLOP/s ({100 * g / result['matmul_gflops']:.0f}%)" for m, g in result["band_gflops"].items()
        )
    )
    if result.get("band_gflops_forward_backward"):
        lines.append(
            f"forward+backward ({FORWARD_BACKWARD_FLOPS}x the forward's FLOPs), band at the largest N: "
            + ", ".join(
                f"{m} {g:.1f} GFLOP/s ({100 * g / result['matmul_gflops']:.0f}%)"
                for m, g in result["band_gflops_forward_backward"].items()
            )
        )
    if result.get("forward_backward_vs_hf"):
        lines.append(
            "best band forward+backward speedup vs hf: "
            + ", ".join(f"N={n}: {s:.2f}x" for n, s in result["forward_backward_vs_hf"].items())
        )
    hf = result["hf"]
    if not hf["installed"]:
        lines.append("HF transformers: not installed (pip install 'a3lab[bench]')")
    elif hf["max_abs_diff"] is not None:
        lines.append(
            f"HF LongformerSelfAttention vs ours, same weights, N={hf['check_n']}: "
            f"max |diff| = {hf['max_abs_diff']:.2e}"
        )
    for name in ("speedup_vs_full", "speedup_vs_hf", "speedup_vs_flex"):
        if result[name]:
            lines.append(
                f"best sliding {name.replace('_', ' ')}: "
                + ", ".join(f"N={n}: {'-' if s is None else f'{s:.2f}x'}" for n, s in result[name].items())
            )
    if result["compile_s"]:
        lines.append(
            "flex first call (block mask + compile), s: "
            + ", ".join(f"N={n}: {s:.1f}" for n, s in result["compile_s"].items())
        )
    lines.append(f"memory: {result['memory_method']}")
    return lines


def plot(result: dict, out_dir: Path) -> list[str]:
    """Log-log plots of forward time and peak memory against N; returns the PNG file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for key, ylabel, filename in (
        ("forward_ms", "forward time (ms)", "attention_time.png"),
        ("peak_mb", "peak extra memory (MB)", "attention_memory.png"),
    ):
        fig, ax = plt.subplots(figsize=(6, 4.2))
        series: dict[str, list[tuple[int, float]]] = {}
        for r in result["rows"]:
            if r[key]:
                label = r["method"] if r["method"] != "sliding" else f"sliding ({r['backend']})"
                series.setdefault(label, []).append((r["n"], r[key]))
        if not series:
            plt.close(fig)
            continue
        for label, points in series.items():
            ax.plot(*zip(*points), marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_ylabel(ylabel)
        cfg = result["config"]
        ax.set_title(
            f"B={cfg['batch']} H={cfg['heads']} D={cfg['head_dim']} W={cfg['window']}, {cfg['device']}, "
            f"{result['threads']} thread(s), {cfg['clock']} clock"
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, out_dir / filename)
        names.append(filename)
    return names


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
    from a3lab.timing import interleaved_rounds, intra_op_threads, log_log_slope, ratio_spread, spread

    cells = [(m, n) for n in sizes for m in methods if (m != "full" or n <= full_max_n) and not available(m, n, cfg)]
    calls = {}
    for method, n in progress(cells, desc="attention timing (set-up)"):
        fn, (q, k, v) = build_method(method, cfg, n), _inputs(cfg, n)
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


def report_experiment(preset: str, out_dir: Path, device: str = "cpu", seed: int = 0) -> dict:
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
    from a3lab.utils import resolve_device

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
    budget = {
        "work": f"{len(cfg.sizes)} lengths x {len(cfg.methods)} methods, then {timing['rounds']} interleaved rounds",
        "unit": "cells",
        "planned": timed + cut,
        "done": timed,
        "images": None,
        "stopped": f"the per-call time limit ({cfg.max_call_s:g} s)" if cut else None,
    }
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
        "budget": budget,
    }
