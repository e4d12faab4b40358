"""Hugging Face's `LongformerSelfAttention` as a benchmark method and as the reference our band must equal.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window (HF `attention_window` = 2 W).

HF's layer is timed on its core: its q/k/v projections are replaced by copies of the q, k, v every method gets
(three `clone`s of `[N, B, H*D]`, counted in its time). `transformers` is optional (`pip install 'a3lab[bench]'`)
and imported only here, when a layer is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from a3lab.attention.functional import sliding_window_attention

if TYPE_CHECKING:
    from a3lab.attention.bench_config import BenchConfig


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


def hf_call(layer: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """HF's layer on hidden states, every token local. Shapes: `[B, N, H * D]` -> `[B, N, H * D]`."""
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
        theirs = hf_call(layer, x)
        q, k, v = (proj(x).view(1, n, H, D).transpose(1, 2) for proj in (layer.query, layer.key, layer.value))
        diff = 0.0
        for backend in backends:
            ours = sliding_window_attention(q, k, v, W, backend=backend).transpose(1, 2).reshape(1, n, H * D)
            diff = max(diff, (ours - theirs).abs().max().item())
    return diff


def hf_method(cfg: BenchConfig, n: int) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """HF's layer as a function of the q, k, v every method gets.

    Shapes: q, k, v `[B, H, n, D]` -> `[B, n, H * D]`.
    """
    layer = hf_layer(cfg.heads, cfg.head_dim, cfg.window, cfg.seed).to(cfg.device)
    layer.query, layer.key, layer.value = _Preprojected(), _Preprojected(), _Preprojected()
    B, H, D = cfg.batch, cfg.heads, cfg.head_dim
    hidden = torch.empty(B, n, H * D, device=cfg.device)  # only its shape is read

    def call(q, k, v):
        for proj, x in ((layer.query, q), (layer.key, k), (layer.value, v)):
            proj.value = x.permute(2, 0, 1, 3).reshape(n, B, H * D)  # HF's (N, B, H * D) layout
        return hf_call(layer, hidden)

    return call
