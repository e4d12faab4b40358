"""a3lab.attention.modules: MultiHeadSelfAttention and TransformerEncoder, each built from one AttentionConfig."""

from __future__ import annotations

import pytest
import torch

from a3lab.attention.config import AttentionConfig
from a3lab.attention.modules import MultiHeadSelfAttention, TransformerEncoder


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(kind="sliding", window=0), "`window`"),
        (dict(kind="sliding", dilation=-1), "`dilation`"),
        (dict(kind="linformer", seq_len=16, k=0), "`k`"),
        (dict(kind="linformer", seq_len=16, k=17), "`k`"),
        (dict(kind="linformer", seq_len=16, k=4, causal=True), "causal"),
        (dict(kind="linear"), "`kind`"),
        (dict(kind="linformer", seq_len=16, k=4, sharing="all"), "`sharing`"),
    ],
)
def test_module_options_are_validated(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiHeadSelfAttention(AttentionConfig(16, 2, **kwargs))


KINDS = [
    ("full", {}),
    ("sliding", dict(window=3, dilation=2, global_tokens=1)),
    ("linformer", dict(seq_len=24, k=6, sharing="none")),
    ("linformer", dict(seq_len=24, k=6, sharing="key-value")),
    ("linformer", dict(seq_len=24, k=6, sharing="layerwise")),
]


@pytest.mark.parametrize("kind,options", KINDS)
def test_encoder_shapes_padding_and_overfits_one_batch(kind: str, options: dict) -> None:
    torch.manual_seed(0)
    model = TransformerEncoder(16, 2, 2, kind, mlp_ratio=2.0, **options)
    head = torch.nn.Linear(16, 3)
    x = torch.randn(6, 20, 16)
    pad = torch.zeros(6, 20, dtype=torch.bool)
    pad[3:, 17:] = True
    y = torch.arange(6) % 3
    assert model(x, pad).shape == (6, 20, 16)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(60):
        logits = head(model(x, pad)[:, 0])
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_linformer_sharing_counts_parameters() -> None:
    def projections(sharing: str) -> int:
        model = TransformerEncoder(16, 3, 2, "linformer", seq_len=24, k=6, sharing=sharing)
        return sum(p.numel() for name, p in model.named_parameters() if name.endswith((".E", ".F")))

    per_layer = 6 * 24
    assert projections("none") == 3 * 2 * 2 * per_layer  # layers x (E, F) x heads
    assert projections("headwise") == 3 * 2 * per_layer
    assert projections("key-value") == 3 * per_layer
    assert projections("layerwise") == per_layer


def test_global_token_row_is_full_attention() -> None:
    torch.manual_seed(0)
    sliding = MultiHeadSelfAttention(AttentionConfig(16, 2, "sliding", window=2, global_tokens=1))
    full = MultiHeadSelfAttention(AttentionConfig(16, 2, "full"))
    full.load_state_dict(sliding.state_dict())
    x = torch.randn(2, 30, 16)
    a, b = sliding(x), full(x)
    assert (a[:, 0] - b[:, 0]).abs().max() <= 1e-5
    assert (a[:, 15] - b[:, 15]).abs().max() > 1e-3  # a middle token only sees its window and the CLS token


def test_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    layer = MultiHeadSelfAttention(AttentionConfig(16, 2, "sliding", window=3, dropout=0.5))
    x = torch.randn(2, 12, 16)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))
