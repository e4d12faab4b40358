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

Layout: `functional` holds the math (full_attention, linformer_attention, and sliding_window_attention from
`sliding`, which checks the window's options, gathers the global tokens and picks a backend), `inputs` the
checks and output rules every attention function shares, `band` the sliding window's blocked and matmul
kernels and their backward, `causal_band` the causal window over half the keys, `flex` the FlexAttention
backend, `config` a layer's `AttentionConfig`, `modules` the nn.Modules (MultiHeadSelfAttention,
TransformerEncoder), `hf` the drop-in for Hugging Face Longformer, `hf_backend` (with `hf_mask`) the attention
implementation "a3lab" of transformers for every sliding-window model. The learning experiments: `task_config`
(their nested configs and presets), `tasks` (data, classifier, training), `linformer_error`, `experiment`. The
benchmarks: `bench_config`, `bench_methods`, `hf_bench`, `hf_backend_bench`, `memory`, `bench` (CPU), `sweep`
(device), `cost` (the report's). `section` holds the report's two sections.
The names below load on first use, so the configs import no torch.

The sliding window never builds an N x N tensor. Its default backend ("blocked") cuts the queries into blocks
of C and hands each block with the L = C + 2W keys around it (a strided `unfold` view, no copy) to PyTorch's
fused `scaled_dot_product_attention` as one batch entry, so time and memory are O(N * (C + 2W)). A dilated
band is d ordinary bands on the tokens regrouped by position mod d. Global keys are appended to every block's
keys (one softmax); the "matmul" backend writes the same blocks out as matmul + softmax and merges the global
keys through the log-sum-exp of two partial softmaxes. The "flex" backend is
`torch.nn.attention.flex_attention`, compiled, with a block mask built once per shape and cached.
"""

from __future__ import annotations

from a3lab.lazy import served

_HOMES = {
    "causal_band_attention": "causal_band",
    "default_block_size": "band",
    "flex_available": "flex",
    "flex_block_mask": "flex",
    "BACKENDS": "config",
    "KINDS": "config",
    "SHARINGS": "config",
    "Backend": "config",
    "Kind": "config",
    "Sharing": "config",
    "full_attention": "functional",
    "linformer_attention": "functional",
    "resolve_backend": "sliding",
    "sliding_window_attention": "sliding",
    "AttentionConfig": "config",
    "EncoderBlock": "modules",
    "MultiHeadSelfAttention": "modules",
    "TransformerEncoder": "modules",
    "linformer_init": "modules",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = served(__name__, _HOMES)
