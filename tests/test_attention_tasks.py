"""Problem 3's learning experiments: task generators, the classifier, training, Linformer's error, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from a3lab.attention import full_attention
from a3lab.attention.experiment import PRESETS, report_experiment
from a3lab.attention.linformer_error import (
    LinformerErrorConfig,
    capture_qkv,
    linformer_error,
    linformer_error_curve,
    projection_matrix,
)
from a3lab.attention.tasks import (
    KINDS,
    ModelConfig,
    SequenceClassifier,
    TrainConfig,
    layer_dilations,
    load_model,
    long_range_batch,
    pixel_tokens,
    receptive_field,
    save_model,
    train_model,
)
from a3lab.cli import main
from a3lab.data import ImageBatches
from a3lab.errors import CheckpointError

# A long-range task small enough for tests: 40 tokens, the two 9-token spans 23 positions apart, plain reach 8;
# dilation 9 <= span, so the readout's dilated lattice lands in both spans (reach 4 + 4 * 9 = 40).
TINY_LONG = dict(length=40, span=9, dim=16, depth=2, heads=2, window=4, dilation=9, k=8)


def tiny_model(kind: str, **overrides) -> SequenceClassifier:
    torch.manual_seed(0)
    options = dict(kind=kind, seq_len=48, vocab_size=24, num_classes=2, dim=16, depth=2, heads=2, window=4)
    options.update(dilation=9, k=8)
    options.update(overrides)
    return SequenceClassifier(ModelConfig(**options)).eval()


# ----------------------------------------------------------------------------------------------------------------
# data


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


# ----------------------------------------------------------------------------------------------------------------
# the classifier


@pytest.mark.parametrize("kind", KINDS)
def test_classifier_shapes_for_every_kind(kind: str) -> None:
    model = tiny_model(kind)
    tokens = torch.randint(0, 24, (3, 48))
    h = model.features(tokens)
    assert h.shape == (3, 48 + (kind == "sliding_global"), 16)
    assert model(tokens).shape == (3, 2)
    with pytest.raises(ValueError, match=r"tokens must be \[B, 48\]"):
        model(torch.randint(0, 24, (3, 47)))


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


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(kind="banded"), "`kind` must be one of"),
        (dict(window=0), "`window`"),
        (dict(kind="linformer", k=49), "`k` must be <="),
        (dict(dim=15), "divisible by `heads`"),
        (dict(kind="sliding_dilated", dilation=1), "`dilation` >= 2"),
        (dict(kind="sliding_dilated", depth=1), "`depth` >= 2"),
        (dict(num_classes=1), "`num_classes`"),
        (dict(image_shape=(6, 7)), "image_shape"),
    ],
)
def test_model_config_errors_name_the_flag(overrides: dict, message: str) -> None:
    options = dict(kind="sliding", seq_len=48, vocab_size=24, num_classes=2, dim=16, depth=2, heads=2, window=4)
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**options, **overrides})


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(task="pixel-cifar"), "`task`"),
        (dict(steps=0), "`steps`"),
        (dict(lr=0.0), "`lr`"),
        (dict(train_examples=0), "`train_examples`"),
        (dict(task="long-range", length=2048, span=1025), "`span`"),
        (dict(task="long-range", length=64, kind="linformer", k=66), "`k`"),  # 64 tokens + CLS
    ],
)
def test_train_config_errors_name_the_flag(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


# ----------------------------------------------------------------------------------------------------------------
# training


def test_linformer_learns_the_tiny_long_range_task_and_the_plain_window_does_not() -> None:
    budget = dict(task="long-range", steps=120, batch_size=32, lr=3e-3, test_examples=256, **TINY_LONG)
    _, lin = train_model(TrainConfig(kind="linformer", **budget), progress_bar=False)
    _, plain = train_model(TrainConfig(kind="sliding", **budget), progress_bar=False)
    assert lin["accuracy"] >= 0.9
    assert plain["accuracy"] <= 0.62  # chance 0.5; the additive readout cannot do better systematically
    assert lin["steps"] == 120 and lin["train_examples"] == 120 * 32
    assert lin["receptive_field"] is None and plain["receptive_field"] == 8


def test_training_on_tiny_pixel_data_reports_its_budget(tiny_root: Path) -> None:
    config = TrainConfig(
        task="pixel-mnist", kind="linformer", steps=6, batch_size=20, train_examples=100, test_examples=50,
        dim=16, window=28, heads=2, k=16,
    )  # fmt: skip
    _, result = train_model(config, root=tiny_root, progress_bar=False)
    assert result["train_examples"] == 100 and result["test_examples"] == 50 and result["steps"] == 6
    assert 0.0 <= result["accuracy"] <= 1.0
    epochs = 6 * 20 / 100
    assert result["seconds_per_epoch"] == pytest.approx(result["train_seconds"] / epochs)
    assert result["config"]["kind"] == "linformer" and result["receptive_field"] is None
    json.dumps(result)  # JSON-ready


def test_sliding_global_overfits_one_pixel_batch() -> None:
    from conftest import make_images

    images, labels = make_images(20, seed=1)
    tokens, labels = pixel_tokens(torch.from_numpy(images)), torch.from_numpy(labels).long()
    torch.manual_seed(0)
    config = ModelConfig(kind="sliding_global", dim=16, heads=2, window=28, image_shape=(28, 28), position_std=0.7)
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
    config = TrainConfig(task="long-range", kind="linformer", **TINY_LONG)
    path = save_model(model, tmp_path / "m.pt", config)
    loaded, loaded_config = load_model(path)
    tokens = torch.randint(0, 24, (2, 48))
    assert torch.equal(loaded.eval()(tokens), model(tokens))
    assert loaded_config == config
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        load_model(path)


# ----------------------------------------------------------------------------------------------------------------
# Linformer's error


def test_projection_matrices() -> None:
    pool = projection_matrix("pool", 3, 10)
    assert pool.shape == (3, 10)
    assert torch.allclose(pool.sum(1), torch.ones(3))
    assert ((pool > 0).sum(1) >= 3).all()  # segments of 3 or 4 positions
    assert torch.equal(projection_matrix("pool", 10, 10), torch.eye(10))
    assert projection_matrix("gaussian", 4, 10, torch.Generator().manual_seed(0)).shape == (4, 10)
    with pytest.raises(ValueError, match="`k`"):
        projection_matrix("pool", 11, 10)
    with pytest.raises(ValueError, match="`projection`"):
        projection_matrix("svd", 2, 10)


def test_linformer_error_is_zero_at_k_equal_n_and_large_at_small_k() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 32, 8, generator=g) for _ in range(3))
    errors = linformer_error_curve(q, k, v, [2, 8, 32], "pool")
    assert errors[-1] < 1e-6
    assert errors[0] > 0.1 and errors[0] > errors[-1]
    gaussian = linformer_error_curve(q, k, v, [2, 32], "gaussian", draws=2)
    assert all(e > 0.01 for e in gaussian)


def test_capture_qkv_gives_the_layer_its_own_output() -> None:
    model = tiny_model("full", depth=1)
    tokens = torch.randint(0, 24, (3, 48))
    q, k, v = capture_qkv(model, tokens)
    assert q.shape == (3, 2, 48, 8)
    attn = model.blocks[0].attn
    x = model.blocks[0].norm1(model.embed(tokens) + model.position())
    out = full_attention(q, k, v).transpose(1, 2).reshape(3, 48, 16)  # (B, N, H * D)
    assert torch.allclose(attn.proj(out), attn(x), atol=1e-6)


def test_linformer_error_on_a_model_and_random_inputs() -> None:
    model = tiny_model("full")
    config = LinformerErrorConfig(ks=(4, 16, 48), seq_len=48, heads=2, head_dim=8, examples=4)
    result = linformer_error(config, model, torch.randint(0, 24, (6, 48)))
    assert result["k"] == [4, 16, 48]
    assert len(result["random"]) == len(result["trained"]) == 3
    assert result["random"][-1] < 1e-6 and result["trained"][-1] < 1e-6
    assert result["random"][0] > 0.01 and result["trained"][0] > result["trained"][-1]
    with pytest.raises(ValueError, match="`k` values"):
        LinformerErrorConfig(ks=(4, 49), seq_len=48)


# ----------------------------------------------------------------------------------------------------------------
# the CLI and the report


def test_cli_train_and_linformer_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    args = ["attention", "train", "--task", "long-range", "--kind", "full", "--steps", "2", "--batch-size", "4"]
    args += ["--length", "40", "--span", "9", "--window", "4", "--dim", "8", "--test-examples", "8"]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["full"]["steps"] == 2
    assert (out / "long-range_full.pt").is_file()
    err_json = tmp_path / "err.json"
    args = ["attention", "linformer-error", "--checkpoint", str(out / "long-range_full.pt"), "--k", "4,41"]
    code = main([*args, "--examples", "4", "--out", str(err_json), "--plot", str(tmp_path / "err.png")])
    assert code == 0
    err = json.loads(err_json.read_text())
    assert err["k"] == [4, 41] and err["trained"][1] < 1e-6  # 40 tokens + CLS: K = N is exact
    assert (tmp_path / "err.png").stat().st_size > 1000
    capsys.readouterr()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--task", "long-range", "--kind", "sliding-dilated", "--dilation", "1"], "--dilation >= 2"),
        (["train", "--task", "long-range", "--length", "64", "--span", "8", "--kind", "linformer", "--k", "66"], "--k"),
        (["linformer-error", "--k", "8,x"], "--k must be comma-separated"),
        (["linformer-error", "--k", "8,900"], "--k values"),
        (["linformer-error", "--checkpoint", "missing.pt"], "checkpoint not found"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(args: list, message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["attention", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("a3lab: error:") and message in err and "\n" not in err


def test_cli_rejects_a_zero_window(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["attention", "train", "--task", "long-range", "--window", "0"])
    assert exc.value.code == 2
    assert "--window" in capsys.readouterr().err


def test_report_experiment_keys_and_images(tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = dataclasses.replace(
        PRESETS["quick"], pixel_steps=2, pixel_train_examples=8, pixel_test_examples=8, batch_size=4,
        long_range_steps=2, long_range_batch_size=4, long_range_test_examples=8, linformer_examples=2,
        pixel={"dim": 8, "depth": 1, "heads": 2, "window": 28, "k": 16}, long_range=dict(TINY_LONG, dim=8),
    )  # fmt: skip
    monkeypatch.setitem(PRESETS, "quick", tiny)
    result = report_experiment("quick", tmp_path, device="cpu", seed=0)
    assert set(result) == {"images", "pixel", "long_range", "linformer_error", "budget"}
    steps = 8 * 2 + len(tiny.long_range_kinds) * 2  # pixel runs x steps + long-range runs x steps
    assert result["budget"]["planned"] == result["budget"]["done"] == steps and result["budget"]["images"] == 8
    assert set(result["pixel"]) == {"mnist", "fashion-mnist"}
    for per_kind in result["pixel"].values():
        assert set(per_kind) == {"full", "sliding", "sliding_global", "linformer"}
        for r in per_kind.values():
            assert set(r) == {"accuracy", "seconds_per_epoch", "steps", "train_examples"}
            assert r["steps"] == 2 and r["train_examples"] == 8
    lr = result["long_range"]
    assert set(lr) == {"length", "layers", "window", "chance", "results"}
    assert (lr["length"], lr["layers"], lr["window"], lr["chance"]) == (40, 2, 4, 0.5)
    assert set(lr["results"]) == set(tiny.long_range_kinds)
    le = result["linformer_error"]
    assert set(le) == {"k", "random", "trained"} and len(le["k"]) == len(le["random"]) == len(le["trained"])
    for name in result["images"]:
        assert (tmp_path / name).stat().st_size > 1000
    json.dumps(result)
    assert json.loads((tmp_path / "attention_tasks.json").read_text())["summary"] == result
    with pytest.raises(ValueError, match="`preset`"):
        report_experiment("huge", tmp_path)
