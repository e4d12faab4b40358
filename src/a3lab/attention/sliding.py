"""Longformer's sliding-window attention (Beltagy et al. 2020, arXiv:2004.05150) on q, k, v `[B, H, N, D]`:
the checks, the global tokens, and the dispatch to a backend ("blocked", "matmul", "flex").

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, d dilation, G global tokens per sequence,
C query block, M = ceil(N / d). The band's kernels are in `band`; see the package docstring for how the
window stays O(N * W).
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
from a3lab.attention.inputs import check_mask, check_positive, check_qkv, keep_nan_queries, zero_padded_queries
from a3lab.errors import UserError


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
    B, _, N, _ = check_qkv(q, k, v)
    check_positive("window", window)
    check_positive("dilation", dilation)
    if block_size is not None:
        check_positive("block_size", block_size)
    kpm = check_mask(key_padding_mask, "key_padding_mask", B, N, q.device)
    gm = check_mask(global_mask, "global_mask", B, N, q.device)
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
    return zero_padded_queries(keep_nan_queries(out, q), kpm)


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
