"""a3lab as an attention implementation of Hugging Face transformers: sliding-window layers in O(N * W).

Legend: B batch, H query heads, Hkv key/value heads, Nq queries, Nk keys, D head dim, W one-sided window,
M keys around a block of queries.

Paper: Beltagy et al. 2020 (Longformer, arXiv:2004.05150) for the band. transformers 5 calls every layer's
attention through `AttentionInterface[config._attn_implementation]` and builds its masks through
`AttentionMaskInterface` of the same name. `register()` adds "a3lab" to both: the mask side
(`a3lab.attention.hf_mask.band_mask`) hands over the band and the padding instead of a dense mask, and
`attention` computes sliding-window layers with `sliding_window_attention` (bidirectional) or
`causal_band_attention` (causal), full-attention layers with HF's own SDPA function. A mask that is not a
band falls back to HF's SDPA, with one warning per reason. `transformers` is optional: it is imported by
`register` and by the calls.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.attention.causal_band import causal_band_attention
from a3lab.attention.functional import sliding_window_attention
from a3lab.attention.hf_mask import BandMask, band_mask

NAME = "a3lab"
"""the key under which `register` adds a3lab to transformers' interfaces"""

_WARNED: set[str] = set()


def register() -> str:
    """Register "a3lab" as an attention implementation (and its mask function) in transformers.

    Afterwards `AutoModel.from_config(config, attn_implementation="a3lab")`, `from_pretrained(...,
    attn_implementation="a3lab")` and `model.set_attn_implementation("a3lab")` use it. Calling it again is
    harmless. Returns the name.

    Example:
        >>> from a3lab.attention.hf_backend import register  # doctest: +SKIP
        >>> model = AutoModel.from_config(config, attn_implementation=register())  # doctest: +SKIP
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, band_mask)
    return NAME


def attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: BandMask | torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    softcap: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """HF's attention-function contract: a band where the mask is one, HF's SDPA where it is not.

    Args:
        module: the calling attention layer (`num_key_value_groups`, `is_causal` are read by HF's SDPA).
        query, key, value: the projected heads; key and value may have fewer heads (grouped-query
            attention) and more positions than the query (a KV cache).
        attention_mask: what `band_mask` built for this layer type, or a tensor / None from elsewhere
            (a caller's 4-D mask), which goes to HF's SDPA as given.
        dropout: attention dropout probability (HF passes 0 in evaluation).
        scaling: the score scale (default 1 / sqrt(D)).
        sliding_window: the layer's window as the model states it; the band itself is read from the mask,
            which is what HF's SDPA would apply.
        softcap: logit soft-capping (Gemma 2); refused, as HF's SDPA refuses it.

    Shapes: query `[B, H, Nq, D]`, key, value `[B, Hkv, Nk, D]` -> (`[B, Nq, H, D]`, None).
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if softcap is not None:
        raise ValueError(
            "a3lab attention has no logit soft-capping (softcap): set the config's attn_logit_softcapping=None "
            "or use attn_implementation='eager'"
        )
    if kwargs.get("s_aux") is not None:
        raise ValueError("a3lab attention has no attention sinks (s_aux): use attn_implementation='eager'")
    args = dict(dropout=dropout, scaling=scaling, **kwargs)
    if not isinstance(attention_mask, BandMask):
        if sliding_window is not None:
            _warn_once("the layer got no a3lab mask (a 4-D mask passed by the caller, or no mask at all)")
        return sdpa_attention_forward(module, query, key, value, attention_mask, **args)
    if attention_mask.fallback is not None:
        if sliding_window is not None:
            _warn_once(attention_mask.fallback)
        return sdpa_attention_forward(module, query, key, value, attention_mask.dense, **args)
    if attention_mask.window is None:
        if sliding_window is not None:
            _warn_once("the layer asks for a sliding window but the model built a full-attention mask")
        args["is_causal"] = attention_mask.causal
        return sdpa_attention_forward(module, query, key, value, attention_mask.dense, **args)
    out = band_attention(query, key, value, attention_mask, scaling, dropout)  # (B, H, Nq, D)
    return out.transpose(1, 2).contiguous(), None


def band_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BandMask, scaling: float | None, dropout_p: float
) -> torch.Tensor:
    """Attention of the queries over the keys inside the band `mask` describes.

    Query i sits at position `mask.q_offset + i`, key j at `mask.kv_offset + j`. When both start at the same
    position and are as many (a forward without cache, a prefill), the whole band is computed at
    once. Otherwise only the M keys within W of the queries are used: a block of at
    most 2W queries (a decode step, a short chunk) attends them through one SDPA call with a `[Nq, M]` mask,
    a longer block is placed at its positions among those keys and computed as a band.

    Shapes: q `[B, H, Nq, D]`, k, v `[B, Hkv, Nk, D]` -> `[B, H, Nq, D]`.
    """
    H, Nq, D = q.shape[1:]
    Hkv, Nk = k.shape[1], k.shape[2]
    if H % Hkv:
        raise ValueError(f"query heads ({H}) must be a multiple of key/value heads ({Hkv})")
    k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)  # (B, H, Nk, D)
    scale = D**-0.5 if scaling is None else scaling
    W, start = mask.window, mask.q_offset - mask.kv_offset  # start: index of the first query among the keys
    valid = None if mask.key_valid is None else mask.key_valid[:, :Nk]
    if W >= 1 and start == 0 and Nq == Nk and Nq > 2 * W:
        qs = q if scale == D**-0.5 else q * (scale * D**0.5)  # the band scales by 1 / sqrt(D)
        return _band(qs, k, v, W, valid, mask.causal, dropout_p)
    lo = min(max(0, start - W), Nk)
    hi = max(min(Nk, start + Nq + (0 if mask.causal else W)), lo)
    keys = BandMask(mask.causal, W, mask.q_offset, mask.kv_offset + lo, None if valid is None else valid[:, lo:hi])
    if W >= 1 and Nq > 2 * W and start >= lo and start + Nq <= hi:
        return _placed_band(q, k[:, :, lo:hi], v[:, :, lo:hi], keys, start - lo, scale, dropout_p)
    allowed = keys.allowed(Nq, hi - lo, q.device)  # (B or 1, 1, Nq, M)
    out = F.scaled_dot_product_attention(
        q, k[:, :, lo:hi], v[:, :, lo:hi], attn_mask=allowed, dropout_p=dropout_p, scale=scale
    )
    return out.masked_fill(~allowed.any(-1, keepdim=True), 0.0)  # a query with no key outputs zero, as in the band


def _placed_band(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BandMask, at: int, scale: float, dropout_p: float
) -> torch.Tensor:
    """A block of queries placed at rows `at .. at + Nq` of a zero-filled sequence as long as the keys, then
    the band over it; the filler rows are dropped.

    Shapes: q `[B, H, Nq, D]`, k, v `[B, H, M, D]` -> `[B, H, Nq, D]`.
    """
    B, H, Nq, D = q.shape
    placed = q.new_zeros(B, H, k.shape[2], D)  # (B, H, M, D)
    placed[:, :, at : at + Nq] = q * (scale * D**0.5)
    return _band(placed, k, v, mask.window, mask.key_valid, mask.causal, dropout_p)[:, :, at : at + Nq]


def _band(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None,
    causal: bool,
    dropout_p: float,
) -> torch.Tensor:
    """The band |i - j| <= W, or i - W <= j <= i when causal, over keys as many as the queries.

    Shapes: q, k, v `[B, H, N, D]`, key_valid `[B, N]` -> `[B, H, N, D]`.
    """
    if causal:  # the causal band's blocks see C + W keys, the symmetric one's C + 2W
        return causal_band_attention(q, k, v, window, key_valid, dropout_p=dropout_p)
    padding = None if key_valid is None else ~key_valid
    return sliding_window_attention(q, k, v, window, key_padding_mask=padding, dropout_p=dropout_p)


def _warn_once(reason: str) -> None:
    """Say once per reason that a layer falls back to SDPA."""
    if reason not in _WARNED:
        _WARNED.add(reason)
        warnings.warn(f"a3lab attention falls back to SDPA (dense mask): {reason}", stacklevel=3)
