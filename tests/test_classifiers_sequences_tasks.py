"""The sequence tasks (a3lab.classifiers.sequences.tasks): labels follow their rules."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from a3lab.classifiers.sequences import (
    encode,
    make_batch,
    parity_recurrence,
)
from a3lab.rnn import alternating_sum


def test_alternating_labels_follow_the_rule() -> None:
    x, y = make_batch("alternating", 500, 7, torch.Generator().manual_seed(0), max_value=5)
    h = alternating_sum(x)
    assert x.shape == (500, 7) and y.shape == (500,)
    assert torch.equal(y, (h > 0).double() + 0.5 * (h == 0).double())
    assert (y == 0.5).any()  # small max_value: ties happen and are labelled 0.5


def test_parity_labels_and_encoding() -> None:
    x, y = make_batch("parity", 300, 9, torch.Generator().manual_seed(1))
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(y, x.sum(-1) % 2)
    assert set(encode("parity", x).unique().tolist()) <= {-1.0, 1.0}
    a, _ = make_batch("alternating", 100, 9, torch.Generator().manual_seed(1), max_value=100)
    enc = encode("alternating", a, max_value=100)
    assert enc.dtype == torch.float32 and enc.abs().max() <= 1.0
    with pytest.raises(ValueError, match="`tasks`"):
        make_batch("sorting", 2, 3, torch.Generator())


@settings(max_examples=100, deadline=None)
@given(bits=st.lists(st.integers(0, 1), min_size=1, max_size=200))
def test_parity_recurrence_is_exact(bits: list[int]) -> None:
    x = torch.tensor([bits], dtype=torch.float64)
    assert parity_recurrence(x).item() == sum(bits) % 2
