"""The configuration of one multi-head self-attention layer, declared once and handed whole to the modules.

Legend: N tokens, W one-sided window, d dilation, K Linformer rank.

This module imports no torch: the CLI reads it while building its parser.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from a3lab.config import Checked, option
from a3lab.errors import UserError

__all__ = ["BACKENDS", "KINDS", "SHARINGS", "AttentionConfig", "Backend", "Kind", "Sharing"]

Kind = Literal["full", "sliding", "linformer"]
Sharing = Literal["none", "headwise", "key-value", "layerwise"]
Backend = Literal["auto", "blocked", "matmul", "flex"]

KINDS: tuple[str, ...] = typing.get_args(Kind)
SHARINGS: tuple[str, ...] = typing.get_args(Sharing)
BACKENDS: tuple[str, ...] = typing.get_args(Backend)


@dataclass
class AttentionConfig(Checked):
    """One multi-head self-attention layer; errors name the CLI flags."""

    dim: int = option(32, low=1)
    """model width (split into `heads` heads of dim // heads features)"""
    heads: int = option(2, low=1)
    """attention heads (dim must be divisible by heads)"""
    kind: Kind = field(default="full", metadata={"cli": False})
    """full, sliding (Longformer) or linformer"""
    window: int = option(128, low=1)
    """sliding: one-sided window W (HF attention_window = 2 W)"""
    dilation: int = option(1, low=1)
    """sliding: gap d between attended positions"""
    global_tokens: int = option(0, low=0, cli=False)
    """sliding: the first this many positions are global (e.g. a CLS token), besides forward's global_mask"""
    seq_len: int | None = option(None, low=1, cli=False)
    """linformer: the longest sequence (E and F are [K, seq_len], cut to the input length)"""
    k: int | None = option(None, low=1)
    """linformer: projected length K"""
    sharing: Sharing = "none"
    """linformer: none (E, F per head), headwise (E, F shared by heads), key-value (E = F, shared by heads),
    layerwise (one E = F for all layers, heads, keys and values)"""
    dropout: float = option(0.0, low=0, high=1, high_open=True)
    """dropout on the attention probabilities and the output projection"""
    causal: bool = False
    """query i attends only keys j <= i (not defined for linformer)"""
    backend: Backend = "auto"
    """sliding: blocked (query blocks through fused SDPA), matmul (the same written out), flex (compiled
    FlexAttention, no dropout, no backward on CPU) or auto (= blocked)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim % self.heads:
            raise UserError(f"`dim` ({self.dim}) must be divisible by `heads` ({self.heads})")
        if self.kind == "linformer":
            if self.causal:
                raise UserError("causal Linformer is not defined: use `kind` full or sliding with `causal`")
            if self.seq_len is None or self.k is None:
                raise UserError("`kind` linformer needs `seq_len` and `k`")
            if self.k > self.seq_len:
                raise UserError(f"`k` must be <= `seq_len` ({self.seq_len}), got {self.k}")

    @property
    def head_dim(self) -> int:
        """Features per head D = dim // heads."""
        return self.dim // self.heads
