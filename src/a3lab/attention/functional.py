"""Attention as pure functions on q, k, v `[B, H, N, D]`: full, sliding window (Longformer), Linformer.

Full attention and Linformer are here; the sliding window lives in `sliding` and is read from here too,
so the three functions share one home.

Legend: B batch, H heads, N tokens, D head dim, K Linformer rank.

Papers: Vaswani et al. 2017; Beltagy et al. 2020 (Longformer, arXiv:2004.05150); Wang et al. 2020 (Linformer,
arXiv:2006.04768).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from a3lab.attention.config import Backend
from a3lab.attention.inputs import check_mask, check_qkv, keep_nan_queries, zero_padded_queries
from a3lab.attention.sliding import resolve_backend, sliding_window_attention
from a3lab.errors import UserError

__all__ = ["Backend", "full_attention", "linformer_attention", "resolve_backend", "sliding_window_attention"]

# ----------------------------------------------------------------------------------------------------------------
# full attention


def full_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    *,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v through PyTorch's fused `scaled_dot_product_attention`.

    Args:
        q, k, v: queries, keys, values.
        key_padding_mask: bool `[B, N]`, True = padding: never attended, and the output there is zero.
        causal: query i attends only keys j <= i.
        dropout_p: dropout on the attention probabilities (pass 0 at evaluation).

    Shapes: q, k, v `[B, H, N, D]` -> `[B, H, N, D]`.
    """
    B, _, N, _ = check_qkv(q, k, v)
    kpm = check_mask(key_padding_mask, "key_padding_mask", B, N, q.device)
    if kpm is None:
        return keep_nan_queries(F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal), q)
    allowed = ~kpm[:, None, None, :]  # [B, 1, 1, N]
    if causal:
        allowed = allowed & torch.ones(N, N, dtype=torch.bool, device=q.device).tril()  # [B, 1, N, N]
    # padded query rows attend everything (so no row is empty and SDPA has no NaN); they are zeroed below
    allowed = allowed | kpm[:, None, :, None]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)
    return zero_padded_queries(keep_nan_queries(out, q), kpm)


# ----------------------------------------------------------------------------------------------------------------
# Linformer


def linformer_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    E: torch.Tensor,
    F_: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    *,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Linformer attention softmax(q (E k)^T / sqrt(D)) (F v): keys and values projected to K rows.

    Args:
        q, k, v: queries, keys, values.
        E, F_: projections of keys and values, `[K, N]` (shared by heads) or `[H, K, N]`; 1 <= K <= N.
        key_padding_mask: bool `[B, N]`, True = padding: those keys and values are zeroed before the
            projection, and the output there is zero.
        causal: not defined for Linformer (every projected row mixes all positions): True raises ValueError.
        dropout_p: dropout on the attention probabilities (pass 0 at evaluation).

    Shapes: q, k, v `[B, H, N, D]`, E, F_ `[K, N]` or `[H, K, N]` -> `[B, H, N, D]`.
    """
    B, H, N, _ = check_qkv(q, k, v)
    if causal:
        raise UserError(
            "causal Linformer is not defined: E and F mix every position, future ones included "
            "(use `kind` full or sliding with `causal`)"
        )
    _check_projections(E, F_, q, H, N)
    kpm = check_mask(key_padding_mask, "key_padding_mask", B, N, q.device)
    if kpm is not None:
        k = k.masked_fill(kpm[:, None, :, None], 0.0)
        v = v.masked_fill(kpm[:, None, :, None], 0.0)
    k_proj = E.to(q.dtype) @ k  # (K, N) or (H, K, N) @ (B, H, N, D) -> (B, H, K, D)
    v_proj = F_.to(q.dtype) @ v  # (B, H, K, D)
    out = F.scaled_dot_product_attention(q, k_proj, v_proj, dropout_p=dropout_p)
    # a NaN anywhere in E k or F v reaches every query of its (b, h) in the math; the fused kernel
    # would return finite zeros when all of a row's scores are NaN
    poison = 0.0 * (k_proj.sum((-2, -1), keepdim=True) + v_proj.sum((-2, -1), keepdim=True))  # (B, H, 1, 1)
    return zero_padded_queries(keep_nan_queries(out, q) + poison, kpm)


def _check_projections(E: torch.Tensor, F_: torch.Tensor, q: torch.Tensor, H: int, N: int) -> None:
    """E and F_ are floating-point `[K, N]` or `[H, K, N]` tensors on q's device, with 1 <= K <= N."""
    for name, P in (("E", E), ("F_", F_)):
        if not isinstance(P, torch.Tensor):
            raise ValueError(f"`{name}` must be a tensor, got {type(P).__name__}")
        if P.device != q.device:
            raise ValueError(f"`{name}` must be on q's device {q.device}, got {P.device}")
        if not P.dtype.is_floating_point:
            raise ValueError(f"`{name}` must be floating point, got {P.dtype}")
        if P.dim() not in (2, 3) or P.shape[-1] != N or (P.dim() == 3 and P.shape[0] != H):
            raise ValueError(f"`{name}` must be [K, N] or [H, K, N] with N = {N}, H = {H}, got {tuple(P.shape)}")
    K = E.shape[-2]
    if F_.shape[-2] != K:
        raise ValueError(f"`E` and `F_` must project to the same K, got {E.shape[-2]} and {F_.shape[-2]}")
    if not 1 <= K <= N:
        raise UserError(f"`k` must be between 1 and the sequence length {N}, got {K}")
