"""a3lab.attention.hf_mask: the band read from HF's mask rules is the mask HF's sdpa builds, family by family."""

from __future__ import annotations

import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers import masking_utils as mu  # noqa: E402

from a3lab.attention import hf_backend  # noqa: E402
from a3lab.attention.hf_mask import BandMask, read_rule  # noqa: E402
from test_attention_hf_backend import FAMILIES, batch, family_config  # noqa: E402

N = 80


def masks(config, attn_implementation: str, ids: torch.Tensor, mask: torch.Tensor) -> dict:
    """HF's masks per layer type, built as the family's model builds them."""
    hf_backend.register()
    config = copy.deepcopy(config)
    config._attn_implementation = attn_implementation
    embeds = torch.zeros(*ids.shape, 4)
    args = dict(config=config, inputs_embeds=embeds, attention_mask=mask)
    if isinstance(config, transformers.ModernBertConfig):
        return {
            "full_attention": mu.create_bidirectional_mask(**args),
            "sliding_attention": mu.create_bidirectional_sliding_window_mask(**args),
        }
    return {
        "full_attention": mu.create_causal_mask(**args, cache=None),
        "sliding_attention": mu.create_sliding_window_causal_mask(**args, cache=None),
    }


def layer_window(family: str) -> int:
    """The `sliding_window=` a sliding layer of the family passes to its attention function."""
    config = family_config(family)
    model = transformers.AutoModel.from_config(config, attn_implementation="sdpa")
    windows = {getattr(layer.attn if family == "modernbert" else layer.self_attn, "sliding_window", None)
               for layer in model.layers} - {None}  # fmt: skip
    return windows.pop() if windows else config.sliding_window  # Mistral reads it from the config


@pytest.mark.parametrize("family", FAMILIES)
def test_band_is_hf_sdpa_mask_and_one_less_than_the_layer_window(family: str) -> None:
    ids, mask = batch(family)
    dense = masks(family_config(family), "sdpa", ids, mask)["sliding_attention"]  # (B, 1, N, N)
    band = masks(family_config(family), "a3lab", ids, mask)["sliding_attention"]
    assert isinstance(band, BandMask) and band.dense is None and band.fallback is None
    assert band.key_valid.shape == (2, N)
    valid = mask.bool()[:, None, :, None]  # padded query rows hold anything: they reach no valid output
    assert torch.equal(band.allowed(N, N, ids.device) & valid, dense & valid)
    assert band.window == layer_window(family) - 1  # the flash-attention convention: window_size = w - 1
    assert band.causal == (family != "modernbert")


def test_full_layers_keep_padding_only_masks_small() -> None:
    ids, mask = batch("modernbert")
    full = masks(family_config("modernbert"), "a3lab", ids, mask)["full_attention"]
    assert full.window is None and full.dense.shape == (2, 1, 1, N)


def test_rules_that_are_no_band_say_why() -> None:
    assert read_rule(mu.sliding_window_causal_mask_function(5)) == (True, 4)
    assert read_rule(mu.sliding_window_bidirectional_mask_function(5)) == (False, 5)
    assert read_rule(mu.causal_mask_function) == (True, None)
    assert "union" in read_rule(mu.or_masks(mu.causal_mask_function, mu.bidirectional_mask_function))
    assert "does not read" in read_rule(mu.and_masks(mu.causal_mask_function, lambda b, h, q, k: q >= 0))
    chunked = mu.chunked_causal_mask_function(4, torch.zeros(1, dtype=torch.long))
    assert "does not read" in read_rule(chunked)
