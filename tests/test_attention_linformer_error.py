"""a3lab.attention.linformer_error: Linformer's relative error against full attention as K grows."""

from __future__ import annotations

import pytest
import torch

from a3lab.attention.functional import full_attention
from a3lab.attention.linformer_error import capture_qkv, linformer_error, linformer_error_curve, projection_matrix
from a3lab.attention.task_config import LinformerErrorConfig
from test_attention_tasks import tiny_model


def test_projection_matrices() -> None:
    pool = projection_matrix("pool", 3, 10)
    assert pool.shape == (3, 10)
    assert torch.allclose(pool.sum(1), torch.ones(3))
    assert ((pool > 0).sum(1) >= 3).all()  # segments of 3 or 4 positions
    assert torch.equal(projection_matrix("pool", 10, 10), torch.eye(10))
    assert projection_matrix("gaussian", 4, 10, torch.Generator().manual_seed(0)).shape == (4, 10)
    with pytest.raises(ValueError, match="`k`"):
        projection_matrix("pool", 11, 10)
    with pytest.raises(ValueError, match="`projection`"):
        projection_matrix("svd", 2, 10)


def test_linformer_error_is_zero_at_k_equal_n_and_large_at_small_k() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 32, 8, generator=g) for _ in range(3))
    errors = linformer_error_curve(q, k, v, [2, 8, 32], "pool")
    assert errors[-1] < 1e-6
    assert errors[0] > 0.1 and errors[0] > errors[-1]
    gaussian = linformer_error_curve(q, k, v, [2, 32], "gaussian", draws=2)
    assert all(e > 0.01 for e in gaussian)


def test_capture_qkv_gives_the_layer_its_own_output() -> None:
    model = tiny_model("full", depth=1)
    tokens = torch.randint(0, 24, (3, 48))
    q, k, v = capture_qkv(model, tokens)
    assert q.shape == (3, 2, 48, 8)
    attn = model.blocks[0].attn
    x = model.blocks[0].norm1(model.embed(tokens) + model.position())
    out = full_attention(q, k, v).transpose(1, 2).reshape(3, 48, 16)  # (B, N, H * D)
    assert torch.allclose(attn.proj(out), attn(x), atol=1e-6)


def test_linformer_error_on_a_model_and_random_inputs() -> None:
    model = tiny_model("full")
    config = LinformerErrorConfig(ks=(4, 16, 48), seq_len=48, heads=2, head_dim=8, examples=4)
    result = linformer_error(config, model, torch.randint(0, 24, (6, 48)))
    assert result["k"] == [4, 16, 48]
    assert len(result["random"]) == len(result["trained"]) == 3
    assert result["random"][-1] < 1e-6 and result["trained"][-1] < 1e-6
    assert result["random"][0] > 0.01 and result["trained"][0] > result["trained"][-1]
    with pytest.raises(ValueError, match="`k` values"):
        LinformerErrorConfig(ks=(4, 49), seq_len=48)
