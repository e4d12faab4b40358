"""Problem 3's cost on CPU: time, memory and throughput of full, sliding-window and Linformer attention.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window (HF `attention_window` = 2 W), K Linformer rank.

Papers: Beltagy et al. 2020 (Longformer, arXiv:2004.05150), Wang et al. 2020 (Linformer, arXiv:2006.04768).

Every method (`bench_methods`) runs on the same q, k, v `[B, H, N, D]` in one process, so their ratios are
fair on a loaded machine; Hugging Face's layer is timed on its core (`hf_bench`), and its output is checked
against ours on the same weights.

Time: median of `repeats` calls after one warm-up call (`a3lab.timing.time_calls`), by default in process CPU
time (`clock="cpu"`, one intra-op thread: the compute time, not the wait for a core on a shared machine;
`clock="wall"` for elapsed time; CUDA always uses wall time after synchronising). FlexAttention's first call,
which builds the block mask and compiles, is reported separately as `compile_s`. Forward+backward: one forward
and `torch.autograd.grad` of a fixed random output gradient. Memory: see `memory`.
"""

from __future__ import annotations

import gc
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from a3lab.attention.bench_config import BAND_METHODS, SLIDING, BenchConfig, hf_installed, label_backend
from a3lab.attention.bench_methods import (
    FORWARD_BACKWARD_FLOPS,
    available,
    band_flops,
    bench_inputs,
    build_method,
    matmul_gflops,
    small_n,
)
from a3lab.attention.hf_bench import hf_max_abs_diff
from a3lab.attention.memory import CPU_METHOD, CUDA_METHOD, measure_memory
from a3lab.timing import intra_op_threads, log_log_slope, time_calls
from a3lab.utils import progress, save_figure

SLOPE_RANGE = (2048, 16384)
"""N over which the log-log slope of forward time is fitted (all timed N when fewer than two are inside)"""


def fit_slope(points: list[tuple[int, float]], low: float = SLOPE_RANGE[0], high: float = SLOPE_RANGE[1]):
    """`log_log_slope` over low <= N <= high, or over every point when fewer than two lie there."""
    slope = log_log_slope(points, low=low, high=high)
    return log_log_slope(points) if slope is None else slope


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
    if cfg.threads is None:
        return _run(cfg)
    with intra_op_threads(cfg.threads):
        return _run(cfg)


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
            memory_method = CUDA_METHOD if cfg.device.startswith("cuda") else CPU_METHOD
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            memory_method = f"failed: {e}"
    return _summarise(cfg, cells, skipped, methods, memory_method)


def _warm_up(cfg: BenchConfig, methods: list[str]) -> None:
    """One forward and backward of each method at a small N: one-off start-up costs (thread pools, autograd
    engine, kernel selection) stay out of the first timed cell."""
    n = small_n(cfg)
    for method in methods:
        if method == "sliding-flex":
            continue  # compiles per shape; its first call is reported as compile_s instead
        fn = build_method(method, cfg, n)
        q, k, v = bench_inputs(cfg, n, requires_grad=True)
        torch.autograd.grad(fn(q, k, v).sum(), (q, k, v))


def _time_cell(cell: Cell, cfg: BenchConfig) -> None:
    """Fill in one cell's forward and forward+backward times."""
    fn = build_method(cell.method, cfg, cell.n)
    q, k, v = bench_inputs(cfg, cell.n)
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
