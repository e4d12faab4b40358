"""The training pass on CPU: forward + backward of the band against HF Longformer's and a large matmul.

For each N, in interleaved rounds on one thread (process CPU time, glibc malloc keeping freed memory as the
a3lab CLI does): a float32 matmul of --matmul-size (the machine's practical GFLOP/s), our band's forward, our
band's forward + backward, and HF `LongformerSelfAttention`'s forward + backward on the same q, k, v
(B=1 H=12 D=64, one-sided window 128). Forward + backward counts 3x the forward's useful FLOPs,
4 N (2W + 1) D H. Prints per-round medians and spreads of the GFLOP/s share and the ratios.

    OMP_NUM_THREADS=1 python benchmarks/attention_training.py --sizes 4096,16384 --rounds 3 --out runs/training.json
    OMP_NUM_THREADS=1 python benchmarks/attention_training.py --sizes 4096 --block-sizes 16,32,64,128 --rounds 3

With --block-sizes, it times the band's forward and forward + backward at each query block C instead
(`sliding_window_attention(..., block_size=C)`), interleaved, and prints each C's time over the fastest's.
With --profile, it prints torch.profiler's operators of one band forward + backward at each N instead.

    OMP_NUM_THREADS=1 python benchmarks/attention_training.py --sizes 16384 --profile
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from a3lab.attention.bench_config import BenchConfig, hf_installed
from a3lab.attention.bench_methods import FORWARD_BACKWARD_FLOPS, band_flops, build_method


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _clock(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def _calls(cfg: BenchConfig, n: int, matmul_size: int) -> dict:
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(1, cfg.heads, n, cfg.head_dim, generator=g) for _ in range(3))
    grad = torch.randn(1, cfg.heads, n, cfg.head_dim, generator=g)
    band = build_method("sliding-blocked", cfg, n)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    a, b = torch.randn(matmul_size, matmul_size), torch.randn(matmul_size, matmul_size)
    calls = {
        "matmul": lambda: a @ b,
        "band_forward": lambda: band(q, k, v),
        "band_forward_backward": lambda: torch.autograd.grad(band(*leaves), leaves, grad),
    }
    if hf_installed():
        hf = build_method("hf-longformer", cfg, n)
        hf_grad = grad.transpose(1, 2).reshape(1, n, -1)  # HF's output layout [B, N, H * D]
        calls["hf_forward_backward"] = lambda: torch.autograd.grad(hf(*leaves), leaves, hf_grad)
    return calls


def measure(cfg: BenchConfig, n: int, rounds: int, matmul_size: int) -> dict:
    """Per-round seconds of every call at one N, then the per-round shares and ratios."""
    calls = _calls(cfg, n, matmul_size)
    for fn in calls.values():
        with torch.no_grad() if fn is calls["band_forward"] else torch.enable_grad():
            fn()  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            if name == "band_forward":
                with torch.no_grad():
                    seconds[name].append(_clock(fn))
            else:
                seconds[name].append(_clock(fn))
    flops = band_flops(n, cfg)
    per_round = list(zip(*(seconds[k] for k in calls)))
    names = list(calls)
    result = {"n": n, "seconds": {k: _spread(v) for k, v in seconds.items()}}
    share, fb_over_f, vs_hf = [], [], []
    for times in per_round:
        t = dict(zip(names, times))
        peak = 2 * matmul_size**3 / t["matmul"]
        share.append(FORWARD_BACKWARD_FLOPS * flops / t["band_forward_backward"] / peak)
        fb_over_f.append(t["band_forward_backward"] / t["band_forward"])
        if "hf_forward_backward" in t:
            vs_hf.append(t["hf_forward_backward"] / t["band_forward_backward"])
    result["band_forward_backward_share_of_matmul"] = _spread(share)
    result["band_forward_share_of_matmul"] = _spread(
        [flops / t[names.index("band_forward")] / (2 * matmul_size**3 / t[0]) for t in per_round]
    )
    result["band_forward_backward_over_forward"] = _spread(fb_over_f)
    result["hf_over_band_forward_backward"] = _spread(vs_hf) if vs_hf else None
    return result


def block_sizes(cfg: BenchConfig, n: int, sizes: list[int], rounds: int) -> dict:
    """Per-round seconds of the band's forward and forward + backward at each block size C."""
    from a3lab.attention import sliding_window_attention

    g = torch.Generator().manual_seed(n)
    q, k, v, grad = (torch.randn(1, cfg.heads, n, cfg.head_dim, generator=g) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    calls = {}
    for C in sizes:
        calls[f"forward C={C}"] = lambda C=C: sliding_window_attention(q, k, v, cfg.window, block_size=C)
        calls[f"forward+backward C={C}"] = lambda C=C: torch.autograd.grad(
            sliding_window_attention(*leaves, cfg.window, block_size=C), leaves, grad
        )
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(rounds + 1):  # round 0 warms up
        for name, fn in calls.items():
            with torch.no_grad() if name.startswith("forward C") else torch.enable_grad():
                t = _clock(fn)
            if i:
                seconds[name].append(t)
    result = {"n": n, "seconds": {k: _spread(v) for k, v in seconds.items()}}
    for kind in ("forward", "forward+backward"):
        names = [name for name in calls if name.startswith(kind + " C")]
        best = [min(seconds[name][r] for name in names) for r in range(rounds)]
        result[f"{kind} over fastest"] = {name: _spread([a / b for a, b in zip(seconds[name], best)]) for name in names}
    return result


def profile_table(cfg: BenchConfig, n: int, rows: int = 20) -> str:
    """torch.profiler's operators of one band forward + backward (after a warm-up one), by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    calls = _calls(cfg, n, 64)
    calls["band_forward_backward"]()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        calls["band_forward_backward"]()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,16384")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--block-sizes", default=None, help="comma-separated query blocks C to compare")
    parser.add_argument("--profile", action="store_true", help="print the operators of one forward + backward")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from a3lab.utils import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(1)
    cfg = BenchConfig(methods=("sliding-blocked",), window=128)
    sizes = [int(n) for n in args.sizes.split(",")]
    if args.profile:
        for n in sizes:
            print(f"N = {n}\n{profile_table(cfg, n)}")
        return 0
    if args.block_sizes:
        blocks = [int(c) for c in args.block_sizes.split(",")]
        results = [block_sizes(cfg, n, blocks, args.rounds) for n in sizes]
    else:
        results = [measure(cfg, n, args.rounds, args.matmul_size) for n in sizes]
    report = {"device": "cpu", "threads": 1, "clock": "process CPU time", "window": cfg.window, "results": results}
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
