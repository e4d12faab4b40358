"""A drop-in for Hugging Face Longformer: its self-attention computed by a3lab's sliding window.

Legend: B batch, N tokens (already padded by HF to a multiple of the window), H heads, D head dim,
E = H * D hidden size, W one-sided window (HF's `attention_window` of the layer is 2 W), G global tokens.

Paper: Beltagy et al. 2020 (Longformer, arXiv:2004.05150). HF's `LongformerSelfAttention` is the reference:
a token that is not global attends the tokens within W of it and every global token, through the `query`,
`key` and `value` projections; a global token attends every token through the separate `query_global`,
`key_global` and `value_global` projections; padded positions output zero. `patch_longformer` keeps the
same modules (and so the same parameters, state-dict keys and optimiser state) and replaces only how the
attention is computed. `transformers` is optional: it is imported when a model is patched.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.attention.functional import Backend, resolve_backend, sliding_window_attention
from a3lab.attention.hf_backend import register as register  # attn_implementation="a3lab" for any model
from a3lab.errors import UserError


def patch_longformer(model: nn.Module, backend: Backend = "auto") -> int:
    """Make every `LongformerSelfAttention` in `model` compute its attention with `sliding_window_attention`.

    Each module is patched in place: its class becomes `A3labLongformerSelfAttention`, a module-level
    subclass of HF's (so a patched model pickles with `torch.save`), and nothing else changes: the same
    parameters, state-dict keys, optimiser parameter groups and registered hooks. `output_attentions=True`
    falls back to HF's own computation (HF returns the attention probabilities, which the fused kernels do
    not form). Modules patched before take the new `backend` and are not counted again.

    Args:
        model: a `transformers` Longformer model (LongformerModel, LongformerForMaskedLM, ...) or one
            `LongformerSelfAttention`; patched in place.
        backend: the sliding-window backend (see `sliding_window_attention`), checked here.

    Returns:
        The number of self-attention modules newly patched.

    Raises:
        UserError: `backend` is not a backend, or `model` holds no `LongformerSelfAttention` (other
            models' attention, LED's Longformer-style encoder included, is a different class).

    Example:
        >>> from transformers import LongformerConfig, LongformerModel  # doctest: +SKIP
        >>> model = LongformerModel(LongformerConfig(attention_window=[64, 128]))  # doctest: +SKIP
        >>> patch_longformer(model)  # doctest: +SKIP
        12
    """
    from transformers.models.longformer.modeling_longformer import LongformerSelfAttention

    resolve_backend(backend)
    patched_class = _patched_class()
    found = [module for module in model.modules() if isinstance(module, LongformerSelfAttention)]
    if not found:
        raise UserError(
            f"patch_longformer found no transformers LongformerSelfAttention in {type(model).__name__}: it patches "
            "Longformer models (LongformerModel, LongformerForMaskedLM, ...), not other models' attention"
        )
    fresh = [module for module in found if not isinstance(module, patched_class)]
    for module in fresh:
        module.__class__ = patched_class  # same object: parameters, buffers and hooks stay where they are
    for module in found:
        module.a3lab_backend = backend
    return len(fresh)


_CLASS: list[type] = []


def _patched_class() -> type:
    """`A3labLongformerSelfAttention`, made on first use so that `transformers` stays an optional import."""
    if not _CLASS:
        from transformers.models.longformer.modeling_longformer import LongformerSelfAttention

        doc = "HF's `LongformerSelfAttention` computed by a3lab's sliding window (see `patch_longformer`)."
        _CLASS.append(
            type("A3labLongformerSelfAttention", (_PatchedMethods, LongformerSelfAttention), {"__module__": __name__,
                 "__qualname__": "A3labLongformerSelfAttention", "__doc__": doc})
        )  # fmt: skip
    return _CLASS[0]


def __getattr__(name: str):
    """The patched class is an attribute of this module, so pickle finds it by name (PEP 562)."""
    if name == "A3labLongformerSelfAttention":
        return _patched_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _PatchedMethods:
    """The methods of the patched class (mixed in before HF's module by `_patched_class`)."""

    a3lab_backend: Backend = "auto"

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        is_index_masked: torch.Tensor | None = None,
        is_index_global_attn: torch.Tensor | None = None,
        is_global_attn: bool | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor]:
        """HF's signature and output `(attn_output [B, N, E],)`; masks as HF's encoder passes them."""
        if output_attentions:
            return super().forward(  # type: ignore[misc]
                hidden_states, attention_mask, is_index_masked, is_index_global_attn, is_global_attn, True
            )
        B, N, _ = hidden_states.shape
        padding = attention_mask < 0 if is_index_masked is None else is_index_masked  # (B, N)
        glob = attention_mask > 0 if is_index_global_attn is None else is_index_global_attn  # (B, N)
        q, k, v = (self._heads(proj(hidden_states)) for proj in (self.query, self.key, self.value))
        p = self.dropout if self.training else 0.0
        W = self.one_sided_attn_window_size
        has_global = bool(glob.any()) if is_global_attn is None else bool(is_global_attn)
        out = sliding_window_attention(
            q, k, v, W, global_mask=glob if has_global else None, key_padding_mask=padding if padding.any() else None,
            backend=self.a3lab_backend, dropout_p=p,
        )  # fmt: skip
        if has_global:
            out = self._global_rows(hidden_states, out, glob, padding, p)
        return (out.transpose(1, 2).reshape(B, N, self.embed_dim),)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, N, E]` -> `[B, H, N, D]`."""
        B, N, _ = x.shape
        return x.view(B, N, self.num_heads, self.head_dim).transpose(1, 2)

    def _global_rows(
        self, hidden: torch.Tensor, out: torch.Tensor, glob: torch.Tensor, padding: torch.Tensor, dropout_p: float
    ) -> torch.Tensor:
        """Replace each global token's row by its attention over all tokens through the *_global projections.

        HF projects all N tokens through `key_global` and `value_global` for the G global queries. The
        same scores and outputs come from the hidden states directly, in O(H G N E) instead of O(N E^2):
        q_g . (W_k h + b_k) = (q_g W_k) . h + q_g . b_k, and sum_j p_j (W_v h_j + b_v) = W_v (sum_j p_j h_j) + b_v
        because each row of p sums to 1.

        Shapes: hidden `[B, N, E]`, out `[B, H, N, D]`, glob and padding bool `[B, N]` -> `[B, H, N, D]`.
        """
        B, H, N, D = out.shape
        counts = glob.sum(1)  # (B,)
        G = int(counts.max())
        index = torch.argsort((~glob).to(torch.int8), dim=1, stable=True)[:, :G]  # (B, G), global tokens first
        slot_valid = torch.arange(G, device=out.device)[None, :] < counts[:, None]  # (B, G)
        hidden_glob = hidden.gather(1, index[:, :, None].expand(B, G, hidden.shape[-1]))  # (B, G, E)
        qg = self._heads(self.query_global(hidden_glob)) * D**-0.5  # (B, H, G, D)
        w_k = self.key_global.weight.view(H, D, -1)  # (H, D, E)
        scores = torch.einsum("bhgd,hde->bhge", qg, w_k) @ hidden.transpose(1, 2)[:, None]  # (B, H, G, N)
        scores = scores + (qg * self.key_global.bias.view(H, D)[:, None]).sum(-1, keepdim=True)
        scores = scores.masked_fill(padding[:, None, None, :], torch.finfo(scores.dtype).min)
        probs = F.dropout(torch.softmax(scores, dim=-1), dropout_p) if dropout_p else torch.softmax(scores, dim=-1)
        mixed = probs @ hidden[:, None]  # (B, H, G, E)
        w_v = self.value_global.weight.view(H, D, -1)  # (H, D, E)
        rows = torch.einsum("bhge,hde->bhgd", mixed, w_v) + self.value_global.bias.view(H, D)[:, None]  # (B,H,G,D)
        target = torch.where(slot_valid, index, N)[:, None, :, None].expand(B, H, G, D)  # filler slots -> row N
        # under autocast the band runs in the low precision while the fp32 biases promote `rows`
        rows = rows.to(out.dtype)
        return torch.cat([out, out.new_zeros(B, H, 1, D)], dim=2).scatter(2, target, rows)[:, :, :N]


def attention_seconds(model: nn.Module, call, repeats: int = 1) -> dict[str, float]:
    """Process CPU seconds of one `call()`: in total, and inside the Longformer self-attention modules.

    Forward hooks on every `LongformerSelfAttention` (patched or not) time the modules' own forward
    (projections and attention, not the output dense layer): the medians over `repeats` calls after one
    warm-up call. Returns {"model_s", "attention_s", "attention_share"}.
    """
    import statistics
    import time

    from transformers.models.longformer.modeling_longformer import LongformerSelfAttention

    spent: list[float] = []
    starts: list[float] = []
    modules = [m for m in model.modules() if isinstance(m, LongformerSelfAttention)]
    handles = [m.register_forward_pre_hook(lambda *_: starts.append(time.process_time())) for m in modules]
    handles += [m.register_forward_hook(lambda *_: spent.append(time.process_time() - starts.pop())) for m in modules]
    totals, inside = [], []
    try:
        for i in range(repeats + 1):
            spent.clear()
            start = time.process_time()
            call()
            if i:
                totals.append(time.process_time() - start)
                inside.append(math.fsum(spent))
    finally:
        for handle in handles:
            handle.remove()
    model_s, attention_s = statistics.median(totals), statistics.median(inside)
    return {"model_s": model_s, "attention_s": attention_s, "attention_share": attention_s / model_s}
