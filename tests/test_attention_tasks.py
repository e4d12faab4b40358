"""a3lab.attention.tasks: the task generators, the small classifier, training, saving and loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from a3lab.attention.task_config import KINDS, ModelConfig, TrainConfig, nest
from a3lab.attention.tasks import (
    SequenceClassifier,
    layer_dilations,
    load_model,
    long_range_batch,
    pixel_tokens,
    receptive_field,
    save_model,
    train_model,
)
from a3lab.config import from_dict
from a3lab.data import ImageBatches
from a3lab.errors import CheckpointError, UserError

# A long-range task small enough for tests: 40 tokens, the two 9-token spans 23 positions apart, plain reach 8;
# dilation 9 <= span, so the readout's dilated lattice lands in both spans (reach 4 + 4 * 9 = 40).
TINY_LONG = dict(length=40, span=9, dim=16, depth=2, heads=2, window=4, dilation=9, k=8)


def tiny_model(kind: str, **overrides) -> SequenceClassifier:
    torch.manual_seed(0)
    options = dict(kind=kind, seq_len=48, vocab_size=24, num_classes=2, dim=16, depth=2, heads=2, window=4)
    options.update(dilation=9, k=8)
    options.update(overrides)
    return SequenceClassifier(model_config(**options)).eval()


def model_config(**flat) -> ModelConfig:
    """A ModelConfig from flat field names (`window` lands in its attention config)."""
    return from_dict(ModelConfig, nest(ModelConfig, flat))


def test_pixel_tokens_round_trip_from_uint8_and_unit_floats() -> None:
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    labels = torch.arange(5)
    tokens = pixel_tokens(images)
    assert tokens.shape == (5, 784) and tokens.dtype == torch.int64
    assert torch.equal(tokens[2, 28 * 3 : 28 * 4], images[2, 3].long())  # row-major: row 3 is tokens 84..111
    x, _ = next(iter(ImageBatches(images, labels, batch_size=5, shuffle=False, scale="unit")))
    assert torch.equal(pixel_tokens(x), tokens)


def test_long_range_batch_labels_say_whether_the_ends_match() -> None:
    g = torch.Generator().manual_seed(0)
    tokens, labels = long_range_batch(4000, 50, num_signals=8, num_noise=16, generator=g, span=3)
    assert tokens.shape == (4000, 50) and labels.shape == (4000,)
    first, last = tokens[:, :3], tokens[:, -3:]
    assert (first == first[:, :1]).all() and (last == last[:, :1]).all()  # each span holds one symbol
    assert ((first >= 16) & (first < 24)).all() and ((last >= 16) & (last < 24)).all()  # signal vocabulary
    assert (tokens[:, 3:-3] < 16).all()  # noise between them
    assert torch.equal(labels, (first[:, 0] == last[:, 0]).long())
    assert 0.45 < labels.float().mean().item() < 0.55  # balanced: chance is 0.5
    # every different pair occurs: the "different" symbol is uniform over the others
    diff = labels == 0
    assert len(set(zip(first[diff, 0].tolist(), last[diff, 0].tolist()))) == 8 * 7
    again = long_range_batch(4000, 50, 8, 16, torch.Generator().manual_seed(0), span=3)
    assert torch.equal(again[0], tokens)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(length=10, span=6), "`span`"),
        (dict(length=10, span=0), "`span`"),
        (dict(length=10, num_signals=1), "`num_signals`"),
    ],
)
def test_long_range_batch_rejects_bad_options(kwargs: dict, message: str) -> None:
    options = dict(batch_size=2, length=10, num_signals=4, num_noise=4, generator=torch.Generator(), span=1)
    with pytest.raises(ValueError, match=message):
        long_range_batch(**{**options, **kwargs})


def test_receptive_field_and_dilation_schedule() -> None:
    assert layer_dilations("sliding_dilated", 3, 5) == [1, 5, 25]
    assert layer_dilations("sliding", 3, 5) == [1, 1, 1]
    assert receptive_field("sliding", 2, 32) == 64
    assert receptive_field("sliding_dilated", 2, 32, 65) == 32 + 32 * 65
    assert receptive_field("full", 2, 32) is None and receptive_field("sliding_global", 2, 32) is None


@pytest.mark.parametrize("kind", KINDS)
def test_classifier_shapes_for_every_kind(kind: str) -> None:
    model = tiny_model(kind)
    tokens = torch.randint(0, 24, (3, 48))
    h = model.features(tokens)
    assert h.shape == (3, 48 + (kind == "sliding_global"), 16)
    assert model(tokens).shape == (3, 2)
    for wrong in (47, 49, 96):  # shorter or longer than the positions the model has
        with pytest.raises(UserError, match="the model has 48 positions"):
            model(torch.randint(0, 24, (3, wrong)))


def _end_interaction(model: SequenceClassifier, span: int = 2) -> float:
    """|logit(a, b) - logit(a, b') - logit(a', b) + logit(a', b')| over the first/last spans, same middle:
    exactly 0 when the logit is a sum A(first) + B(last) + rest, i.e. when no token sees both ends."""
    g = torch.Generator().manual_seed(1)
    middle = torch.randint(0, 16, (8, 48), generator=g)
    logits = {}
    for a in (16, 17):
        for b in (18, 19):
            x = middle.clone()
            x[:, :span], x[:, -span:] = a, b
            with torch.no_grad():
                logits[a, b] = model(x)[:, 1]
    return (logits[16, 18] - logits[16, 19] - logits[17, 18] + logits[17, 19]).abs().max().item()


def test_plain_window_cls_readout_never_sees_the_far_end() -> None:
    tokens = torch.randint(0, 16, (4, 40))
    other = tokens.clone()
    other[:, -2:] = 17  # change only the last two tokens (positions 39 and 40 after the CLS token)
    for kind in KINDS:
        model = tiny_model(kind, readout="cls", seq_len=40).double()
        with torch.no_grad():
            change = (model(tokens) - model(other)).abs().max().item()
        if kind == "sliding":  # the CLS token at position 0 reaches 2 * 4 = 8 positions
            assert change == 0.0
        else:  # global CLS; dilated lattice point 36 sees 32..40 in layer 0; linformer and full see all
            assert change > 1e-6, kind


def test_plain_window_cannot_combine_the_ends_but_the_others_can() -> None:
    # float64, so "exactly additive" shows as rounding error (~1e-16) and a real interaction stands out
    # reach 2 * 4 = 8 < 48 - 2 * 2 + 1: no token sees both spans, so the mean readout is additive in the ends
    assert _end_interaction(tiny_model("sliding").double()) < 1e-10
    for kind in ("full", "sliding_global", "sliding_dilated", "linformer"):
        assert _end_interaction(tiny_model(kind).double()) > 1e-6, kind
    # widen the plain window until the middle tokens see both spans: the ends interact
    assert _end_interaction(tiny_model("sliding", window=23).double()) > 1e-6


def test_linformer_learns_the_tiny_long_range_task_and_the_plain_window_does_not() -> None:
    budget = dict(task="long-range", steps=120, batch_size=32, lr=3e-3, test_examples=256, **TINY_LONG)
    _, lin = train_model(TrainConfig.create(kind="linformer", **budget), progress_bar=False)
    _, plain = train_model(TrainConfig.create(kind="sliding", **budget), progress_bar=False)
    assert lin["accuracy"] >= 0.9
    assert plain["accuracy"] <= 0.62  # chance 0.5; the additive readout cannot do better systematically
    assert lin["steps"] == 120 and lin["train_examples"] == 120 * 32
    assert lin["receptive_field"] is None and plain["receptive_field"] == 8


def test_training_on_tiny_pixel_data_reports_its_budget(tiny_root: Path) -> None:
    config = TrainConfig.create(
        task="pixel-mnist", kind="linformer", steps=6, batch_size=20, train_examples=100, test_examples=50,
        dim=16, window=28, heads=2, k=16,
    )  # fmt: skip
    _, result = train_model(config, root=tiny_root, progress_bar=False)
    assert result["train_examples"] == 100 and result["test_examples"] == 50 and result["steps"] == 6
    assert 0.0 <= result["accuracy"] <= 1.0
    epochs = 6 * 20 / 100
    assert result["seconds_per_epoch"] == pytest.approx(result["train_seconds"] / epochs)
    assert result["config"]["model"]["kind"] == "linformer" and result["receptive_field"] is None
    json.dumps(result)  # JSON-ready


def test_sliding_global_overfits_one_pixel_batch() -> None:
    from conftest import make_images

    images, labels = make_images(20, seed=1)
    tokens, labels = pixel_tokens(torch.from_numpy(images)), torch.from_numpy(labels).long()
    torch.manual_seed(0)
    config = model_config(kind="sliding_global", dim=16, heads=2, window=28, image_shape=(28, 28), position_std=0.7)
    model = SequenceClassifier(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(tokens), labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model("linformer")
    config = TrainConfig.create(task="long-range", kind="linformer", **TINY_LONG)
    path = save_model(model, tmp_path / "m.pt", config)
    loaded, loaded_config = load_model(path)
    tokens = torch.randint(0, 24, (2, 48))
    assert torch.equal(loaded.eval()(tokens), model(tokens))
    assert loaded_config == config
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        load_model(path)
