"""The causal sliding window i - W <= j <= i as query blocks over C + W keys instead of C + 2W.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, h = ceil(W / 2), C query block,
nb = ceil(N / C) blocks, L = C + 2h keys seen by one query block.

Paper: Beltagy et al. 2020 (Longformer, arXiv:2004.05150), causal form as in Mistral (Jiang et al. 2023,
arXiv:2310.06825). The symmetric band of `a3lab.attention.band` gives each block of C queries the keys W
before and W after it, and a causal mask then discards the W after: half its work. Here the keys are
shifted h positions later before the same strided windows are cut, so a block's window of C + 2h keys ends
at its last query: the keys it needs, plus one when W is odd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from a3lab.attention.band import _additive, _masked_sdpa, _windows, default_block_size


def causal_band_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None = None,
    *,
    block_size: int | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Query i attends key j iff i - window <= j <= i and j is valid, in O(N * (C + W)) time and memory.

    Outputs at invalid (padded) query positions are zero, as in `sliding_window_attention`.

    Args:
        q, k, v: queries, keys, values; the scores are scaled by 1 / sqrt(D).
        window: one-sided window W >= 1.
        key_valid: bool `[B, N]`, True = a key that may be attended; None = all.
        block_size: query block C (default `default_block_size`).
        dropout_p: dropout on the attention probabilities.

    Shapes: q, k, v `[B, H, N, D]` -> `[B, H, N, D]`.
    """
    B, H, N, D = q.shape
    grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    C = min(block_size or default_block_size(window, N, grad), N)
    nb, h = -(-N // C), (window + 1) // 2
    Np, L = nb * C, C + 2 * h
    # slot s of the shifted keys holds key s - h, so block b's window of slots b*C - h .. b*C + C + h - 1
    # holds the keys b*C - 2h .. b*C + C - 1
    kw = _windows(F.pad(k, (0, 0, h, 0)), h, C, nb)  # (B, H, nb, L, D)
    vw = _windows(F.pad(v, (0, 0, h, 0)), h, C, nb)
    allowed = _allowed(key_valid, B, N, window, C, nb, h, q.device)  # (B or 1, nb, C, L)
    qb = (q if Np == N else F.pad(q, (0, 0, 0, Np - N))).view(B, H, nb, C, D)
    if key_valid is None:  # one mask for every sequence: B folds into the heads
        mask = _additive(allowed[0], q.dtype)[:, None]  # (nb, 1, C, L)
        fold = (t.flatten(0, 1).transpose(0, 1) for t in (qb, kw, vw))  # (nb, B*H, C or L, D)
        out = _masked_sdpa(*fold, mask, dropout_p)  # (nb, B*H, C, D)
        return out.transpose(0, 1).reshape(B, H, Np, D)[:, :, :N]
    mask = _additive(allowed, q.dtype).reshape(B * nb, 1, C, L)
    fold = (t.transpose(1, 2).reshape(B * nb, H, -1, D) for t in (qb, kw, vw))  # (B*nb, H, C or L, D)
    out = _masked_sdpa(*fold, mask, dropout_p)  # (B*nb, H, C, D)
    out = out.view(B, nb, H, C, D).transpose(1, 2).reshape(B, H, Np, D)[:, :, :N]
    return out.masked_fill(~key_valid[:, None, :, None], 0.0)


def _allowed(
    key_valid: torch.Tensor | None, B: int, N: int, window: int, C: int, nb: int, h: int, device: torch.device
) -> torch.Tensor:
    """Which of the L keys of each block's window each of its queries sees (in range, in the window, valid).

    Slot l of query row c in block b is key b*C - 2h + l, at distance c + 2h - l before the query.

    Shapes: key_valid `[B, N]` or None -> `[B or 1, nb, C, L]`.
    """
    L = C + 2 * h
    behind = torch.arange(C, device=device)[:, None] + 2 * h - torch.arange(L, device=device)[None, :]  # (C, L)
    in_window = (behind >= 0) & (behind <= window)
    valid = key_valid if key_valid is not None else torch.ones(1, N, dtype=torch.bool, device=device)
    valid = F.pad(valid, (2 * h, nb * C - N), value=False).unfold(1, L, C)  # (B or 1, nb, L)
    return in_window & valid[:, :, None, :]
