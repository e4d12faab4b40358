"""The sliding window through `torch.nn.attention.flex_attention`: compiled kernel, cached block masks.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, d dilation.

Paper: Beltagy et al. 2020 (Longformer). FlexAttention must be compiled to be fast (the first call per shape
compiles, which takes long on CPU); its block mask is built once per shape and options and cached. The kernel
is compiled for static shapes (inductor's CPU flex kernel does not build with dynamic ones), so sequences are
padded up to a few length buckets (`length_bucket`) and many lengths share one compiled kernel.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

import torch


def flex_available() -> bool:
    """Whether this PyTorch has FlexAttention."""
    try:
        import torch.nn.attention.flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


_BLOCK_MASKS: OrderedDict[tuple, object] = OrderedDict()
_BLOCK_MASK_CACHE_SIZE = 16
_COMPILED_FLEX: list = []
_COMPILE_BACKEND = "inductor"
_FLEX_BLOCK = 128
"""FlexAttention's block of queries and keys: buckets are multiples of it."""


def _flex_kernel() -> Callable[..., torch.Tensor]:
    """`flex_attention` compiled once per process (torch.compile then specialises per bucketed shape)."""
    if not _COMPILED_FLEX:
        from torch.nn.attention.flex_attention import flex_attention

        _COMPILED_FLEX.append(torch.compile(flex_attention, dynamic=False, backend=_COMPILE_BACKEND))
    return _COMPILED_FLEX[0]


def length_bucket(n: int) -> int:
    """The padded length the flex kernel runs at: a multiple of 128, four buckets per octave above 512.

    Padding costs at most a quarter more work and keeps the compiled shapes to about 4 log2(N / 512).

    >>> [length_bucket(n) for n in (1, 128, 129, 512, 513, 1000, 1025, 4096)]
    [128, 128, 256, 512, 640, 1024, 1280, 4096]
    """
    step = max(_FLEX_BLOCK, 1 << max(0, (n - 1).bit_length() - 3))
    return -(-n // step) * step


def _mask_key(mask: torch.Tensor | None) -> tuple | None:
    if mask is None:
        return None
    return (tuple(mask.shape), hashlib.sha1(mask.to(torch.uint8).cpu().numpy().tobytes()).hexdigest())


def flex_block_mask(
    B: int,
    N: int,
    window: int,
    dilation: int,
    global_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    causal: bool,
    device: torch.device,
):
    """The FlexAttention `BlockMask` of the sliding-window contract at the padded length `length_bucket(N)`.

    Keys at positions >= N are the bucket's padding and never attended. Building a mask is slow on CPU for
    long sequences, so it is kept (LRU, 16 entries) keyed on the shape, the options and the masks' contents.

    Shapes: masks bool `[B, N]`.
    """
    from torch.nn.attention.flex_attention import create_block_mask

    key = (B, N, window, dilation, causal, str(device), _mask_key(global_mask), _mask_key(key_padding_mask))
    if key in _BLOCK_MASKS:
        _BLOCK_MASKS.move_to_end(key)
        return _BLOCK_MASKS[key]
    Np = length_bucket(N)
    reach = window * dilation
    # a tensor, not an int: an int captured by mask_mod would be compiled in, one kernel per length
    n_valid = torch.tensor(N, device=device)
    global_mask = None if global_mask is None else _pad_tail(global_mask, Np, False)
    key_padding_mask = None if key_padding_mask is None else _pad_tail(key_padding_mask, Np, True)

    def mask_mod(b, h, q_idx, kv_idx):
        offset = q_idx - kv_idx
        allowed = (offset.abs() <= reach) & (offset % dilation == 0)
        if global_mask is not None:
            allowed = allowed | global_mask[b, q_idx] | global_mask[b, kv_idx]
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[b, kv_idx]
        if causal:
            allowed = allowed & (offset >= 0)
        return allowed & (kv_idx < n_valid)

    if global_mask is None and key_padding_mask is None:
        block_mask = _band_block_mask(mask_mod, N, Np, reach, dilation, causal, device)
    else:
        block_mask = create_block_mask(mask_mod, B, None, Np, Np, device=str(device))
    _BLOCK_MASKS[key] = block_mask
    if len(_BLOCK_MASKS) > _BLOCK_MASK_CACHE_SIZE:
        _BLOCK_MASKS.popitem(last=False)
    return block_mask


def _pad_tail(x: torch.Tensor, length: int, value: bool | float) -> torch.Tensor:
    """`x` padded with `value` along dim 2 (`[B, H, N, D]`) or dim 1 (masks `[B, N]`) up to `length`."""
    dim = 2 if x.dim() == 4 else 1
    if x.shape[dim] == length:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim) + [0, length - x.shape[dim]]
    return torch.nn.functional.pad(x, pad, value=value)


def _band_block_mask(mask_mod, N: int, Np: int, reach: int, dilation: int, causal: bool, device: torch.device):
    """A band's BlockMask from block arithmetic, O((Np / 128)^2) instead of evaluating mask_mod on Np^2 pairs.

    Query block i and key block j hold offsets q - kv in [(i - j) * S - (S - 1), (i - j) * S + (S - 1)]:
    the block is skipped when that range misses the band [-reach, reach] (or [0, reach] when causal) or the
    keys all lie past the N real tokens, full when it lies inside the band (no dilation, no key past N),
    and partial (mask_mod applied) otherwise.
    """
    from torch.nn.attention.flex_attention import BlockMask

    size = _FLEX_BLOCK
    nblocks = Np // size
    i = torch.arange(nblocks, device=device)
    gap = (i[:, None] - i[None, :]) * size  # (nq, nkv)
    lo, hi = gap - (size - 1), gap + (size - 1)
    band_lo = 0 if causal else -reach
    touched = (hi >= band_lo) & (lo <= reach) & (i[None, :] * size < N)
    ragged = ((i[None, :] + 1) * size > N).expand_as(touched)  # key blocks holding bucket padding
    full = touched & (lo >= band_lo) & (hi <= reach) & (dilation == 1) & ~ragged
    partial = touched & ~full

    def indices(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = blocks.sum(-1).to(torch.int32)  # (nq,)
        order = torch.argsort((~blocks).to(torch.int8), dim=-1, stable=True).to(torch.int32)  # used blocks first
        return count[None, None], order[None, None]  # (1, 1, nq), (1, 1, nq, nkv)

    kv_num, kv_idx = indices(partial)
    full_num, full_idx = indices(full)
    return BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=size, mask_mod=mask_mod,
                                    seq_lengths=(Np, Np))  # fmt: skip


def flex_sliding_window(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    dilation: int,
    global_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    causal: bool,
) -> torch.Tensor:
    """The sliding-window contract through compiled FlexAttention and a cached block mask.

    q, k and v are padded with zeros up to `length_bucket(N)` (keys there are masked out, query rows there
    dropped), so lengths in one bucket share a compiled kernel.

    Shapes: q, k, v `[B, H, N, D]`, masks `[B, N]` -> `[B, H, N, D]`.
    """
    B, _, N, _ = q.shape
    block_mask = flex_block_mask(B, N, window, dilation, global_mask, key_padding_mask, causal, q.device)
    Np = length_bucket(N)
    q, k, v = (_pad_tail(t, Np, 0.0) for t in (q, k, v))
    return _flex_kernel()(q, k, v, block_mask=block_mask)[:, :, :N]
