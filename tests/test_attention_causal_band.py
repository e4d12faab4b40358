"""a3lab.attention.causal_band: the causal window over C + 2 ceil(W / 2) keys per block equals the dense mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from a3lab.attention.causal_band import causal_band_attention


def dense_reference(q, k, v, window, key_valid):
    """softmax over the keys i - W <= j <= i that are valid; zero rows at invalid query positions."""
    N = q.shape[2]
    behind = torch.arange(N)[:, None] - torch.arange(N)[None, :]  # (N, N): i - j
    allowed = ((behind >= 0) & (behind <= window))[None, None]
    if key_valid is not None:
        allowed = allowed & key_valid[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    return out if key_valid is None else out.masked_fill(~key_valid[:, None, :, None], 0.0)


@pytest.mark.parametrize("window", [1, 4, 7])
@pytest.mark.parametrize("N", [5, 33])
@pytest.mark.parametrize("padded", [False, True])
def test_equals_the_dense_mask_with_gradients(window: int, N: int, padded: bool) -> None:
    g = torch.Generator().manual_seed(window * N)
    q, k, v = (torch.randn(2, 3, N, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    key_valid = None
    if padded:
        key_valid = torch.ones(2, N, dtype=torch.bool)
        key_valid[0, :3] = False  # left padding
        key_valid[1, N // 2 : N // 2 + 2] = False  # a gap inside
    ours = causal_band_attention(q, k, v, window, key_valid, block_size=4)
    theirs = dense_reference(q, k, v, window, key_valid)
    assert ours.shape == q.shape
    torch.testing.assert_close(ours, theirs)
    grad = torch.randn(ours.shape, generator=g, dtype=torch.float64)
    for a, b in zip(
        torch.autograd.grad((ours * grad).sum(), (q, k, v)), torch.autograd.grad((theirs * grad).sum(), (q, k, v))
    ):
        torch.testing.assert_close(a, b)


def test_float32_training_pass_matches() -> None:
    """float32 on CPU takes the fused kernel's own backward (`_MaskedAttention`)."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 40, 8, generator=g, requires_grad=True) for _ in range(3))
    ours = causal_band_attention(q, k, v, 9)
    theirs = dense_reference(q, k, v, 9, None)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(ours.sum(), (q, k, v)), torch.autograd.grad(theirs.sum(), (q, k, v))):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
