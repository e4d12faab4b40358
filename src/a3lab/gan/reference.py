"""The real side of the GAN metrics: the test split's features and the real train-vs-test floor, for the
domain CNN and for Inception, cached per data set and extractor, and the metric set comparing two feature sets.

Legend: N real images, M generated images, F feature dim.

Cache files are named by content hashes (`fingerprint`) of the classifier's weights, the images and the metric
settings, so a retrained CNN or other data never reuses stale numbers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a3lab.data import load_images
from a3lab.errors import CheckpointError, UserError
from a3lab.gan import metrics
from a3lab.gan.config import EvalConfig
from a3lab.utils import atomic_torch_save, cache_dir, load_checkpoint

CACHE_VERSION = 2  # bump when the floor's definition changes: old cache files are then never read
# Seeds the fixed order of each split whose prefixes the Inception FID uses (and caches).
INCEPTION_ORDER_SEED = 0


def default_eval_cache() -> Path:
    """Where real-image features and floors are cached: next to the data cache (`~/.cache/a3lab/gan-eval`)."""
    return cache_dir("gan-eval")


def fingerprint(*tensors: torch.Tensor) -> str:
    """A short content hash of tensors (weights or images), naming cache files.

    >>> fingerprint(torch.zeros(3)) == fingerprint(torch.zeros(3))
    True
    """
    h = hashlib.sha1()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # reshape: 0-d tensors (BN step counts)
    return h.hexdigest()[:12]


def classifier_fingerprint(classifier: nn.Module) -> str:
    return fingerprint(*classifier.state_dict().values())


def real_subset(images: torch.Tensor, labels: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, ...]:
    """A seeded random subset of n images (all of them, in order, when n is None or too large).

    Shapes: `[N, 28, 28]`, `[N]` -> `[n, 28, 28]`, `[n]`.
    """
    if n is None or n >= len(images):
        return images, labels
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], labels[idx]


def compare(real: torch.Tensor, fake: torch.Tensor, config: EvalConfig) -> dict[str, float]:
    """FID, KID (mean and std), precision and recall of one feature set against another.

    Shapes: real `[N, F]`, fake `[M, F]`.
    """
    # The domain CNN's ReLU features are far from unit scale: the kernel's gamma comes from the real set.
    gamma = metrics.kernel_gamma(real)
    kid, kid_std = metrics.kernel_distance(
        real, fake, config.kid_subsets, config.kid_subset_size, config.seed, gamma=gamma
    )
    precision, recall = metrics.precision_recall(real, fake, k=config.k)
    return {
        "fid": metrics.frechet_distance(real, fake),
        "kid": kid,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
    }


def real_reference(
    dataset: str,
    classifier: nn.Module,
    config: EvalConfig,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Test-split features and the real train-vs-test floor, from the cache when this exact setting was seen.

    The cache key holds the data set, the classifier's weights, the test images, the subset size and the
    metric settings, so a retrained CNN or other data never reuses stale numbers.

    Returns:
        {"features": test features `[N, F]`, "floor": {fid, kid, kid_std, precision, recall, n,
        classifier_test_accuracy}, "cached": bool}.
    """
    test_images, test_labels = real_subset(*load_images(dataset, train=False, root=root), config.real_n, config.seed)
    key = fingerprint(
        test_images,
        torch.tensor([CACHE_VERSION, config.k, config.kid_subsets, config.kid_subset_size, config.seed]),
    )
    path = Path(cache_dir or default_eval_cache()) / f"{dataset}-{classifier_fingerprint(classifier)}-{key}.pt"

    def compute() -> dict[str, Any]:
        train_images, _ = real_subset(*load_images(dataset, train=True, root=root), len(test_images), config.seed + 1)
        test_features, test_logits = metrics.extract_features(
            classifier, test_images, config.batch_size, device, desc=f"{dataset} test features"
        )
        train_features, _ = metrics.extract_features(
            classifier, train_images, config.batch_size, device, desc=f"{dataset} train features"
        )
        floor = compare(test_features, train_features, config)
        floor["n"] = len(test_images)
        floor["classifier_test_accuracy"] = float((test_logits.argmax(1) == test_labels).double().mean())
        return {"features": test_features, "floor": floor}

    state, cached = _cached(path, ("features", "floor"), compute)
    return {"features": state["features"], "floor": state["floor"], "cached": cached}


def inception_reference(
    dataset: str,
    extractor: nn.Module,
    n: int,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inception features of n test images and the Inception FID floor (n training vs the n test images).

    The images are the first n of a fixed shuffle of each split (the same whatever the evaluation's seed), and
    each split's features are cached once per data set: a larger n later extracts only the images not cached
    yet, a smaller one reuses a prefix. n above the test split's size is an error.

    Returns:
        {"features": test features `[n, 2048]`, "fid_floor": float, "n": int}.
    """
    folder = Path(cache_dir or default_eval_cache())
    splits = {}
    for split, train in (("test", False), ("train", True)):
        images, _ = load_images(dataset, train=train, root=root)
        if not train and n > len(images):
            raise UserError(f"`inception_n` must be <= {len(images)} (the {dataset} test split), got {n}")
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(INCEPTION_ORDER_SEED))
        path = folder / f"{dataset}-inception-{split}-{fingerprint(images)}.pt"
        splits[split] = cached_prefix_features(path, images[order], n, extractor, device)
    test, train = splits["test"], splits["train"][: len(splits["test"])]
    return {"features": test, "fid_floor": metrics.frechet_distance(test, train), "n": len(test)}


def cached_prefix_features(
    path: Path, images: torch.Tensor, n: int, extractor: nn.Module, device: str = "cpu"
) -> torch.Tensor:
    """Features of `images[:n]`, extending the cache file at `path` (the features of a prefix) as needed.

    Shapes: images uint8 `[N, 28, 28]` -> `[min(n, N), F]`.
    """
    n = min(n, len(images))
    cached = torch.empty(0)
    if path.is_file():
        try:
            cached = load_checkpoint(path)["features"]
        except (CheckpointError, KeyError, TypeError):
            cached = torch.empty(0)  # a damaged cache file is recomputed and replaced
    if len(cached) >= n:
        return cached[:n]
    more = metrics.extract_inception_features(extractor, images[len(cached) : n], device=device)
    features = torch.cat([cached.reshape(-1, more.shape[1]), more])
    atomic_torch_save({"features": features}, path)
    return features


def _cached(path: Path, keys: tuple[str, ...], compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The dict stored at `path` if it loads and holds `keys`; else `compute()`, stored atomically there.

    Returns (state, whether it came from the cache). A damaged cache file is recomputed and replaced.
    """
    if path.is_file():
        try:
            state = load_checkpoint(path)
            if all(k in state for k in keys):
                return state, True
        except CheckpointError:
            pass
    state = compute()
    atomic_torch_save(state, path)
    return state, False
