"""a3lab.rnn.model: the one-unit AlternatingRNN, hand-wired and trainable."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from a3lab.rnn import AlternatingRNNConfig
from a3lab.rnn.closed_form import alternating_sum
from a3lab.rnn.model import AlternatingRNN

VALUE = st.integers(-(10**6), 10**6)


@settings(max_examples=100, deadline=None)
@given(xs=st.lists(VALUE, min_size=1, max_size=40), h0=VALUE)
def test_module_float64_is_exact(xs: list[int], h0: int) -> None:
    x = torch.tensor([xs], dtype=torch.float64)
    h, y = AlternatingRNN().double()(x, h0)
    assert h.shape == y.shape == (1, len(xs))
    expected = h0
    for v in xs:
        expected = v - expected
    assert h[0, -1].item() == alternating_sum(x, h0).item() == expected


@settings(max_examples=200, deadline=None)
@given(pairs=st.integers(1, 20), data=st.data(), h0=st.integers(-1000, 1000))
def test_even_length_semantics(pairs: int, data, h0: int) -> None:
    xs = data.draw(st.lists(st.integers(-1000, 1000), min_size=2 * pairs, max_size=2 * pairs))
    even = sum(xs[1::2])  # positions 2, 4, ... (1-based)
    odd = sum(xs[0::2])
    _, y = AlternatingRNN().double()(torch.tensor([xs], dtype=torch.float64), h0)
    y_T = y[0, -1].item()
    if h0 + even > odd:
        assert y_T > 0.5
    elif h0 + even < odd:
        assert y_T < 0.5
    else:
        assert y_T == 0.5


def test_defaults_are_the_write_up() -> None:
    m = AlternatingRNN()
    assert (m.w_x.item(), m.w_h.item(), m.b.item(), m.gain.item()) == (1.0, -1.0, 0.0, 500.0)
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        m(torch.zeros(3))


def test_config_sets_the_weights_and_logits_are_gain_times_last_state() -> None:
    m = AlternatingRNN(AlternatingRNNConfig(w_x=2.0, w_h=0.5, b=1.0, gain=3.0)).double()
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    h, y = m(x)
    assert h[0].tolist() == [3.0, 6.5, 10.25]
    assert torch.equal(m.logits(x), 3.0 * h[:, -1]) and m.logits(x).shape == (2,)
    assert torch.allclose(y, torch.sigmoid(3.0 * h))


def test_module_is_trainable() -> None:
    m = AlternatingRNN()
    h, _ = m(torch.randn(4, 5))
    h.sum().backward()
    assert all(p.grad is not None for p in (m.w_x, m.w_h, m.b))
    assert m.gain.requires_grad is False
