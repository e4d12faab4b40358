"""a3lab.attention.hf: HF Longformer with a3lab's sliding window gives HF's outputs and gradients."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from a3lab.attention.hf import attention_seconds, patch_longformer  # noqa: E402


def tiny_model(attention_window=(4, 8), dropout: float = 0.0):
    config = transformers.LongformerConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=len(attention_window), num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=80, attention_window=list(attention_window),
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LongformerModel(config).eval()


def inputs(B: int = 2, N: int = 37):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 50, (B, N), generator=g)
    mask = torch.ones(B, N, dtype=torch.long)
    mask[1, 29:] = 0  # padding
    glob = torch.zeros(B, N, dtype=torch.long)
    glob[0, [0, 20]] = 1
    glob[1, 0] = 1  # a different number of global tokens per sequence
    return dict(input_ids=ids, attention_mask=mask, global_attention_mask=glob)


def test_patched_model_gives_hf_outputs_and_gradients() -> None:
    model = tiny_model()
    x = inputs()
    theirs = model(**x).last_hidden_state
    their_grads = torch.autograd.grad(theirs.square().sum(), list(model.parameters()), allow_unused=True)
    names = dict(model.named_parameters())
    assert patch_longformer(model) == 2
    assert dict(model.named_parameters()) == names  # the very same parameters, same state-dict keys
    ours = model(**x).last_hidden_state
    valid = x["attention_mask"].bool()
    assert (ours - theirs)[valid].abs().max() <= 1e-5
    our_grads = torch.autograd.grad(ours.square().sum(), list(model.parameters()), allow_unused=True)
    for a, b in zip(our_grads, their_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert (a - b).abs().max() <= 1e-4 * max(1.0, b.abs().max().item())


def test_patch_without_global_tokens_and_twice_is_a_no_op() -> None:
    model = tiny_model(attention_window=(6,))
    x = {k: v for k, v in inputs(2, 30).items() if k != "global_attention_mask"}
    theirs = model(**x).last_hidden_state
    assert patch_longformer(model, backend="matmul") == 1
    assert patch_longformer(model) == 0  # already patched
    assert (model(**x).last_hidden_state - theirs).abs().max() <= 1e-5


def test_output_attentions_falls_back_to_hf() -> None:
    model = tiny_model()
    x = inputs()
    theirs = model(**x, output_attentions=True)
    patch_longformer(model)
    ours = model(**x, output_attentions=True)
    assert torch.equal(ours.attentions[0], theirs.attentions[0])


def test_attention_seconds_times_only_the_self_attention_modules() -> None:
    model = tiny_model()
    x = inputs()
    with torch.no_grad():
        result = attention_seconds(model, lambda: model(**x), repeats=1)
    assert 0 < result["attention_s"] < result["model_s"]
    assert result["attention_share"] == pytest.approx(result["attention_s"] / result["model_s"])
