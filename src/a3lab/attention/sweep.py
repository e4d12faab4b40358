"""The device benchmark: forward and forward + backward of every attention, per dtype, window and length.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, K Linformer rank.

Papers: Beltagy et al. 2020 (Longformer), Wang et al. 2020 (Linformer), Dao 2023 (FlashAttention-2, whose
`window_size` is the reference band kernel on CUDA).

Built for CUDA (`a3lab attention bench --device cuda`, `benchmarks/attention_cuda.py`) and runnable on CPU with
small sizes. For each (window, dtype, pass, N) group every method is built, warmed up, then timed in
interleaved rounds (method a, b, c, then a, b, c again), so that clock changes and other work hit all
methods alike; a cell is the median and spread of its rounds, and each ratio is taken round by round.
On CUDA a call is timed with CUDA events and its peak memory is `torch.cuda.max_memory_allocated` above the
allocation before the call; on CPU with `time.perf_counter` and no memory. Full attention stops at the first
N where it runs out of memory or a call takes longer than `full_limit_s`. Every row names its device.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from a3lab.attention.bench_config import SweepConfig
from a3lab.attention.flex import flex_available
from a3lab.attention.functional import full_attention, linformer_attention, sliding_window_attention
from a3lab.timing import cuda_call, log_log_slope, spread, time_calls

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def device_name(device: torch.device) -> str:
    """ "cuda:0 (NVIDIA H200)" or "cpu": what every timing records as its device."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


def sdpa_backend(q: torch.Tensor, mask: torch.Tensor | None = None) -> str:
    """The fused kernel `scaled_dot_product_attention` picks for these inputs (FLASH_ATTENTION, ...)."""
    try:
        from torch.nn.attention import SDPBackend

        choice = int(torch._fused_sdp_choice(q, q, q, mask))
        return next(n for n in dir(SDPBackend) if n.isupper() and int(getattr(SDPBackend, n)) == choice)
    except (AttributeError, RuntimeError, StopIteration, ImportError) as e:
        return f"unknown ({type(e).__name__})"


def flash_attn_available() -> bool:
    """Whether the `flash_attn` package (Dao's kernels, CUDA only) is importable."""
    return importlib.util.find_spec("flash_attn") is not None


# ----------------------------------------------------------------------------------------------------------------
# the methods


def unavailable(
    method: str, n: int, window: int, dtype: str, cfg: SweepConfig, device: torch.device, backward: bool = False
) -> str | None:
    """Why a method cannot run in this cell (None when it can)."""
    if method == "sliding-flex" and not flex_available():
        return "no FlexAttention in this PyTorch"
    if method == "sliding-flex" and backward and device.type == "cpu":
        return "FlexAttention has no CPU backward in this PyTorch"
    if method == "flash-window":
        if device.type != "cuda" or not flash_attn_available():
            return "flash_attn not installed" if device.type == "cuda" else "flash_attn is CUDA only"
        if dtype == "float32":
            return "flash_attn has no float32"
    if method == "linformer" and cfg.linformer_k > n:
        return f"K = {cfg.linformer_k} > N"
    return None


def build(method: str, n: int, window: int, cfg: SweepConfig, device: torch.device, dtype: torch.dtype) -> Callable:
    """A function (q, k, v) -> output `[B, H, n, D]` for one method."""
    if method == "full":
        return full_attention
    if method.startswith("sliding-"):
        backend = method.removeprefix("sliding-")
        return lambda q, k, v: sliding_window_attention(q, k, v, window, backend=backend)
    if method == "linformer":
        g = torch.Generator().manual_seed(cfg.seed)
        E, F_ = (torch.randn(cfg.linformer_k, n, generator=g).div_(math.sqrt(cfg.linformer_k)) for _ in range(2))
        E, F_ = E.to(device, dtype), F_.to(device, dtype)
        return lambda q, k, v: linformer_attention(q, k, v, E, F_)
    from flash_attn import flash_attn_func

    def flash(q, k, v):  # flash_attn's layout is [B, N, H, D]
        out = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), window_size=(window, window))
        return out.transpose(1, 2)

    return flash


def reference(method: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, fn: Callable):
    """The float64 dense result the method should equal: all keys (full), the band, or Linformer's formula.

    Shapes: q, k, v `[B, H, N, D]` (any float dtype) -> float64 `[B, H, N, D]`.
    """
    q, k, v = (t.double() for t in (q, k, v))
    if method == "linformer":
        return fn(q, k, v)  # its projections are cast to q's dtype: the formula in float64
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, N, N)
    if method != "full":
        offset = torch.arange(q.shape[2], device=q.device)
        scores = scores.masked_fill((offset[:, None] - offset[None, :]).abs() > window, -math.inf)
    return torch.softmax(scores, dim=-1) @ v


# ----------------------------------------------------------------------------------------------------------------
# timing


def _timed(call: Callable[[], object], device: torch.device) -> tuple[float, float | None]:
    """(seconds, peak MB above the allocation before the call, or None on CPU) of one call."""
    if device.type == "cuda":
        return cuda_call(call, device)
    first_ms, _ = time_calls(call, 0, "cpu", "wall")  # one call, no warm-up: the rounds warm up first
    return first_ms / 1e3, None


def _make_call(fn: Callable, qkv: list[torch.Tensor], backward: bool) -> Callable[[], object]:
    if not backward:

        def forward():
            with torch.no_grad():
                return fn(*qkv)

        return forward
    leaves = [t.detach().requires_grad_() for t in qkv]
    grad = torch.randn_like(qkv[0])

    def step():
        return torch.autograd.grad(fn(*leaves), leaves, grad)

    return step


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


# ----------------------------------------------------------------------------------------------------------------
# the sweep


def _inputs(cfg: SweepConfig, n: int, device: torch.device, dtype: torch.dtype) -> list[torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(cfg.seed + n)
    shape = (cfg.batch, cfg.heads, n, cfg.head_dim)
    return [torch.randn(shape, generator=g, device=device, dtype=torch.float32).to(dtype) for _ in range(3)]


def _warm(call: Callable[[], object], cfg: SweepConfig, device: torch.device) -> tuple[float | None, str | None]:
    """Untimed calls before the rounds: (first call's seconds, None) or (None, why it cannot run)."""
    first = None
    try:
        for i in range(max(1, cfg.warmup)):
            seconds, _ = _timed(call, device)
            first = seconds if i == 0 else first
    except (RuntimeError, ValueError, NotImplementedError) as e:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return None, "out of memory" if _is_oom(e) else f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return first, None


def run_group(cfg: SweepConfig, device: torch.device, n: int, window: int, dtype: str, pass_: str,
              stopped: set[str]) -> list[dict]:  # fmt: skip
    """Every method at one (N, W, dtype, pass), timed in interleaved rounds; one row per method."""
    qkv = _inputs(cfg, n, device, DTYPES[dtype])
    base = {"device": device_name(device), "n": n, "window": window, "dtype": dtype, "pass": pass_}
    rows, calls = {}, {}
    for method in cfg.methods:
        note = unavailable(method, n, window, dtype, cfg, device, pass_ != "forward")
        row = rows[method] = {**base, "method": method, "seconds": None, "peak_mb": None, "first_call_s": None,
                              "note": note}  # fmt: skip
        if method == "full":
            row["backend"] = sdpa_backend(qkv[0])
        if row["note"] or method in stopped:
            row["note"] = row["note"] or f"stopped: out of memory or over {cfg.full_limit_s:g} s at a smaller N"
            continue
        call = _make_call(build(method, n, window, cfg, device, DTYPES[dtype]), qkv, pass_ != "forward")
        row["first_call_s"], row["note"] = _warm(call, cfg, device)
        if row["note"] is None and row["first_call_s"] > cfg.full_limit_s and method == "full":
            row["note"] = f"over {cfg.full_limit_s:g} s"
        if row["note"] is None:
            calls[method] = call
    times: dict[str, list[float]] = {m: [] for m in calls}
    peaks: dict[str, list[float]] = {m: [] for m in calls}
    for _ in range(cfg.rounds):
        for method, call in list(calls.items()):
            try:
                seconds, mb = _timed(call, device)
            except RuntimeError as e:
                rows[method]["note"] = "out of memory" if _is_oom(e) else f"failed: {type(e).__name__}"
                del calls[method]
                continue
            times[method].append(seconds)
            peaks[method].extend([mb] if mb is not None else [])
    for method in calls:
        rows[method]["seconds"] = spread(times[method])
        rows[method]["peak_mb"] = max(peaks[method]) if peaks[method] else None
        rows[method]["ratios"] = _round_ratios(times, method)
    full = rows.get("full")
    if full and (full["note"] or (full["seconds"] and full["seconds"]["median"] > cfg.full_limit_s)):
        stopped.add("full")
    return list(rows.values())


def _round_ratios(times: dict[str, list[float]], method: str) -> dict:
    """{"vs_full", "vs_sliding-flex", "vs_flash-window"}: that method's time over this one's, round by round."""
    ratios = {}
    for other in ("full", "sliding-flex", "flash-window"):
        if other != method and len(times.get(other, [])) == len(times[method]) and times[method]:
            ratios[f"vs_{other}"] = spread([a / b for a, b in zip(times[other], times[method])])
    return ratios


def exactness(cfg: SweepConfig, device: torch.device) -> list[dict]:
    """Max |output - float64 dense reference| of every method, dtype and window at each N <= exact_max_n."""
    rows = []
    for n in (n for n in cfg.sizes if n <= cfg.exact_max_n):
        for window in cfg.windows:
            for dtype in cfg.dtypes:
                qkv = _inputs(cfg, n, device, DTYPES[dtype])
                for method in cfg.methods:
                    row = {"device": device_name(device), "n": n, "window": window, "dtype": dtype, "method": method,
                           "max_abs_err": None, "note": unavailable(method, n, window, dtype, cfg, device)}  # fmt: skip
                    rows.append(row)
                    if row["note"]:
                        continue
                    fn = build(method, n, window, cfg, device, DTYPES[dtype])
                    with torch.no_grad():
                        try:
                            err = (fn(*qkv).double() - reference(method, *qkv, window, fn)).abs().max()
                            row["max_abs_err"] = err.item()
                        except (RuntimeError, ValueError) as e:
                            row["note"] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return rows


def _allow_recompiles(limit: int = 256) -> None:
    """Compiled FlexAttention specialises per shape and dtype; past dynamo's recompile limit (8) it would fall
    back to the eager kernel, which forms the N x N scores. Raised for this process."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), limit))


def run_sweep(cfg: SweepConfig, on_group: Callable[[dict], None] | None = None, budget_s: float = 0.0) -> dict:
    """The whole sweep; `on_group(result)` after every group (to save partial results), and no new group
    starts after `budget_s` seconds (0 = no limit)."""
    device = torch.device(cfg.device)
    start = time.perf_counter()
    _allow_recompiles()
    result = {"config": asdict(cfg), "device": device_name(device), "torch": torch.__version__,
              "timer": "CUDA events" if device.type == "cuda" else "time.perf_counter (wall)",
              "memory": "torch.cuda.max_memory_allocated above the allocation before the call"
              if device.type == "cuda" else "not measured on CPU",
              "flash_attn": flash_attn_available(), "rows": [], "exactness": [], "unfinished": None,
              "tf32_matmul": device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32}  # fmt: skip
    result["exactness"] = exactness(cfg, device)
    groups = [(w, d, p, n) for w in cfg.windows for d in cfg.dtypes for p in cfg.passes for n in cfg.sizes]
    stopped: dict[tuple, set[str]] = {}
    for i, (window, dtype, pass_, n) in enumerate(groups):
        if budget_s and time.perf_counter() - start > budget_s:
            result["unfinished"] = f"budget of {budget_s:g} s spent: {len(groups) - i} groups not run"
            break
        result["rows"] += run_group(
            cfg, device, n, window, dtype, pass_, stopped.setdefault((window, dtype, pass_), set())
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if on_group:
            on_group(result)
    result["elapsed_s"] = time.perf_counter() - start
    result["summary"] = summarise(result)
    return result


# ----------------------------------------------------------------------------------------------------------------
# summary and output

BANDS = ("sliding-blocked", "sliding-matmul")
SLOPE_FROM = 16384
"""Slopes are fitted from this N up (where the sweep has at least two such lengths)."""


def summarise(result: dict) -> dict:
    """Per (window, dtype, pass, N): our faster band and its same-round speed-ups over full SDPA and over
    FlexAttention (> 1: ours faster); and the bfloat16 errors of the bands and FlexAttention."""
    best = []
    for row in result["rows"]:
        if row["method"] not in BANDS or not row["seconds"]:
            continue
        key = (row["window"], row["dtype"], row["pass"], row["n"])
        rivals = [r for r in result["rows"] if r["method"] in BANDS and r["seconds"]
                  and (r["window"], r["dtype"], r["pass"], r["n"]) == key]  # fmt: skip
        if row is min(rivals, key=lambda r: r["seconds"]["median"]):
            ratios = row.get("ratios", {})
            best.append({"device": row["device"], "window": key[0], "dtype": key[1], "pass": key[2], "n": key[3],
                         "band": row["method"], "seconds": row["seconds"]["median"],
                         "vs_full": ratios.get("vs_full", {}).get("median"),
                         "vs_flex": ratios.get("vs_sliding-flex", {}).get("median")})  # fmt: skip
    errors: dict[str, dict[str, float]] = {}
    for row in result["exactness"]:
        if row["max_abs_err"] is not None:
            errors.setdefault(f"{row['dtype']} W={row['window']} N={row['n']}", {})[row["method"]] = row["max_abs_err"]
    return {"best_band": best, "max_abs_err": errors, "slopes": slopes(result["rows"])}


def slopes(rows: list[dict], lo: int = SLOPE_FROM) -> list[dict]:
    """Log-log slope of median time against N per (device, window, dtype, pass, method), over N >= lo (all
    timed N when fewer than two are that long): launch overheads flatten the short end on a GPU."""
    groups: dict[tuple, list[tuple[int, float]]] = {}
    for r in rows:
        if r["seconds"]:
            key = (r["device"], r["window"], r["dtype"], r["pass"], r["method"])
            groups.setdefault(key, []).append((r["n"], r["seconds"]["median"]))
    result = []
    for (device, window, dtype, pass_, method), points in groups.items():
        slope = log_log_slope(points, low=lo)
        slope = log_log_slope(points) if slope is None else slope
        if slope is not None:
            result.append({"device": device, "window": window, "dtype": dtype, "pass": pass_, "method": method,
                           "slope": round(slope, 3), "sizes": sorted(n for n, _ in points)})  # fmt: skip
    return result


def _ms(cell: dict | None) -> str:
    if not cell:
        return f"{'-':>22}"
    return f"{1e3 * cell['median']:9.2f} [{1e3 * cell['low']:.2f}-{1e3 * cell['high']:.2f}]".rjust(22)


def format_sweep(result: dict) -> str:
    """The sweep as text: one line per cell (median [low-high] ms, peak MB, speed-ups), then the errors."""
    cfg = result["config"]
    lines = [
        f"device {result['device']}, torch {result['torch']}, B={cfg['batch']} H={cfg['heads']} D={cfg['head_dim']} "
        f"K={cfg['linformer_k']}, {cfg['rounds']} interleaved rounds, timer: {result['timer']}",
        f"{'W':>4} {'dtype':<9} {'pass':<17} {'N':>7}  {'method':<16} {'ms: median [low-high]':>22} {'peak MB':>9}"
        f" {'x full':>7} {'x flex':>7}  note",
    ]
    for r in result["rows"]:
        ratios = r.get("ratios", {})
        vs = [ratios.get(k, {}).get("median") for k in ("vs_full", "vs_sliding-flex")]
        peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        lines.append(
            f"{r['window']:>4} {r['dtype']:<9} {r['pass']:<17} {r['n']:>7}  {r['method']:<16} {_ms(r['seconds'])}"
            f" {peak:>9} " + " ".join("      -" if x is None else f"{x:7.2f}" for x in vs) + f"  {r['note'] or ''}"
        )
    lines.append("max |out - float64 dense reference|:")
    for key, errors in result["summary"]["max_abs_err"].items():
        lines.append(f"  {key}: " + ", ".join(f"{m} {e:.2e}" for m, e in errors.items()))
    if result.get("unfinished"):
        lines.append(f"unfinished: {result['unfinished']}")
    return "\n".join(lines)


def plot_sweep(result: dict, out_dir) -> list[str]:
    """One log-log PNG of time against N per (pass, dtype), a line per method and window; the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from a3lab.utils import save_figure

    names = []
    for pass_ in result["config"]["passes"]:
        for dtype in result["config"]["dtypes"]:
            rows = [r for r in result["rows"] if r["pass"] == pass_ and r["dtype"] == dtype and r["seconds"]]
            if not rows:
                continue
            fig, ax = plt.subplots(figsize=(6.4, 4.4))
            for method, window in dict.fromkeys((r["method"], r["window"]) for r in rows):
                points = sorted((r["n"], 1e3 * r["seconds"]["median"]) for r in rows
                                if (r["method"], r["window"]) == (method, window))  # fmt: skip
                ax.plot(*zip(*points), marker="o", label=f"{method} W={window}",
                        linestyle="-" if window == min(result["config"]["windows"]) else "--")  # fmt: skip
            ax.set(xscale="log", yscale="log", xlabel="sequence length N", ylabel="time per call (ms)")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{pass_}, {dtype}, {result['device']}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
            name = f"attention_{result['config']['device'].split(':')[0]}_{pass_.replace('+', '_')}_{dtype}.png"
            save_figure(fig, f"{out_dir}/{name}")
            names.append(name)
    return names
