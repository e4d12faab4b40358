"""a3lab.attention.hf: HF Longformer with a3lab's sliding window gives HF's outputs and gradients."""

from __future__ import annotations

import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")

from a3lab.attention.hf import attention_seconds, patch_longformer  # noqa: E402
from a3lab.errors import UserError  # noqa: E402


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


def hf_error_under_autocast(model, x, dtype):
    """(largest |ours - HF fp32|, largest |HF under autocast - HF fp32|) over the valid tokens, with globals."""
    valid = x["attention_mask"].bool()
    with torch.no_grad():
        exact = model(**x).last_hidden_state
        with torch.autocast("cpu", dtype=dtype):
            theirs = model(**x).last_hidden_state
        patched = copy.deepcopy(model)
        patch_longformer(patched)
        with torch.autocast("cpu", dtype=dtype):
            ours = patched(**x).last_hidden_state
    return (ours.float() - exact)[valid].abs().max().item(), (theirs.float() - exact)[valid].abs().max().item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_with_global_tokens_matches_hf_within_its_own_error(dtype) -> None:
    ours, theirs = hf_error_under_autocast(tiny_model(), inputs(), dtype)
    assert theirs > 0 and ours <= 2 * theirs


def test_patched_model_pickles_and_loads(tmp_path) -> None:
    model = tiny_model()
    x = inputs()
    patch_longformer(model, backend="matmul")
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert type(loaded.encoder.layer[0].attention.self).__name__ == "A3labLongformerSelfAttention"
    assert loaded.encoder.layer[0].attention.self.a3lab_backend == "matmul"
    with torch.no_grad():
        assert torch.equal(loaded(**x).last_hidden_state, model(**x).last_hidden_state)


def test_a_model_without_longformer_attention_is_an_error() -> None:
    config = transformers.LEDConfig(
        vocab_size=50, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, attention_window=[4],
        max_encoder_position_embeddings=64, max_decoder_position_embeddings=64,
    )  # fmt: skip
    for model in (transformers.LEDModel(config), torch.nn.Linear(2, 2)):
        keys = list(model.state_dict())
        with pytest.raises(UserError, match="found no transformers LongformerSelfAttention in"):
            patch_longformer(model)
        assert list(model.state_dict()) == keys


def test_a_bare_self_attention_module_is_patched_in_place() -> None:
    from transformers.models.longformer.modeling_longformer import LongformerSelfAttention

    torch.manual_seed(0)
    layer = LongformerSelfAttention(tiny_model().config, layer_id=1).eval()  # attention_window 8: W = 4
    hidden = torch.randn(1, 16, 16)
    mask = torch.zeros(1, 16)
    mask[0, 0] = 1.0  # one global token (HF's encoder passes +1 for global, -1 for padding)
    call = dict(attention_mask=mask, is_index_masked=mask < 0, is_index_global_attn=mask > 0, is_global_attn=True)
    with torch.no_grad():
        theirs = layer(hidden, **call)[0]
        keys = list(layer.state_dict())
        assert patch_longformer(layer) == 1
        assert list(layer.state_dict()) == keys
        assert type(layer).__name__ == "A3labLongformerSelfAttention"
        assert (layer(hidden, **call)[0] - theirs).abs().max() <= 1e-5


def test_a_bad_backend_is_refused_when_patching() -> None:
    model = tiny_model()
    with pytest.raises(UserError, match="`backend` must be one of"):
        patch_longformer(model, backend="fused")
    assert patch_longformer(model) == 2  # nothing was patched by the refused call


def test_forward_hooks_carry_over() -> None:
    model = tiny_model()
    x = inputs()
    seen = []
    module = model.encoder.layer[0].attention.self
    module.register_forward_hook(lambda mod, args, out: seen.append(type(mod).__name__))
    patch_longformer(model)
    with torch.no_grad():
        model(**x)
    assert seen == ["A3labLongformerSelfAttention"]


def test_flex_backend_compiles_once_per_length_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch.nn.attention.flex_attention")
    from torch._dynamo.testing import CompileCounter

    from a3lab.attention import flex

    torch._dynamo.reset()
    counter = CompileCounter()  # traces like inductor does (one graph per shape) but runs eagerly: fast
    monkeypatch.setattr(flex, "_COMPILE_BACKEND", counter)
    monkeypatch.setattr(flex, "_COMPILED_FLEX", [])
    model = tiny_model(attention_window=(8,))
    patch_longformer(model, backend="flex")
    with torch.no_grad():
        for n in range(30, 70, 4):  # ten lengths, which HF pads to multiples of 8, all in one bucket
            model(**inputs(2, n))
    torch._dynamo.reset()
    assert 1 <= counter.frame_count <= 3, counter.frame_count
