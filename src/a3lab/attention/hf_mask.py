"""What a3lab's attention backend takes from Hugging Face's mask builders instead of an N x N mask.

Legend: B batch, Nq queries, Nk keys, W one-sided window (query i sees keys j with |i - j| <= W, and j <= i
when causal).

transformers builds one mask per layer type through `AttentionMaskInterface[config._attn_implementation]`,
handing it a `mask_function` (an index rule such as `kv_idx > q_idx - sliding_window` and `kv_idx <= q_idx`),
the 2-D padding mask and the positions of the first query and key. Its "sdpa" function renders that rule as a
dense `(B, 1, Nq, Nk)` mask; `band_mask` reads the rule instead and returns a `BandMask`: the band's width and
direction, the offsets and the padding, O(B * Nk) in all. A rule it does not recognise (a custom overlay,
packed sequences, image tokens) becomes HF's own dense sdpa mask with the reason attached, so the attention
function falls back to SDPA on exactly what HF would have computed. `transformers` is imported only when a
mask is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class BandMask:
    """The mask of one layer type, as a band plus padding.

    Shapes: key_valid `[B, Nk]` (True = a key that may be attended) or None when every key may;
    dense `[B, 1, Nq or 1, Nk]` bool or None.
    """

    causal: bool
    """query i sees only keys at positions <= i"""
    window: int | None
    """one-sided W: keys within W positions of the query; None = full attention"""
    q_offset: int
    """position of the first query"""
    kv_offset: int
    """position of the first key"""
    key_valid: torch.Tensor | None
    """which keys are not padding"""
    dense: torch.Tensor | None = None
    """the mask SDPA gets on full-attention layers, or on every layer when `fallback` is set"""
    fallback: str | None = None
    """why the rule is not a band (the attention then runs HF's SDPA on `dense`)"""

    def allowed(self, q_length: int, kv_length: int, device: torch.device) -> torch.Tensor:
        """The band rendered densely for a block of queries: what HF's sdpa mask holds there.

        Only for blocks whose size is O(N * W) (a decode step, a short chunk) and for tests.

        Shapes: -> bool `[B or 1, 1, q_length, kv_length]`.
        """
        q_pos = torch.arange(q_length, device=device)[:, None] + self.q_offset
        k_pos = torch.arange(kv_length, device=device)[None, :] + self.kv_offset
        rel = k_pos - q_pos  # (Nq, Nk): key position minus query position
        ok = torch.ones_like(rel, dtype=torch.bool)
        if self.causal:
            ok &= rel <= 0
        if self.window is not None:
            ok &= (rel >= -self.window) & (rel <= (0 if self.causal else self.window))
        ok = ok[None, None]
        if self.key_valid is not None:
            ok = ok & self.key_valid[:, None, None, :kv_length]
        return ok


def band_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int | torch.Tensor = 0,
    kv_offset: int = 0,
    mask_function: Callable | None = None,
    attention_mask: torch.Tensor | None = None,
    **kwargs,
) -> BandMask:
    """a3lab's entry in `AttentionMaskInterface`: HF's mask arguments -> a `BandMask`, no N x N tensor.

    The keywords are those HF passes to every mask function (`sdpa_mask` documents them); the others
    (`local_size`, `allow_is_causal_skip`, `dtype`, `config`, `use_vmap`, `device`) are forwarded to HF's
    `sdpa_mask` where the dense mask is still needed.
    """
    from transformers.masking_utils import causal_mask_function, prepare_padding_mask, sdpa_mask

    mask_function = mask_function or causal_mask_function
    args = dict(batch_size=batch_size, q_length=q_length, kv_length=kv_length, q_offset=q_offset)
    args |= dict(kv_offset=kv_offset, mask_function=mask_function, attention_mask=attention_mask, **kwargs)
    rule = read_rule(mask_function)
    q_offset = int(q_offset)
    if isinstance(rule, str):
        return BandMask(False, None, q_offset, kv_offset, None, dense=sdpa_mask(**args), fallback=rule)
    causal, window = rule
    padding = prepare_padding_mask(attention_mask, kv_length, kv_offset)
    key_valid = None if padding is None else padding[:, kv_offset : kv_offset + kv_length].bool()
    if key_valid is not None and bool(key_valid.all()):
        key_valid = None
    mask = BandMask(causal, window, q_offset, kv_offset, key_valid)
    if window is None:  # full attention: what HF's sdpa path gets, with padding-only masks kept O(B * Nk)
        if causal:
            mask.dense = sdpa_mask(**args)
        elif key_valid is not None:
            mask.dense = key_valid[:, None, None, :]  # (B, 1, 1, Nk): SDPA broadcasts it over the queries
    return mask


def read_rule(mask_function: Callable) -> tuple[bool, int | None] | str:
    """(causal, one-sided window or None) of one of HF's plain mask rules, or why it is not one.

    HF combines its rules with `and_masks`; the rules read here are the causal and bidirectional ones and
    the causal and bidirectional sliding-window overlays. Their windows differ by one: the causal overlay
    keeps `kv_idx > q_idx - sliding_window` (W = sliding_window - 1), the bidirectional one
    `|q_idx - kv_idx| <= sliding_window` (W = sliding_window).
    """
    from transformers import masking_utils as mu

    leaves = _and_leaves(mask_function)
    if leaves is None:
        return "the model's mask combines rules with a custom or union mask function"
    causal = bidirectional = False
    windows: list[int] = []
    for leaf in leaves:
        if leaf is mu.causal_mask_function:
            causal = True
        elif leaf is mu.bidirectional_mask_function:
            bidirectional = True
        elif _made_by(leaf, mu.sliding_window_overlay):
            windows.append(_closure(leaf)["sliding_window"] - 1)
            causal = True
        elif _made_by(leaf, mu.sliding_window_bidirectional_overlay):
            windows.append(_closure(leaf)["sliding_window"])
        else:
            return f"the model's mask uses a rule a3lab does not read ({getattr(leaf, '__qualname__', leaf)!r})"
    if causal == bidirectional:
        return "the model's mask is neither causal nor bidirectional"
    return causal, min(windows) if windows else None


def _and_leaves(fn: Callable) -> list[Callable] | None:
    """The rules an `and_masks(...)` intersects, flattened; None if an `or_masks` is inside."""
    from transformers import masking_utils as mu

    if _made_by(fn, mu.or_masks):
        return None
    if not _made_by(fn, mu.and_masks):
        return [fn]
    leaves: list[Callable] = []
    for part in _closure(fn)["mask_functions"]:
        inner = _and_leaves(part)
        if inner is None:
            return None
        leaves += inner
    return leaves


def _made_by(fn: Callable, factory: Callable) -> bool:
    """Whether `fn` is the inner function that `factory` returns."""
    qualname = getattr(fn, "__qualname__", "")
    return qualname.startswith(factory.__qualname__ + ".<locals>.") and fn.__module__ == factory.__module__


def _closure(fn: Callable) -> dict[str, object]:
    """The variables an inner function closes over, by name."""
    return dict(zip(fn.__code__.co_freevars, (cell.cell_contents for cell in fn.__closure__ or ())))
