"""a3lab.rnn.learning: the one-unit RNN learns the alternating-sum rule from random weights."""

import math

import pytest
import torch

from a3lab.errors import TrainingDiverged
from a3lab.rnn import AlternatingRNN, LearnConfig
from a3lab.rnn.closed_form import alternating_sum
from a3lab.rnn.learning import accuracy, learn, rule_batch


def test_short_learning_run_moves_w_h_towards_minus_one() -> None:
    results = [
        learn(LearnConfig(steps=150, batch_size=64, eval_lengths=(50,), eval_size=200, seed=s), False)
        for s in (0, 1, 2)
    ]
    for r in results:
        assert abs(r["learned"]["w_h"] + 1) < abs(r["start"]["w_h"] + 1)
        assert r["w_h_error"] == abs(r["learned"]["w_h"] + 1)
    assert results[0]["config"] == {**results[0]["config"], "steps": 150, "eval_lengths": [50], "seed": 0}
    assert set(results[0]["accuracy"]) == {"50"}


def test_learning_is_reproducible_from_the_seed() -> None:
    config = LearnConfig(steps=5, batch_size=8, eval_lengths=(4,), eval_size=10, seed=7)
    a, b = learn(config, False), learn(config, False)
    assert a["learned"] == b["learned"] and a["history"] == b["history"]
    assert [h["step"] for h in a["history"]] == [0, 4]


def test_rule_batch_labels_follow_the_alternating_sum_with_half_on_ties() -> None:
    x, y = rule_batch(500, 4, 2, torch.Generator().manual_seed(0))
    assert x.shape == (500, 4) and y.shape == (500,) and x.dtype == y.dtype == torch.float64
    h = alternating_sum(x)
    assert torch.equal(y, torch.where(h > 0, 1.0, torch.where(h < 0, 0.0, 0.5)).double())
    assert (y == 0.5).any()  # small values: ties happen


def test_accuracy_of_the_hand_wired_network_is_one_and_ties_are_left_out() -> None:
    x, y = rule_batch(300, 6, 3, torch.Generator().manual_seed(1))
    assert accuracy(AlternatingRNN().double(), x, y) == 1.0
    flipped = AlternatingRNN().double()
    with torch.no_grad():
        flipped.w_x.neg_()
        flipped.w_h.zero_()  # h_T = -x_T: unrelated to the rule
    assert accuracy(flipped, x, y) < 1.0


def test_a_diverging_run_is_a_user_error_naming_lr(monkeypatch) -> None:
    import a3lab.rnn.learning as learning

    real = learning.AlternatingRNN

    def broken(config):
        m = real(config)
        with torch.no_grad():
            m.w_h.fill_(math.nan)
        return m

    monkeypatch.setattr(learning, "AlternatingRNN", broken)
    with pytest.raises(TrainingDiverged, match="`lr`"):
        learn(LearnConfig(steps=2, batch_size=4, eval_lengths=(3,), eval_size=4), False)
