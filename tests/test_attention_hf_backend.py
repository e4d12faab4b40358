"""a3lab.attention.hf_backend: tiny sliding-window models of four families under attn_implementation="a3lab"
give HF sdpa's outputs, gradients and generated tokens, without an N x N attention on their sliding layers."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

from a3lab.attention import hf_backend  # noqa: E402

N = 80  # five windows of 16
WIDTH = dict(hidden_size=32, intermediate_size=48, num_attention_heads=4, vocab_size=100, initializer_range=0.2)


def family_config(family: str):
    """A tiny config per family: window 16, grouped-query attention in the decoders."""
    decoder = dict(WIDTH, num_key_value_heads=2, head_dim=8, pad_token_id=0)
    if family == "modernbert":
        return transformers.ModernBertConfig(
            **WIDTH, num_hidden_layers=3, local_attention=16, global_attn_every_n_layers=3, pad_token_id=0
        )
    if family == "mistral":
        return transformers.MistralConfig(**decoder, num_hidden_layers=2, sliding_window=16)
    if family == "qwen2":
        layers = ["full_attention", "sliding_attention", "sliding_attention"]
        return transformers.Qwen2Config(
            **decoder, num_hidden_layers=3, use_sliding_window=True, sliding_window=16, layer_types=layers
        )
    layers = ["sliding_attention", "full_attention", "sliding_attention"]
    # a query scale other than 1 / sqrt(head_dim), as Gemma's query_pre_attn_scalar sets
    return transformers.Gemma3TextConfig(
        **decoder, num_hidden_layers=3, sliding_window=16, layer_types=layers, query_pre_attn_scalar=12
    )


FAMILIES = ("modernbert", "mistral", "qwen2", "gemma3")


def pair(config, head: bool = False):
    """(HF sdpa model, a3lab model) with the same weights."""
    hf_backend.register()
    auto = transformers.AutoModelForCausalLM if head else transformers.AutoModel
    torch.manual_seed(0)
    theirs = auto.from_config(copy.deepcopy(config), attn_implementation="sdpa").eval()
    ours = auto.from_config(copy.deepcopy(config), attn_implementation="a3lab").eval()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def batch(family: str):
    """Two sequences of N tokens with padding: on the left for decoders, on the right and inside for the encoder."""
    ids = torch.randint(1, 100, (2, N), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, N, dtype=torch.long)
    if family == "modernbert":
        mask[0, 61:] = 0
        mask[1, 20:27] = 0
    else:
        mask[0, :13] = 0
    return ids, mask


@pytest.mark.parametrize("family", FAMILIES)
def test_outputs_and_gradients_match_hf_sdpa(family: str) -> None:
    theirs, ours = pair(family_config(family))
    ids, mask = batch(family)
    valid = mask.bool()
    weights = torch.randn(2, N, WIDTH["hidden_size"], generator=torch.Generator().manual_seed(2))
    grads = []
    for model in (theirs, ours):
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, N, E)
        (out * weights * valid[..., None]).sum().backward()
        grads.append({name: p.grad for name, p in model.named_parameters() if p.grad is not None})
        if model is theirs:
            expected = out.detach()
    assert out.shape == expected.shape
    assert (out.detach() - expected)[valid].abs().max() <= 1e-5
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-4, rtol=1e-4, msg=name)


@pytest.mark.parametrize("family", ("mistral", "gemma3"))
def test_generation_with_a_kv_cache_matches_hf_sdpa(family: str) -> None:
    theirs, ours = pair(family_config(family), head=True)
    ids, mask = batch(family)
    runs = [
        model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False, output_logits=True,
            return_dict_in_generate=True,
        )
        for model in (theirs, ours)
    ]  # fmt: skip
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    for a, b in zip(runs[0].logits, runs[1].logits):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("chunks", [(50, 30), (30, 5, 45), (79, 1)])
def test_chunked_prefill_matches_hf_sdpa(chunks: tuple[int, ...]) -> None:
    """Blocks after the first are shorter than the keys: short ones, long ones and a single decode step."""
    theirs, ours = pair(family_config("mistral"), head=True)
    ids, mask = batch("mistral")
    logits = []
    for model in (theirs, ours):
        cache, seen, parts = transformers.DynamicCache(config=model.config), 0, []
        with torch.no_grad():
            for n in chunks:
                out = model(input_ids=ids[:, seen : seen + n], attention_mask=mask[:, : seen + n], cache=cache)
                parts.append(out.logits)
                seen += n
        logits.append(torch.cat(parts, dim=1))
    valid = mask.bool()
    assert (logits[1] - logits[0])[valid].abs().max() <= 1e-4


def test_sliding_layers_attend_no_n_by_n_block(monkeypatch) -> None:
    """Every attention call of an all-sliding model sees fewer than N keys and no N x N mask."""
    theirs, ours = pair(family_config("mistral"))
    ids, mask = batch("mistral")
    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        calls.append((tuple(k.shape), None if attn_mask is None else tuple(attn_mask.shape)))
        return sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    with torch.no_grad():
        ours(input_ids=ids, attention_mask=mask)
    assert calls
    assert all(k[-2] < N and (m is None or m[-1] < N) for k, m in calls), calls
    calls.clear()
    with torch.no_grad():
        theirs(input_ids=ids, attention_mask=mask)
    assert any(m is not None and m[-2:] == (N, N) for _, m in calls)  # HF's sdpa: the dense mask


def test_a_4d_mask_falls_back_to_sdpa_and_warns_once(monkeypatch) -> None:
    monkeypatch.setattr(hf_backend, "_WARNED", set())
    theirs, ours = pair(family_config("mistral"))
    ids, _ = batch("mistral")
    dense = torch.ones(N, N).tril().log()[None, None].expand(2, 1, N, N)  # 0 where allowed, -inf elsewhere
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=dense).last_hidden_state
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                out = ours(input_ids=ids, attention_mask=dense).last_hidden_state
    ours_warnings = [w for w in caught if "a3lab attention falls back to SDPA" in str(w.message)]
    assert len(ours_warnings) == 1
    assert torch.equal(out, expected)


def test_packed_sequences_fall_back_with_their_reason(monkeypatch) -> None:
    monkeypatch.setattr(hf_backend, "_WARNED", set())
    theirs, ours = pair(family_config("mistral"))
    ids, _ = batch("mistral")
    positions = torch.cat([torch.arange(50), torch.arange(30)])[None].expand(2, N)  # two sequences per row
    with torch.no_grad():
        expected = theirs(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state
        with pytest.warns(UserWarning, match="rule a3lab does not read"):
            out = ours(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_set_attn_implementation_switches_an_sdpa_model() -> None:
    theirs, _ = pair(family_config("modernbert"))
    ids, mask = batch("modernbert")
    model = copy.deepcopy(theirs)
    model.set_attn_implementation(hf_backend.register())
    assert model.config._attn_implementation == "a3lab"
    with torch.no_grad():
        diff = model(input_ids=ids, attention_mask=mask).last_hidden_state
        diff -= theirs(input_ids=ids, attention_mask=mask).last_hidden_state
    assert diff[mask.bool()].abs().max() <= 1e-5


def test_logit_softcapping_is_refused() -> None:
    hf_backend.register()
    config = transformers.Gemma2Config(**dict(WIDTH, num_key_value_heads=2, head_dim=8), num_hidden_layers=1)
    model = transformers.AutoModel.from_config(config, attn_implementation="a3lab").eval()
    with pytest.raises(ValueError, match="soft-capping"):
        model(input_ids=torch.randint(1, 100, (1, 8)))
