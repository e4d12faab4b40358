"""Caption strips, metrics and decoders (a3lab.classifiers.captions_*), and `a3lab classify captions`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from a3lab.classifiers import captions
from a3lab.classifiers.captions.config import MODELS, CaptionConfig, CaptionModelConfig
from a3lab.classifiers.captions.data import caption, caption_metrics, make_strips, read_strips, word_errors
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
from a3lab.cli import main
from a3lab.errors import UserError
from conftest import make_images

SMALL = CaptionModelConfig(channels=(8, 8, 16), feature_dim=16, hidden_dim=24, beam_size=2)


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


TINY = {"steps": 4, "pretrain_steps": 2, "batch_size": 4, "train_per_length": 8, "test_per_length": 3, "model": SMALL}


@pytest.fixture
def tiny_run(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(captions.PRESETS, "quick", TINY)
    out = tmp_path / "run"
    assert main(["classify", "captions", "train", "--out", str(out), "--device", "cpu"]) == 0
    return out


def test_train_leaves_a_run_folder(tiny_run, capsys):
    run = json.loads((tiny_run / "run.json").read_text())
    results = json.loads((tiny_run / "results.json").read_text())
    assert run["model"] in MODELS and run["dataset"] == "mnist"
    assert set(results["models"]) == set(MODELS) | {"show_tell_greedy"}
    for r in results["models"].values():
        assert set(r["by_length"]) == {str(n) for n in range(1, 9)}
    assert (tiny_run / "model.pt").is_file() and (tiny_run / "examples.png").is_file()
    # a non-empty folder is refused without --force, kept as it was
    before = (tiny_run / "run.json").read_text()
    assert main(["classify", "captions", "train", "--out", str(tiny_run), "--device", "cpu"]) == 2
    assert "--force" in capsys.readouterr().err and (tiny_run / "run.json").read_text() == before


def test_predict_round_trip(tiny_run, tmp_path, capsys):
    images, labels = make_images(10, seed=5)
    strips, _ = make_strips(torch.from_numpy(images), torch.from_numpy(labels).long(), 3, 5, seed=0)
    path = tmp_path / "strips.npz"
    np.savez(path, images=strips.numpy())
    capsys.readouterr()
    assert main(["classify", "captions", "predict", str(tiny_run), "--images", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    words = set(caption(range(10), "mnist").split())
    assert len(lines) == 3 and all(set(line.split()) <= words for line in lines)
    assert main(["classify", "captions", "predict", str(tiny_run), "--images", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == lines


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


def test_predict_bad_inputs_exit_2(tiny_run, tmp_path, capsys):
    np.savez(tmp_path / "other.npz", pixels=np.zeros((1, 28, 28), dtype=np.uint8))
    np.savez(tmp_path / "good.npz", images=np.zeros((1, 28, 28), dtype=np.uint8))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    cases = [
        [str(tiny_run), "--images", str(tmp_path / "missing.npz")],
        [str(tiny_run), "--images", str(tmp_path / "other.npz")],
        [str(tiny_run), "--images", str(tmp_path / "junk.npz")],
        [str(tmp_path), "--images", str(tmp_path / "good.npz")],  # not a run folder
    ]
    for args in cases:
        assert main(["classify", "captions", "predict", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("a3lab: error:")


def test_report_section_feeds_claim_11(tiny_data, tmp_path, monkeypatch):
    from a3lab import report
    from a3lab.report import claims
    from a3lab.classifiers.captions.section import CAPTIONS

    monkeypatch.setitem(captions.PRESETS, "quick", TINY)
    result = captions.report_experiment("quick", tmp_path / "captions", device="cpu")
    json.dumps(result)
    assert result["budget"]["done"] == result["budget"]["planned"] == 2 * 2 + 2 * 4 * 4
    assert all((tmp_path / "captions" / name).is_file() for name in result["images"])
    claim = next(c for c in report.CLAIMS if c.number == 11)
    verdict = claims.judge(claim, {"captions": {"status": "ok", "result": result}})
    assert verdict.verdict == "inconclusive" and "exact captions on 1..4 items" in verdict.why
    assert any(line.startswith("fashion-mnist, 5..8 items (unseen)") for line in verdict.evidence)
    assert sum(b[0] == "table" for b in CAPTIONS.render(result)) == 2
