"""The caption models and their decoders (a3lab.classifiers.captions.models)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from a3lab.classifiers.captions.config import MODELS, CaptionConfig, CaptionModelConfig
from a3lab.classifiers.captions.data import make_strips
from a3lab.classifiers.captions.experiment import fit_captioner, predict_strips
from a3lab.classifiers.captions.models import (
    END,
    VOCAB,
    StripEncoder,
    beam_search,
    build_caption_model,
    ctc_greedy_decode,
    greedy_search,
)
from a3lab.classifiers.fit import fit
from conftest import make_images

SMALL = CaptionModelConfig(channels=(8, 8, 16), feature_dim=16, hidden_dim=24, beam_size=2)


@pytest.fixture
def items() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = make_images(60, seed=0)
    return torch.from_numpy(images), torch.from_numpy(labels).long()


def test_ctc_greedy_decode_merges_repeats_and_drops_blanks():
    # columns: 3 3 blank 3 1 1 blank -> labels (shifted by one) 2 2 0
    best = torch.tensor([[3, 3, 0, 3, 1, 1, 0]])
    log_probs = torch.nn.functional.one_hot(best, VOCAB + 1).float().log()
    assert ctc_greedy_decode(log_probs) == [[2, 2, 0]]


def _toy_step():
    """A known distribution over tokens A=0, B=1, C=2, END=3 where greedy and beam search disagree:
    P(A C) = .6 * .55 = .33 but P(B C) = .4 * .9 = .36."""
    table = {(): [0.6, 0.4, 0.0, 0.0], (0,): [0.0, 0.45, 0.55, 0.0], (1,): [0.1, 0.0, 0.9, 0.0]}
    prefixes: list[tuple[int, ...]] = [()]

    def step(prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new_state, rows = [], []
        for token, s in zip(prev.tolist(), state.tolist()):
            prefix = prefixes[s] if token == -1 else prefixes[s] + (token,)
            if prefix not in prefixes:
                prefixes.append(prefix)
            new_state.append(prefixes.index(prefix))
            rows.append(table.get(prefix, [0.0, 0.0, 0.0, 1.0]))
        return torch.tensor(rows).log(), torch.tensor(new_state)

    return step


def test_beam_search_finds_the_sequence_greedy_misses():
    state = torch.zeros(2, dtype=torch.long)
    assert greedy_search(_toy_step(), state, -1, 3, max_steps=5) == [[0, 2], [0, 2]]
    assert beam_search(_toy_step(), state, -1, 3, max_steps=5, beam_size=2) == [[1, 2], [1, 2]]
    assert beam_search(_toy_step(), state, -1, 3, max_steps=5, beam_size=1) == [[0, 2], [0, 2]]


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("length", [1, 3])
def test_model_shapes_loss_and_predictions(kind, length):
    torch.manual_seed(0)
    model = build_caption_model(kind, SMALL)
    x, y = torch.rand(2, 1, 28, 28 * length), torch.randint(0, VOCAB, (2, length))
    loss = model.loss(x, y)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    preds = model.eval().predict(x)
    assert len(preds) == 2 and all(all(0 <= t < VOCAB for t in p) for p in preds)
    if kind in ("ctc", "crnn"):
        assert model.log_probs(x).shape == (2, 7 * length, VOCAB + 1)
    if kind == "per_position":
        lengths, classes = model.logits(x)
        assert lengths.shape == (2, 9) and classes.shape == (2, 8, VOCAB)
    assert END == VOCAB


@pytest.fixture(scope="module")
def block_items() -> tuple[torch.Tensor, torch.Tensor, StripEncoder]:
    """Ten clearly different items (random 7x7 block patterns) and a SMALL encoder trained to tell them apart,
    as `pretrain_encoder` trains the real one before the caption models start."""
    g = torch.Generator().manual_seed(0)
    blocks = (torch.rand(10, 7, 7, generator=g) > 0.5).to(torch.uint8) * 255
    images, labels = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2), torch.arange(10)  # (10, 28, 28)
    torch.manual_seed(0)
    encoder = StripEncoder(SMALL)
    fit(nn.Sequential(encoder, nn.Flatten(), nn.Linear(7 * SMALL.feature_dim, 10)), images.unsqueeze(1), labels,
        steps=60, batch_size=10, lr=1e-2, seed=0)  # fmt: skip
    return images, labels, encoder


@pytest.mark.parametrize(("kind", "steps", "lr"), [("per_position", 100, 3e-3), ("ctc", 100, 3e-3),
                                                   ("show_tell", 200, 1e-2)])  # fmt: skip
def test_overfits_one_tiny_batch(block_items, kind, steps, lr):
    images, labels, encoder = block_items
    train = {n: make_strips(images, labels, 8, n, seed=n) for n in (1, 2)}
    torch.manual_seed(0)
    model = build_caption_model(kind, SMALL)
    model.encoder.load_state_dict(encoder.state_dict())
    config = CaptionConfig(steps=steps, batch_size=8, lr=lr, train_per_length=8, test_per_length=8, model=SMALL)
    result = fit_captioner(model, train, config)
    assert result["steps"] == result["steps_planned"] == steps
    for strips, classes in train.values():
        assert predict_strips(model, strips) == classes.tolist()


def test_crnn_learns_a_tiny_batch(block_items):
    images, labels, encoder = block_items
    train = {2: make_strips(images, labels, 8, 2, seed=2)}
    torch.manual_seed(0)
    model = build_caption_model("crnn", SMALL)
    model.encoder.load_state_dict(encoder.state_dict())
    x = train[2][0].unsqueeze(1).float() / 255
    before = model.loss(x, train[2][1]).item()
    config = CaptionConfig(steps=150, batch_size=8, lr=3e-3, train_per_length=8, test_per_length=8, model=SMALL)
    assert fit_captioner(model, train, config)["final_loss"] < 0.5 * before
