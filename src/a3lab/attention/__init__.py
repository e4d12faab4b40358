"""Problem 3: linear-time self-attention, Longformer's sliding window and Linformer, against full attention.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, d dilation, K Linformer rank,
G global tokens per sequence, C query block, L = C + 2W keys seen by one query block, M = ceil(N / d).

Papers:
- Vaswani et al. 2017, "Attention is all you need": softmax(q k^T / sqrt(D)) v.
- Beltagy, Peters, Cohan 2020, "Longformer: the long-document transformer" (arXiv:2004.05150): every query
  attends the keys within `window * dilation` positions on the same dilation lattice, plus global tokens
  that attend and are attended by every position. HF's `attention_window` is two-sided (= 2 * window here).
- Wang et al. 2020, "Linformer: self-attention with linear complexity" (arXiv:2006.04768): keys and values
  are projected along the sequence to K rows, softmax(q (E k)^T / sqrt(D)) (F v), with E, F shared
  per head, between keys and values, or across layers.

Layout: `functional` holds the math (full_attention, sliding_window_attention, linformer_attention), `band`
the sliding window's blocked and matmul kernels and their backward, `flex` the FlexAttention backend,
`modules` the nn.Modules (MultiHeadSelfAttention, TransformerEncoder), `hf` the drop-in for Hugging Face
Longformer, `bench` and `sweep` the CPU and device benchmarks.

The sliding window never builds an N x N tensor. Its default backend ("blocked") cuts the queries into blocks
of C and hands each block with the L = C + 2W keys around it (a strided `unfold` view, no copy) to PyTorch's
fused `scaled_dot_product_attention` as one batch entry, so time and memory are O(N * (C + 2W)). A dilated
band is d ordinary bands on the tokens regrouped by position mod d. Global keys are appended to every block's
keys (one softmax); the "matmul" backend writes the same blocks out as matmul + softmax and merges the global
keys through the log-sum-exp of two partial softmaxes. The "flex" backend is
`torch.nn.attention.flex_attention`, compiled, with a block mask built once per shape and cached.
"""

from a3lab.attention.band import default_block_size
from a3lab.attention.flex import flex_available, flex_block_mask
from a3lab.attention.functional import (
    BACKENDS,
    KINDS,
    SHARINGS,
    Backend,
    Kind,
    Sharing,
    full_attention,
    linformer_attention,
    resolve_backend,
    sliding_window_attention,
)
from a3lab.attention.modules import (
    AttentionConfig,
    EncoderBlock,
    MultiHeadSelfAttention,
    TransformerEncoder,
    linformer_init,
)

__all__ = [
    "BACKENDS",
    "KINDS",
    "SHARINGS",
    "AttentionConfig",
    "Backend",
    "EncoderBlock",
    "Kind",
    "MultiHeadSelfAttention",
    "Sharing",
    "TransformerEncoder",
    "default_block_size",
    "flex_available",
    "flex_block_mask",
    "full_attention",
    "linformer_attention",
    "linformer_init",
    "resolve_backend",
    "sliding_window_attention",
]
