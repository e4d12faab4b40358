"""nn.Modules over the attention functions: multi-head self-attention of one kind, a small encoder.

Legend: B batch, N tokens, H heads, D head dim, K Linformer rank.

Papers: Vaswani et al. 2017 (pre-norm blocks as in later practice), Beltagy et al. 2020 (Longformer: window,
dilation, global tokens), Wang et al. 2020 (Linformer: E, F and their sharing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from a3lab.attention.functional import (
    BACKENDS,
    KINDS,
    SHARINGS,
    Backend,
    Kind,
    Sharing,
    _check_mask,
    _check_positive,
    full_attention,
    linformer_attention,
    sliding_window_attention,
)
from a3lab.errors import UserError

# ----------------------------------------------------------------------------------------------------------------
# modules


@dataclass
class AttentionConfig:
    """One multi-head self-attention layer; errors name the CLI flags."""

    dim: int
    """model width (split into `heads` heads of dim // heads features)"""
    heads: int
    """number of heads"""
    kind: Kind = "full"
    """full, sliding (Longformer) or linformer"""
    window: int = 128
    """sliding: one-sided window W (HF attention_window = 2 W)"""
    dilation: int = 1
    """sliding: gap between attended positions"""
    global_tokens: int = 0
    """sliding: the first this many positions are global (e.g. a CLS token), besides forward's global_mask"""
    seq_len: int | None = None
    """linformer: the longest sequence (E and F are [K, seq_len], cut to the input length)"""
    k: int | None = None
    """linformer: projected length K"""
    sharing: Sharing = "none"
    """linformer: none (E, F per head), headwise (E, F shared by heads), key-value (E = F, shared by heads),
    layerwise (one E = F for all layers, heads, keys and values)"""
    dropout: float = 0.0
    """dropout on the attention probabilities and the output projection"""
    causal: bool = False
    """query i attends only keys j <= i (not defined for linformer)"""
    backend: Backend = "auto"
    """sliding: blocked (query blocks through fused SDPA), matmul (the same written out), flex (compiled
    FlexAttention, no dropout, no backward on CPU) or auto (= blocked)"""

    def __post_init__(self) -> None:
        for name in ("dim", "heads", "window", "dilation"):
            _check_positive(name, getattr(self, name))
        if self.dim % self.heads:
            raise UserError(f"`dim` ({self.dim}) must be divisible by `heads` ({self.heads})")
        if self.kind not in KINDS:
            raise UserError(f"`kind` must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.sharing not in SHARINGS:
            raise UserError(f"`sharing` must be one of {', '.join(SHARINGS)}, got {self.sharing!r}")
        if self.backend not in BACKENDS:
            raise UserError(f"`backend` must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if isinstance(self.global_tokens, bool) or not isinstance(self.global_tokens, int) or self.global_tokens < 0:
            raise UserError(f"`global_tokens` must be an integer >= 0, got {self.global_tokens!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if self.kind == "linformer":
            if self.causal:
                raise UserError("causal Linformer is not defined: use `kind` full or sliding with `causal`")
            if self.seq_len is None or self.k is None:
                raise UserError("`kind` linformer needs `seq_len` and `k`")
            _check_positive("seq_len", self.seq_len)
            _check_positive("k", self.k)
            if self.k > self.seq_len:
                raise UserError(f"`k` must be <= `seq_len` ({self.seq_len}), got {self.k}")


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention that projects q, k, v and dispatches to one of the attention functions.

    Args:
        dim, heads, kind, window, dilation, global_tokens, seq_len, k, sharing, dropout, causal, backend:
            see `AttentionConfig`.
        shared_projection: linformer with sharing="layerwise": the one `[K, seq_len]` parameter every layer
            uses (made here when None).

    Shapes: x `[B, N, dim]`, key_padding_mask and global_mask bool `[B, N]` -> `[B, N, dim]`.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        kind: Kind = "full",
        *,
        window: int = 128,
        dilation: int = 1,
        global_tokens: int = 0,
        seq_len: int | None = None,
        k: int | None = None,
        sharing: Sharing = "none",
        dropout: float = 0.0,
        causal: bool = False,
        backend: Backend = "auto",
        shared_projection: nn.Parameter | None = None,
    ) -> None:
        super().__init__()
        self.config = cfg = AttentionConfig(
            dim, heads, kind, window, dilation, global_tokens, seq_len, k, sharing, dropout, causal, backend
        )
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        if kind == "linformer":
            assert cfg.k is not None and cfg.seq_len is not None
            if sharing == "layerwise" and shared_projection is not None:
                if tuple(shared_projection.shape) != (cfg.k, cfg.seq_len):
                    raise ValueError(
                        f"shared_projection must be [k, seq_len] = [{cfg.k}, {cfg.seq_len}], "
                        f"got {tuple(shared_projection.shape)}"
                    )
                self.E = shared_projection
            else:
                shape = (heads, cfg.k, cfg.seq_len) if sharing == "none" else (cfg.k, cfg.seq_len)
                self.E = nn.Parameter(linformer_init(shape))
            if sharing in ("none", "headwise"):
                self.F = nn.Parameter(linformer_init(self.E.shape))

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        global_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Self-attention over x; global_mask only matters for kind="sliding" (the others see every key)."""
        if x.dim() != 3 or x.shape[-1] != self.config.dim:
            raise ValueError(f"x must be [B, N, dim] with dim = {self.config.dim}, got {tuple(x.shape)}")
        B, N, _ = x.shape
        cfg = self.config
        qkv = self.qkv(x).view(B, N, 3, cfg.heads, self.head_dim)  # (B, N, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, D)
        p = cfg.dropout if self.training else 0.0
        if cfg.kind == "full":
            out = full_attention(q, k, v, key_padding_mask, cfg.causal, dropout_p=p)
        elif cfg.kind == "sliding":
            if cfg.global_tokens:
                first = torch.zeros(B, N, dtype=torch.bool, device=x.device)
                first[:, : cfg.global_tokens] = True
                given = _check_mask(global_mask, "global_mask", B, N, x.device)
                global_mask = first if given is None else first | given
            out = sliding_window_attention(
                q, k, v, cfg.window, cfg.dilation, global_mask, key_padding_mask, cfg.causal,
                backend=cfg.backend, dropout_p=p,
            )  # fmt: skip
        else:
            assert cfg.seq_len is not None
            if cfg.seq_len < N:
                raise UserError(f"linformer was built for `seq_len` {cfg.seq_len}, got a sequence of {N} tokens")
            E = self.E[..., :N]
            F_ = self.F[..., :N] if hasattr(self, "F") else E
            out = linformer_attention(q, k, v, E, F_, key_padding_mask, dropout_p=p)
        out = out.transpose(1, 2).reshape(B, N, cfg.dim)  # (B, N, H * D)
        return self.proj_drop(self.proj(out))


def linformer_init(shape: tuple[int, ...]) -> torch.Tensor:
    """Linformer's projection init: entries N(0, 1 / K) (Wang et al. 2020, section 4)."""
    return torch.randn(shape) / math.sqrt(shape[-2])


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)).

    Shapes: x `[B, N, dim]` -> `[B, N, dim]`.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, **attention) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout=dropout, **attention)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, round(dim * mlp_ratio))
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout)
        )

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None, global_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_padding_mask, global_mask)
        return x + self.mlp(self.norm2(x))


class TransformerEncoder(nn.Module):
    """A stack of `depth` pre-norm blocks over one attention kind, with a final LayerNorm.

    Args:
        dim, depth, heads: width, number of blocks, heads per block.
        kind: full, sliding or linformer (the options of `MultiHeadSelfAttention` pass through `attention`).
        mlp_ratio: MLP hidden width / dim.
        dropout: dropout in attention and MLP.
        attention: window, dilation, global_tokens, seq_len, k, sharing, causal, backend.

    Shapes: x `[B, N, dim]`, key_padding_mask and global_mask bool `[B, N]` -> `[B, N, dim]`.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        kind: Kind = "full",
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        **attention,
    ) -> None:
        super().__init__()
        _check_positive("depth", depth)
        if not mlp_ratio > 0:
            raise UserError(f"`mlp_ratio` must be > 0, got {mlp_ratio}")
        shared = None
        if kind == "linformer" and attention.get("sharing") == "layerwise":
            probe = AttentionConfig(dim, heads, kind, **attention)  # validates before the shared E is made
            assert probe.k is not None and probe.seq_len is not None
            shared = nn.Parameter(linformer_init((probe.k, probe.seq_len)))
            attention = {**attention, "shared_projection": shared}
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, heads, mlp_ratio, dropout, kind=kind, **attention) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None, global_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, key_padding_mask, global_mask)
        return self.norm(x)
