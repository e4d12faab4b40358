"""Caption strips and metrics (a3lab.classifiers.captions.data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from a3lab.classifiers.captions.data import caption, caption_metrics, make_strips, read_strips, word_errors
from a3lab.errors import UserError
from conftest import make_images


@pytest.fixture
def items() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = make_images(60, seed=0)
    return torch.from_numpy(images), torch.from_numpy(labels).long()


def test_strips_hold_their_items_in_order(items):
    images, labels = items
    strips, classes = make_strips(images, labels, 5, 3, seed=1)
    again, _ = make_strips(images, labels, 5, 3, seed=1)
    assert strips.dtype == torch.uint8 and strips.shape == (5, 28, 84) and classes.shape == (5, 3)
    assert torch.equal(strips, again)
    for strip, row in zip(strips, classes):
        for i, c in enumerate(row.tolist()):
            piece = strip[:, 28 * i : 28 * (i + 1)]
            matches = [j for j in range(len(images)) if torch.equal(images[j], piece)]
            assert matches and all(labels[j] == c for j in matches)


def test_captions_are_words():
    assert caption([7, 2, 9], "mnist") == "seven two nine"
    assert caption([6, 7, 8, 9], "fashion-mnist") == "shirt sneaker bag ankle-boot"
    with pytest.raises(UserError):
        caption([1], "cifar")


def test_word_errors_and_metrics():
    assert word_errors([1, 2, 3], [1, 2, 3]) == 0
    assert word_errors([1, 3], [1, 2, 3]) == 1  # a deletion
    assert word_errors([4, 2, 3, 5], [1, 2, 3]) == 2  # a substitution and an insertion
    assert word_errors([], [1, 2]) == 2
    m = caption_metrics([[1, 2], [3, 4]], torch.tensor([[1, 2], [4, 4]]))
    assert m["exact"] == 0.5 and math.isclose(m["wer"], 1 / 4)


@given(st.lists(st.integers(0, 3), max_size=6), st.lists(st.integers(0, 3), max_size=6))
def test_word_errors_is_a_distance(a, b):
    d = word_errors(a, b)
    assert d == word_errors(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 28, 56), dtype=np.float32), "uint8"),
        (np.zeros((2, 28, 50), dtype=np.uint8), "28 \\* L"),
        (np.zeros((2, 28, 28 * 9), dtype=np.uint8), "1..8 items"),
        (np.zeros((28, 56), dtype=np.uint8), "28 \\* L"),
    ],
)
def test_bad_images_are_user_errors(tmp_path, array, message):
    path = tmp_path / "bad.npz"
    np.savez(path, images=array)
    with pytest.raises(UserError, match=message):
        read_strips(str(path))
