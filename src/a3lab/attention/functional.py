"""Attention as pure functions on q, k, v `[B, H, N, D]`: full, sliding window (Longformer), Linformer.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, d dilation, K Linformer rank,
G global tokens per sequence, C query block, L = C + 2W keys seen by one query block, M = ceil(N / d).

Papers: Vaswani et al. 2017; Beltagy et al. 2020 (Longformer, arXiv:2004.05150); Wang et al. 2020 (Linformer,
arXiv:2006.04768). See the package docstring for how the sliding window stays O(N * W).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from a3lab.attention.band import (
    _band_matmul,
    _band_sdpa,
    _band_sdpa_lse,
    _lse_kernel,
    _regroup,
    _regroup_seq,
    _ungroup,
)
from a3lab.attention.config import BACKENDS, Backend
from a3lab.attention.flex import flex_available, flex_sliding_window
from a3lab.errors import UserError

# ----------------------------------------------------------------------------------------------------------------
# validation helpers


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, int, int, int]:
    if q.dim() != 4:
        raise ValueError(f"q must be [B, H, N, D], got shape {tuple(q.shape)}")
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(
            f"q, k and v must have the same shape [B, H, N, D], got {tuple(q.shape)}, {tuple(k.shape)}, "
            f"{tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype and q.device == k.device == v.device):
        raise ValueError(
            f"q, k and v must share one dtype and device, got {q.dtype}/{q.device}, {k.dtype}/{k.device}, "
            f"{v.dtype}/{v.device}"
        )
    if not q.dtype.is_floating_point:
        raise ValueError(f"q, k and v must be floating point, got {q.dtype}")
    B, H, N, D = q.shape
    if N < 1 or D < 1:
        raise ValueError(f"q, k and v need at least one token and one feature, got shape {tuple(q.shape)}")
    return B, H, N, D


def _check_mask(mask: torch.Tensor | None, name: str, B: int, N: int, device: torch.device) -> torch.Tensor | None:
    if mask is None:
        return None
    if mask.shape != (B, N):
        raise ValueError(f"`{name}` must have shape [B, N] = [{B}, {N}], got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"`{name}` must be a bool tensor (True = {_MASK_MEANING[name]}), got {mask.dtype}")
    return mask.to(device)


_MASK_MEANING = {"key_padding_mask": "padding", "global_mask": "global token"}


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"`{name}` must be an integer >= 1, got {value!r}")


def _keep_nan_queries(out: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Make the output row of a query holding a NaN or inf NaN, as the math says.

    The fused CPU kernel returns 0, not NaN, for a row whose scores are all NaN: without this a corrupt
    query would pass silently as a finite zero. One read of q (its sum) finds out whether there is anything
    to do, so clean inputs pay no extra pass over the output; on other devices nothing is checked (no sync).

    Shapes: out, q `[B, H, N, D]` -> `[B, H, N, D]`.
    """
    if q.device.type != "cpu" or bool(torch.isfinite(q.detach().sum())):
        return out
    return out + 0.0 * q.sum(-1, keepdim=True)


def _zero_padded_queries(out: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Outputs at padded positions are defined as zero (`where`, so no NaN or gradient leaks through)."""
    if key_padding_mask is None:
        return out
    return out.masked_fill(key_padding_mask[:, None, :, None], 0.0)


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
    B, _, N, _ = _check_qkv(q, k, v)
    kpm = _check_mask(key_padding_mask, "key_padding_mask", B, N, q.device)
    if kpm is None:
        return _keep_nan_queries(F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal), q)
    allowed = ~kpm[:, None, None, :]  # [B, 1, 1, N]
    if causal:
        allowed = allowed & torch.ones(N, N, dtype=torch.bool, device=q.device).tril()  # [B, 1, N, N]
    # padded query rows attend everything (so no row is empty and SDPA has no NaN); they are zeroed below
    allowed = allowed | kpm[:, None, :, None]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)
    return _zero_padded_queries(_keep_nan_queries(out, q), kpm)


# ----------------------------------------------------------------------------------------------------------------
# sliding window (the band's kernels are in `band`)


class _Globals:
    """Global tokens of a batch: their positions (padded to the largest count G) and which keys they offer.

    Shapes: indices, slot_valid, key_ok `[B, G]`.
    """

    def __init__(self, global_mask: torch.Tensor, key_padding_mask: torch.Tensor | None) -> None:
        counts = global_mask.sum(1)  # (B,)
        self.G = int(counts.max())
        order = torch.argsort((~global_mask).to(torch.int8), dim=1, stable=True)  # global positions first
        self.indices = order[:, : self.G]
        self.slot_valid = torch.arange(self.G, device=global_mask.device)[None, :] < counts[:, None]
        self.key_ok = self.slot_valid
        if key_padding_mask is not None:
            self.key_ok = self.key_ok & ~key_padding_mask.gather(1, self.indices)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, H, N, D]` -> `[B, H, G, D]`: the rows of the global tokens."""
        B, H, _, D = x.shape
        return x.gather(2, self.indices[:, None, :, None].expand(B, H, self.G, D))

    def allowed_outside_band(self, N: int, window: int, dilation: int, causal: bool) -> torch.Tensor:
        """Which global keys each query sees besides its band (those in the band are counted there).

        Shapes: -> `[B, N, G]`.
        """
        offset = torch.arange(N, device=self.indices.device)[None, :, None] - self.indices[:, None, :]  # i - j
        in_band = (offset.abs() <= window * dilation) & (offset % dilation == 0)
        allowed = self.key_ok[:, None, :] & ~in_band
        return allowed & (offset >= 0) if causal else allowed

    def full_rows(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        out: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
        causal: bool,
        dropout_p: float,
    ) -> torch.Tensor:
        """Replace each global query's row of `out` by its attention over every key.

        Shapes: q, k, v, out `[B, H, N, D]` -> `[B, H, N, D]`.
        """
        B, H, N, D = q.shape
        allowed = torch.ones(B, self.G, N, dtype=torch.bool, device=q.device)
        if key_padding_mask is not None:
            allowed &= ~key_padding_mask[:, None, :]
        if causal:
            allowed &= torch.arange(N, device=q.device)[None, None, :] <= self.indices[:, :, None]
        allowed |= ~self.slot_valid[:, :, None]  # filler slots: anything finite, dropped below
        rows = F.scaled_dot_product_attention(
            self.gather(q), k, v, attn_mask=allowed[:, None], dropout_p=dropout_p
        )  # (B, H, G, D)
        target = torch.where(self.slot_valid, self.indices, N)[:, None, :, None].expand(B, H, self.G, D)
        # filler slots write into an extra row N that is dropped; under autocast the two may differ in dtype
        return torch.cat([out, out.new_zeros(B, H, 1, D)], dim=2).scatter(2, target, rows.to(out.dtype))[:, :, :N]


def _merge_by_lse(
    band_out: torch.Tensor,
    band_lse: torch.Tensor,
    q: torch.Tensor,
    k_glob: torch.Tensor,
    v_glob: torch.Tensor,
    allowed: torch.Tensor,
    dropout_p: float,
) -> torch.Tensor:
    """Combine the band's softmax with a second partial softmax over the global keys by log-sum-exp.

    out = (e^lse_band o_band + e^lse_glob o_glob) / (e^lse_band + e^lse_glob); q carries the 1/sqrt(D) scale.

    Shapes: band_out, q `[B, H, N, D]`, band_lse `[B, H, N]`, k_glob, v_glob `[B, H, G, D]`,
        allowed `[B, N, G]` -> `[B, H, N, D]`.
    """
    scores = q @ k_glob.transpose(-1, -2)  # (B, H, N, G)
    # the fill comes from the scores' dtype, not q's: under autocast the matmul runs in the lower precision
    scores = scores.masked_fill(~allowed[:, None], torch.finfo(scores.dtype).min)
    glob_lse = torch.logsumexp(scores, dim=-1).masked_fill(~allowed.any(-1)[:, None], -math.inf)  # (B, H, N)
    probs = torch.softmax(scores, dim=-1)
    if dropout_p > 0:
        probs = F.dropout(probs, dropout_p)
    lse = torch.logaddexp(band_lse, glob_lse)
    return torch.exp(band_lse - lse)[..., None] * band_out + torch.exp(glob_lse - lse)[..., None] * (probs @ v_glob)


def sliding_window_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    dilation: int = 1,
    global_mask: torch.Tensor | None = None,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    *,
    backend: Backend = "auto",
    block_size: int | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Longformer attention: a (dilated) sliding window plus global tokens, in O(N * W) time and memory.

    Query i attends key j iff `|i - j| <= window * dilation` and `(i - j) % dilation == 0`, or i or j is a
    global token; keys where `key_padding_mask` is True are never attended; with `causal`, also j <= i.
    Outputs at padded query positions are zero.

    Non-finite inputs: a NaN or inf in a query row makes that row NaN (on CPU this is enforced: the fused
    kernel alone returns a row of zeros there). A NaN key or value
    reaches the queries that see it with the "matmul" backend; with "blocked" (and "flex") it reaches every
    query of the same query block of C tokens, because the fused kernel adds the mask to the scores
    (NaN + mask = NaN) instead of replacing them.

    Args:
        q, k, v: queries, keys, values (floating point, one dtype and device).
        window: one-sided window W (HF Longformer's `attention_window` is 2 * W).
        dilation: gap d between attended positions.
        global_mask: bool `[B, N]`, True = global token (attends every key, attended by every query).
        key_padding_mask: bool `[B, N]`, True = padding.
        causal: query i attends only keys j <= i.
        backend: "blocked" (query blocks through the fused SDPA kernel), "matmul" (the same blocks written
            as matmul + softmax, globals merged by log-sum-exp), "flex" (compiled FlexAttention, CPU or
            CUDA, no dropout) or "auto" (= "blocked").
        block_size: query block C of the blocked and matmul backends (default `default_block_size`).
        dropout_p: dropout on the attention probabilities (pass 0 at evaluation).

    Shapes: q, k, v `[B, H, N, D]` -> `[B, H, N, D]`.
    """
    B, _, N, _ = _check_qkv(q, k, v)
    _check_positive("window", window)
    _check_positive("dilation", dilation)
    if block_size is not None:
        _check_positive("block_size", block_size)
    kpm = _check_mask(key_padding_mask, "key_padding_mask", B, N, q.device)
    gm = _check_mask(global_mask, "global_mask", B, N, q.device)
    backend = resolve_backend(backend)
    globs = _Globals(gm, kpm) if gm is not None and bool(gm.any()) else None
    band = _Band(window, dilation, kpm, causal, block_size, dropout_p)
    if backend == "flex":
        out = _sliding_flex(q, k, v, band, gm if globs else None)
    elif backend == "blocked":
        out = _sliding_blocked(q, k, v, band, globs)
    else:
        out = _sliding_matmul(q, k, v, band, globs)
    if globs is not None and backend != "flex":
        out = globs.full_rows(q, k, v, out, kpm, causal, dropout_p)
    return _zero_padded_queries(_keep_nan_queries(out, q), kpm)


class _Band:
    """The options of one sliding-window call that every backend reads.

    Shapes: key_padding_mask `[B, N]`; key_valid `[B, N]`, or `[B * d, M]` for a regrouped dilated band.
    """

    def __init__(
        self,
        window: int,
        dilation: int,
        key_padding_mask: torch.Tensor | None,
        causal: bool,
        block_size: int | None,
        dropout_p: float,
    ) -> None:
        self.window, self.dilation, self.causal = window, dilation, causal
        self.key_padding_mask, self.block_size, self.dropout_p = key_padding_mask, block_size, dropout_p

    def key_valid(self, B: int, N: int, device: torch.device) -> torch.Tensor | None:
        """Which keys may be attended, laid out like the (regrouped) band; None when all may."""
        kpm, d = self.key_padding_mask, self.dilation
        if d > 1 and (kpm is not None or N % d):  # d bands over the tokens regrouped by position mod d
            return _regroup_seq(torch.ones(B, N, dtype=torch.bool, device=device) if kpm is None else ~kpm, d)
        return None if kpm is None else ~kpm


def _sliding_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: _Band, global_mask) -> torch.Tensor:
    """The whole contract in one compiled FlexAttention call (globals included)."""
    if band.dropout_p > 0:
        raise ValueError("the flex backend has no attention dropout: use backend='blocked' or dropout_p=0")
    if q.device.type == "cpu" and torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        raise ValueError("the flex backend has no backward on CPU in this PyTorch: use backend='blocked'")
    return flex_sliding_window(q, k, v, band.window, band.dilation, global_mask, band.key_padding_mask, band.causal)


def _sliding_blocked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: _Band, globs) -> torch.Tensor:
    """The band through the fused kernel, global keys appended to every block's keys (one softmax), or on
    CPU without dilation or dropout merged through the band's log-sum-exp (no copy of the windows).

    Shapes: q, k, v `[B, H, N, D]` -> `[B, H, N, D]` (global query rows still to be replaced).
    """
    B, _, N, D = q.shape
    d = band.dilation
    key_valid = band.key_valid(B, N, q.device)
    if globs is not None and d == 1 and band.dropout_p == 0 and _lse_kernel(q):
        out, lse = _band_sdpa_lse(q, k, v, band.window, key_valid, band.causal, band.block_size)
        allowed = globs.allowed_outside_band(N, band.window, 1, band.causal)  # (B, N, G)
        return _merge_by_lse(out, lse, q * D**-0.5, globs.gather(k), globs.gather(v), allowed, 0.0)
    extra = None
    if globs is not None:
        allowed = globs.allowed_outside_band(N, band.window, d, band.causal)  # (B, N, G)
        k_glob, v_glob = globs.gather(k), globs.gather(v)
        if d > 1:
            k_glob = k_glob.repeat_interleave(d, dim=0)  # (B * d, H, G, D): one copy per residue
            v_glob = v_glob.repeat_interleave(d, dim=0)
            allowed = _regroup_seq(allowed, d)  # (B * d, M, G)
        extra = (k_glob, v_glob, allowed)
    options = (band.window, key_valid, band.causal, band.block_size, band.dropout_p, extra)
    if d == 1:
        return _band_sdpa(q, k, v, *options)
    return _ungroup(_band_sdpa(_regroup(q, d), _regroup(k, d), _regroup(v, d), *options), d, N)


def _sliding_matmul(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: _Band, globs) -> torch.Tensor:
    """The band written out as matmul + softmax; global keys merged through the log-sum-exp.

    Shapes: q, k, v `[B, H, N, D]` -> `[B, H, N, D]` (global query rows still to be replaced).
    """
    B, _, N, D = q.shape
    d = band.dilation
    key_valid = band.key_valid(B, N, q.device)
    options = (band.window, key_valid, band.causal, band.block_size, band.dropout_p)
    qs = q * D**-0.5
    if d == 1:
        out, lse = _band_matmul(qs, k, v, *options)
    else:
        out, lse = _band_matmul(_regroup(qs, d), _regroup(k, d), _regroup(v, d), *options)
        out, lse = _ungroup(out, d, N), _ungroup(lse, d, N)
    if globs is None:
        return out
    allowed = globs.allowed_outside_band(N, band.window, d, band.causal)
    return _merge_by_lse(out, lse, qs, globs.gather(k), globs.gather(v), allowed, band.dropout_p)


def resolve_backend(backend: Backend) -> Literal["blocked", "matmul", "flex"]:
    """The sliding-window backend to use: "auto" is "blocked" (no compile cost); "flex" must be asked for."""
    if backend not in BACKENDS:
        raise UserError(f"`backend` must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "flex" and not flex_available():
        raise UserError("`backend` flex needs torch.nn.attention.flex_attention (PyTorch >= 2.5)")
    return "blocked" if backend == "auto" else backend


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
    B, H, N, _ = _check_qkv(q, k, v)
    if causal:
        raise UserError(
            "causal Linformer is not defined: E and F mix every position, future ones included "
            "(use `kind` full or sliding with `causal`)"
        )
    _check_projections(E, F_, q, H, N)
    kpm = _check_mask(key_padding_mask, "key_padding_mask", B, N, q.device)
    if kpm is not None:
        k = k.masked_fill(kpm[:, None, :, None], 0.0)
        v = v.masked_fill(kpm[:, None, :, None], 0.0)
    k_proj = E.to(q.dtype) @ k  # (K, N) or (H, K, N) @ (B, H, N, D) -> (B, H, K, D)
    v_proj = F_.to(q.dtype) @ v  # (B, H, K, D)
    out = F.scaled_dot_product_attention(q, k_proj, v_proj, dropout_p=dropout_p)
    # a NaN anywhere in E k or F v reaches every query of its (b, h) in the math; the fused kernel
    # would return finite zeros when all of a row's scores are NaN
    poison = 0.0 * (k_proj.sum((-2, -1), keepdim=True) + v_proj.sum((-2, -1), keepdim=True))  # (B, H, 1, 1)
    return _zero_padded_queries(_keep_nan_queries(out, q) + poison, kpm)


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
