"""a3lab.gan.evaluate: the real floor and its cache, metrics of known sample sets, run folders, Inception FID."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from a3lab.data import load_images
from a3lab.gan import evaluate as gan_evaluate
from a3lab.gan import reference as gan_reference
from a3lab.gan import reproduce as gan_reproduce
from a3lab.gan.config import EvalConfig
from test_gan_fixtures import (
    SMALL,
    train_tiny,
    use_judge,
)
from test_gan_metrics import BarClassifier


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> BarClassifier:
    return use_judge(monkeypatch)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """A finished one-epoch DCGAN run folder, conditional and plain (the tests copy them first)."""
    return {c: train_tiny(tmp_path_factory, conditional=c)[0] for c in (True, False)}


@pytest.fixture
def tiny_run(runs, tiny_data: Path, tmp_path: Path):
    """A copy of the conditional (or plain) run folder."""

    def copy(conditional: bool = True) -> Path:
        return Path(shutil.copytree(runs[conditional], tmp_path / ("mnist-cgan" if conditional else "mnist-gan")))

    return copy


def test_fingerprint_covers_scalar_buffers_and_values():
    bn = torch.nn.BatchNorm1d(3)  # holds a 0-d int64 num_batches_tracked
    assert gan_reference.classifier_fingerprint(bn) == gan_reference.classifier_fingerprint(torch.nn.BatchNorm1d(3))
    assert gan_reference.fingerprint(torch.tensor(1.5)) != gan_reference.fingerprint(torch.tensor(2.5))
    assert gan_reference.fingerprint(torch.zeros(2)) != gan_reference.fingerprint(torch.zeros(2, 1))
    assert gan_reference.fingerprint(torch.empty(0)) == gan_reference.fingerprint(torch.empty(0))


def test_real_reference_is_cached_per_classifier(tiny_root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    clf = BarClassifier()
    first = gan_reference.real_reference("mnist", clf, SMALL, root=tiny_root, cache_dir=cache)
    again = gan_reference.real_reference("mnist", clf, SMALL, root=tiny_root, cache_dir=cache)
    assert not first["cached"] and again["cached"]
    assert again["floor"] == first["floor"] and torch.equal(again["features"], first["features"])
    assert first["features"].shape == (60, 28)
    assert first["floor"]["classifier_test_accuracy"] == 1.0
    assert 0 <= first["floor"]["fid"] < 1.0  # train and test images of one distribution
    # Other weights are another judge: a new cache file, not the stale numbers.
    with torch.no_grad():
        clf.head.weight.mul_(2.0)
    assert not gan_reference.real_reference("mnist", clf, SMALL, root=tiny_root, cache_dir=cache)["cached"]
    assert len(list(cache.glob("mnist-*.pt"))) == 2


def test_a_damaged_cache_file_is_recomputed(tiny_root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = gan_reference.real_reference("mnist", BarClassifier(), SMALL, root=tiny_root, cache_dir=cache)
    (path,) = cache.glob("mnist-*.pt")
    path.write_bytes(b"not a checkpoint")
    again = gan_reference.real_reference("mnist", BarClassifier(), SMALL, root=tiny_root, cache_dir=cache)
    assert not again["cached"] and again["floor"] == first["floor"]


def test_real_images_asked_for_their_own_classes_score_like_the_floor(tiny_root: Path, tmp_path: Path):
    images, labels = load_images("mnist", train=True, root=tiny_root)
    result = gan_evaluate.evaluate_samples(
        images, labels, "mnist", BarClassifier(), SMALL, root=tiny_root, cache_dir=tmp_path
    )
    assert result["conditional_accuracy"] == 1.0 and result["per_class_accuracy"] == [1.0] * 10
    assert result["class_entropy_bits"] == pytest.approx(math.log2(10))
    assert result["fid"] < 1.0 and result["precision"] > 0.75 and result["recall"] > 0.75
    assert result["n_generated"] == 200 and result["n_real"] == 60
    json.dumps(result)  # JSON-ready


def test_a_collapsed_generator_scores_worse_on_every_metric(tiny_root: Path, tmp_path: Path):
    images, labels = load_images("mnist", train=True, root=tiny_root)
    good = gan_evaluate.evaluate_samples(images, None, "mnist", BarClassifier(), SMALL, tiny_root, tmp_path)
    sevens = images[labels == 7].repeat(10, 1, 1)  # every image a 7
    asked = torch.arange(len(sevens)) % 10  # ... whatever class was asked for
    bad = gan_evaluate.evaluate_samples(sevens, asked, "mnist", BarClassifier(), SMALL, tiny_root, tmp_path)
    assert good["conditional_accuracy"] is None and good["per_class_accuracy"] is None
    assert bad["fid"] > 10 * good["fid"] and bad["kid"] > good["kid"]
    assert bad["recall"] < 0.3 < good["recall"]
    assert bad["class_entropy_bits"] == 0.0 and bad["class_histogram"][7] == 1.0
    assert bad["conditional_accuracy"] == pytest.approx(0.1)
    assert bad["per_class_accuracy"][7] == 1.0 and bad["per_class_accuracy"][3] == 0.0


def test_tanh_scaled_samples_are_refused(tiny_root: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="uint8"):
        gan_evaluate.evaluate_samples(torch.rand(10, 28, 28) * 2 - 1, None, "mnist", BarClassifier(), SMALL, tiny_root)


def test_evaluate_run_writes_eval_json(tiny_run, judge, tmp_path: Path):
    run = tiny_run(conditional=True)
    result = gan_evaluate.evaluate_run(run, SMALL, cache_dir=tmp_path / "cache")
    saved = json.loads((run / "eval.json").read_text())
    assert saved["fid"] == result["fid"] and saved["dataset"] == "mnist" and saved["conditional"] is True
    assert len(saved["per_class_accuracy"]) == 10 and 0.0 <= saved["conditional_accuracy"] <= 1.0
    assert math.isclose(sum(saved["class_histogram"]), 1.0)
    assert saved["n_generated"] == 100 and saved["arch"] == "dcgan" and saved["epochs_trained"] == 1.0
    table = gan_evaluate.format_table(result)
    assert "FID" in table and "conditional accuracy" in table


def test_evaluate_run_of_a_plain_gan_has_no_conditional_accuracy(tiny_run, judge, tmp_path: Path):
    result = gan_evaluate.evaluate_run(tiny_run(conditional=False), SMALL, cache_dir=tmp_path / "cache")
    assert result["conditional_accuracy"] is None and result["per_class_accuracy"] is None
    assert "conditional accuracy" not in gan_evaluate.format_table(result)


def test_inception_fid_is_skipped_with_a_clear_note_without_the_extra(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(gan_evaluate.metrics, "inception_weights_path", lambda: None)
    images, labels = load_images("mnist", train=True, root=tiny_root)
    config = EvalConfig(n=100, real_n=60, kid_subsets=2, kid_subset_size=30, inception=True)
    result = gan_evaluate.evaluate_samples(images, labels, "mnist", BarClassifier(), config, tiny_root, tmp_path)
    assert result["inception_fid"] is None
    assert "skipped" in result["inception_note"] and "inception" in result["inception_note"]


@pytest.mark.slow  # about a minute on CPU: 3 x 8 images through the 299x299 InceptionV3
@pytest.mark.skipif(gan_evaluate.metrics.inception_weights_path() is None, reason="extra `inception` not installed")
def test_inception_fid_of_real_images_is_finite_and_cached(tiny_root, tmp_path):
    images, labels = load_images("mnist", train=True, root=tiny_root)
    config = EvalConfig(n=100, real_n=60, kid_subsets=2, kid_subset_size=30, inception=True, inception_n=8)
    result = gan_evaluate.evaluate_samples(images, labels, "mnist", BarClassifier(), config, tiny_root, tmp_path)
    assert result["inception_n"] == 8 and math.isfinite(result["inception_fid"]) and result["inception_fid"] >= 0
    assert len(list(tmp_path.glob("mnist-inception-*.pt"))) == 2  # test and training features
    assert gan_evaluate.format_table({**result, "dataset": "mnist", "conditional": True, "arch": "x", "epochs": 1})


class MeanPixels(torch.nn.Module):
    """A cheap stand-in for the Inception network: 4 features per image (means of its quarters), counting calls."""

    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        self.images_seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += len(images)
        x = images.float().view(-1, 2, 14, 2, 14)  # (B, 2, 14, 2, 14): quarters of the image
        return x.mean((2, 4)).flatten(1)  # (B, 4)


def test_inception_features_are_cached_as_a_growing_prefix(tiny_root: Path, tmp_path: Path):
    images, _ = load_images("mnist", train=False, root=tiny_root)
    extractor, path = MeanPixels(), tmp_path / "features.pt"
    five = gan_reference.cached_prefix_features(path, images, 5, extractor)
    eight = gan_reference.cached_prefix_features(path, images, 8, extractor)
    three = gan_reference.cached_prefix_features(path, images, 3, extractor)
    assert extractor.images_seen == 8  # 5, then only the 3 images not cached yet, then none
    assert torch.equal(eight[:5], five) and torch.equal(three, five[:3]) and eight.shape == (8, 4)
    many = gan_reference.cached_prefix_features(path, images, 10_000, extractor)
    assert len(many) == len(images)  # capped at the split
    path.write_bytes(b"damaged")
    assert torch.equal(gan_reference.cached_prefix_features(path, images, 8, extractor), eight)


def test_inception_reference_uses_a_fixed_prefix_of_each_split(tiny_root: Path, tmp_path: Path):
    small = gan_reference.inception_reference("mnist", MeanPixels(), 20, root=tiny_root, cache_dir=tmp_path)
    large = gan_reference.inception_reference("mnist", MeanPixels(), 60, root=tiny_root, cache_dir=tmp_path)
    assert (small["n"], large["n"]) == (20, 60) and torch.equal(large["features"][:20], small["features"])
    assert sorted(p.name.split("-")[2] for p in tmp_path.glob("mnist-inception-*.pt")) == ["test", "train"]
    assert small["fid_floor"] >= 0 and math.isfinite(large["fid_floor"])


def test_inception_fid_names_its_image_count_and_the_published_best(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(gan_evaluate.metrics, "inception_weights_path", lambda: tmp_path)
    monkeypatch.setattr(gan_evaluate.metrics, "InceptionFeatures", lambda device: MeanPixels())
    images, labels = load_images("mnist", train=True, root=tiny_root)
    config = EvalConfig(n=100, real_n=60, kid_subsets=2, kid_subset_size=30, inception=True, inception_n=50)
    result = gan_evaluate.evaluate_samples(images, labels, "mnist", BarClassifier(), config, tiny_root, tmp_path)
    assert (result["inception_n"], result["inception_fid_published"]) == (50, 6.8)
    assert "50 generated vs 50 test images" in result["inception_note"] and "biased upward" in result["inception_note"]
    table = gan_evaluate.format_table({**result, "dataset": "mnist", "conditional": True, "arch": "x", "epochs": 1})
    assert "Lucic et al. 2018" in table and "6.8" in table
    markdown = "\n".join(gan_reproduce.inception_markdown({"mnist-cgan": result}))
    assert f"| mnist-cgan | {result['inception_fid']:.2f} | 50 |" in markdown and "| 6.8 |" in markdown
