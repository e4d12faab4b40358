"""The benchmark's methods as functions of the same q, k, v `[B, H, N, D]`, their inputs and their FLOPs.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, K Linformer rank.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from a3lab.attention.bench_config import BenchConfig, hf_installed, label_backend
from a3lab.attention.flex import flex_available
from a3lab.attention.functional import full_attention, linformer_attention, sliding_window_attention
from a3lab.attention.hf_bench import hf_method
from a3lab.timing import time_calls

FORWARD_BACKWARD_FLOPS = 3
"""Forward + backward FLOPs over the forward's: the backward's four matmuls (dV, dP, dQ, dK) are twice the
forward's two (q k^T, p v); a recomputation of the scores is not counted as useful work."""


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
    return hf_method(cfg, n)


def available(method: str, n: int, cfg: BenchConfig) -> str | None:
    """Why a method cannot run at length n (None when it can)."""
    if method == "hf-longformer" and not hf_installed():
        return "not installed"
    if method == "sliding-flex" and not flex_available():
        return "no FlexAttention in this PyTorch"
    if method == "linformer" and cfg.linformer_k > n:
        return f"K = {cfg.linformer_k} > N"
    return None


def bench_inputs(cfg: BenchConfig, n: int, requires_grad: bool = False) -> list[torch.Tensor]:
    """q, k, v `[B, H, n, D]`, seeded by the config's seed and n."""
    g = torch.Generator().manual_seed(cfg.seed + n)
    shape = (cfg.batch, cfg.heads, n, cfg.head_dim)
    return [torch.randn(shape, generator=g).to(cfg.device).requires_grad_(requires_grad) for _ in range(3)]


def small_n(cfg: BenchConfig) -> int:
    """The smallest multiple of 2W that is at least K: every method runs there."""
    step = 2 * cfg.window
    return step * -(-max(cfg.linformer_k, step) // step)


def matmul_gflops(size: int = 2048, repeats: int = 5, device: str = "cpu", clock: str = "cpu") -> float:
    """Achieved GFLOP/s of a square float32 `torch.matmul` (2 size^3 FLOPs): the machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    _, times = time_calls(lambda: a @ b, repeats, device, clock)
    return 2 * size**3 / (min(times) / 1e3) / 1e9


def band_flops(n: int, cfg: BenchConfig) -> float:
    """Useful FLOPs of the band: q k^T and p v over 2W + 1 keys per query, 4 N (2W + 1) D H B."""
    return 4.0 * n * (2 * cfg.window + 1) * cfg.head_dim * cfg.heads * cfg.batch
