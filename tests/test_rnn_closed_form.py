"""a3lab.rnn.closed_form: the alternating sum against the step-by-step recurrence, exactly."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from a3lab.rnn.closed_form import alternating_sum, coefficients, recurrence

VALUE = st.integers(-(10**6), 10**6)


def loop_reference(xs: list[int], h0: int) -> int:
    """h_t = x_t - h_(t-1) in plain Python integers."""
    h = h0
    for x in xs:
        h = x - h
    return h


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(VALUE, min_size=0, max_size=40), h0=VALUE)
def test_closed_form_equals_recurrence_int64(xs: list[int], h0: int) -> None:
    x = torch.tensor([xs], dtype=torch.int64).view(1, len(xs))
    expected = loop_reference(xs, h0)
    assert alternating_sum(x, h0).item() == expected
    if xs:
        assert recurrence(x, h0)[0, -1].item() == expected


@settings(max_examples=100, deadline=None)
@given(data=st.data(), length=st.integers(0, 2000))
def test_float32_exact_within_documented_bound(data, length: int) -> None:
    # The docstring's claim: float32 is exact while T * max|x| + |h0| <= 2^24.
    bound = 2**24
    max_abs = data.draw(st.integers(0, bound // max(length + 1, 1)))
    xs = data.draw(st.lists(st.integers(-max_abs, max_abs), min_size=length, max_size=length))
    h0 = data.draw(st.integers(-max_abs, max_abs))
    x64 = torch.tensor(xs, dtype=torch.int64).view(1, length)
    exact = loop_reference(xs, h0)
    assert alternating_sum(x64.float(), h0).item() == exact
    if length:
        assert recurrence(x64.float(), h0)[0, -1].item() == exact


def test_float32_rounds_past_the_bound() -> None:
    x = torch.tensor([[-1.0, 2.0**24]])  # h_2 = 2^24 + 1, which float32 cannot hold
    assert recurrence(x)[0, -1].item() != 2**24 + 1
    assert recurrence(x.double())[0, -1].item() == 2**24 + 1


def test_odd_length_signs_flip_and_h0_enters_negated() -> None:
    x = torch.tensor([3, 5, 7])
    assert alternating_sum(x, 2).item() == 7 - 5 + 3 - 2
    assert alternating_sum(torch.tensor([], dtype=torch.int64), 4).item() == 4  # T = 0: h_T = h_0


def test_batched_shape() -> None:
    x = torch.randint(-5, 5, (2, 3, 6))
    assert alternating_sum(x).shape == (2, 3)
    h0 = torch.tensor([1, 2])
    assert torch.equal(alternating_sum(x[:, 0], h0), recurrence(x[:, 0], h0)[:, -1])
    assert recurrence(x[:, 0]).shape == (2, 6)
    assert recurrence(torch.zeros(3, 0)).shape == (3, 0)


@settings(max_examples=100, deadline=None)
@given(pairs=st.integers(1, 500), start=st.integers(-(10**6), 10**6), h0=st.integers(-(10**6), 10**6))
def test_consecutive_inputs_give_half_length_plus_h0(pairs: int, start: int, h0: int) -> None:
    T = 2 * pairs
    x = torch.arange(start, start + T, dtype=torch.int64).view(1, T)
    assert alternating_sum(x, h0).item() == T // 2 + h0
    assert recurrence(x, h0)[0, -1].item() == T // 2 + h0


def test_coefficients_alternate_ending_with_plus_one() -> None:
    assert coefficients(8) == [-1, 1] * 4
    assert coefficients(7) == [1, -1, 1, -1, 1, -1, 1]
    assert coefficients(0) == []


def test_general_weights_follow_the_recurrence() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0]])
    h = recurrence(x, h0=1.0, w_x=2.0, w_h=0.5, b=1.0)
    # h1 = 2 + 0.5 + 1, h2 = 4 + 0.5 h1 + 1, h3 = 6 + 0.5 h2 + 1
    assert h.tolist() == [[3.5, 6.75, 10.375]]
