"""nn.Modules over the attention functions: multi-head self-attention of one kind, a small encoder.

Legend: B batch, N tokens, H heads, D head dim, K Linformer rank.

Papers: Vaswani et al. 2017 (pre-norm blocks as in later practice), Beltagy et al. 2020 (Longformer: window,
dilation, global tokens), Wang et al. 2020 (Linformer: E, F and their sharing).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from a3lab.attention.config import AttentionConfig
from a3lab.attention.functional import full_attention, linformer_attention, sliding_window_attention
from a3lab.attention.inputs import check_mask, check_positive
from a3lab.errors import UserError


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention that projects q, k, v and dispatches to one of the attention functions.

    Args:
        config: the layer (kind, width, heads, window, dilation, Linformer's K and sharing, ...).
        shared_projection: linformer with sharing="layerwise": the one `[K, seq_len]` parameter every layer
            uses (made here when None).

    Shapes: x `[B, N, dim]`, key_padding_mask and global_mask bool `[B, N]` -> `[B, N, dim]`.
    """

    def __init__(self, config: AttentionConfig, shared_projection: nn.Parameter | None = None) -> None:
        super().__init__()
        self.config = cfg = config
        self.head_dim = cfg.head_dim
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.proj_drop = nn.Dropout(cfg.dropout)
        if cfg.kind == "linformer":
            assert cfg.k is not None and cfg.seq_len is not None
            if cfg.sharing == "layerwise" and shared_projection is not None:
                if tuple(shared_projection.shape) != (cfg.k, cfg.seq_len):
                    raise ValueError(
                        f"shared_projection must be [k, seq_len] = [{cfg.k}, {cfg.seq_len}], "
                        f"got {tuple(shared_projection.shape)}"
                    )
                self.E = shared_projection
            else:
                shape = (cfg.heads, cfg.k, cfg.seq_len) if cfg.sharing == "none" else (cfg.k, cfg.seq_len)
                self.E = nn.Parameter(linformer_init(shape))
            if cfg.sharing in ("none", "headwise"):
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
                given = check_mask(global_mask, "global_mask", B, N, x.device)
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
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)); the MLP drops out as the attention.

    Shapes: x `[B, N, dim]` -> `[B, N, dim]`.
    """

    def __init__(
        self, config: AttentionConfig, mlp_ratio: float = 4.0, shared_projection: nn.Parameter | None = None
    ) -> None:
        super().__init__()
        dim, dropout = config.dim, config.dropout
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(config, shared_projection)
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
        kind: full, sliding or linformer.
        mlp_ratio: MLP hidden width / dim.
        dropout: dropout in attention and MLP.
        attention: the other fields of the blocks' `AttentionConfig` (window, dilation, k, sharing, ...).

    Shapes: x `[B, N, dim]`, key_padding_mask and global_mask bool `[B, N]` -> `[B, N, dim]`.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        kind: str = "full",
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        **attention,
    ) -> None:
        super().__init__()
        check_positive("depth", depth)
        if not mlp_ratio > 0:
            raise UserError(f"`mlp_ratio` must be > 0, got {mlp_ratio}")
        config = AttentionConfig(dim=dim, heads=heads, kind=kind, dropout=dropout, **attention)
        shared = None
        if config.kind == "linformer" and config.sharing == "layerwise":
            assert config.k is not None and config.seq_len is not None
            shared = nn.Parameter(linformer_init((config.k, config.seq_len)))
        self.blocks = nn.ModuleList(EncoderBlock(config, mlp_ratio, shared) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None, global_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, key_padding_mask, global_mask)
        return self.norm(x)
