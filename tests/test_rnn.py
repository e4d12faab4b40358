import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from a3lab.cli import main
from a3lab.rnn import AlternatingRNN, LearnConfig, alternating_sum, learn, recurrence

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
@given(xs=st.lists(VALUE, min_size=1, max_size=40), h0=VALUE)
def test_module_float64_is_exact(xs: list[int], h0: int) -> None:
    x = torch.tensor([xs], dtype=torch.float64)
    h, y = AlternatingRNN().double()(x, h0)
    assert h.shape == y.shape == (1, len(xs))
    assert h[0, -1].item() == alternating_sum(x, h0).item() == loop_reference(xs, h0)


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


@settings(max_examples=100, deadline=None)
@given(pairs=st.integers(1, 500), start=st.integers(-(10**6), 10**6), h0=st.integers(-(10**6), 10**6))
def test_consecutive_inputs_give_half_length_plus_h0(pairs: int, start: int, h0: int) -> None:
    T = 2 * pairs
    x = torch.arange(start, start + T, dtype=torch.int64).view(1, T)
    assert alternating_sum(x, h0).item() == T // 2 + h0
    assert recurrence(x, h0)[0, -1].item() == T // 2 + h0


def test_defaults_are_the_write_up() -> None:
    m = AlternatingRNN()
    assert (m.w_x.item(), m.w_h.item(), m.b.item(), m.gain.item()) == (1.0, -1.0, 0.0, 500.0)
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        m(torch.zeros(3))


def test_module_is_trainable() -> None:
    m = AlternatingRNN()
    h, _ = m(torch.randn(4, 5))
    h.sum().backward()
    assert all(p.grad is not None for p in (m.w_x, m.w_h, m.b))


def test_short_learning_run_moves_w_h_towards_minus_one() -> None:
    results = [
        learn(LearnConfig(steps=150, batch_size=64, eval_lengths=(50,), eval_size=200, seed=s), False)
        for s in (0, 1, 2)
    ]
    for r in results:
        assert abs(r["learned"]["w_h"] + 1) < abs(r["start"]["w_h"] + 1)


def test_learn_config_validation() -> None:
    with pytest.raises(ValueError, match="`max_length`"):
        LearnConfig(min_length=5, max_length=3)


def test_cli_run_table_and_verdict(capsys) -> None:
    assert main(["rnn", "run", "1", "2", "3", "4", "--h0", "0"]) == 0
    out = capsys.readouterr().out
    assert "h_4 = x_4 - x_3 + x_2 - x_1 + h_0" in out
    assert "= 4 - 3 + 2 - 1 + 0 = 2" in out
    assert "about 1" in out


def test_cli_run_negative_values(capsys) -> None:
    assert main(["rnn", "run", "--", "-3", "5", "2", "-1"]) == 0
    assert main(["rnn", "run", "--values=-3,5,2,-1"]) == 0
    outs = capsys.readouterr().out
    assert outs.count("= (-1) - 2 + 5 - (-3) + 0 = 5") == 2


@pytest.mark.parametrize("argv", [["rnn", "run"], ["rnn", "run", "1", "x"], ["rnn", "run", "1", "--h0", "nan"]])
def test_cli_run_bad_input_is_one_line_exit_2(argv, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("a3lab: error:")


def test_cli_learn_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "learn.json"
    assert main(["rnn", "learn", "--steps", "20", "--out", str(out)]) == 0
    import json

    r = json.loads(out.read_text())
    assert set(r["learned"]) == {"w_x", "w_h", "b"} and math.isfinite(r["learned"]["w_h"])
