"""Shared fixtures: tiny IDX data sets in torchvision layout, made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from a3lab.data import raw_files, write_idx

REAL_DATA = os.environ.get("A3LAB_DATA")


@pytest.fixture(autouse=True)
def one_thread():
    """Test tensors are tiny: a second intra-op thread only adds synchronisation (10x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n class-structured 28x28 uint8 images: class c lights up a bar at row/column band c, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.int64)
    for i, c in enumerate(labels):
        r = 2 + 2 * c
        images[i, r : r + 3, 4:24] += 200  # a horizontal bar whose height tells the class
        images[i, 4:24, r : r + 2] += 100 * (c % 2)  # and a vertical bar for odd classes
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def write_tiny_dataset(root: Path, name: str, n_train: int = 200, n_test: int = 100) -> None:
    for train, n in ((True, n_train), (False, n_test)):
        images, labels = make_images(n, seed=(1 if train else 2) + (10 if name == "fashion-mnist" else 0))
        files = raw_files(name, train)
        write_idx(root / files["images"], images)
        write_idx(root / files["labels"], labels)


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A data root with tiny MNIST and Fashion-MNIST (200 train, 100 test images each)."""
    root = tmp_path / "data"
    for name in ("mnist", "fashion-mnist"):
        write_tiny_dataset(root, name)
    return root


@pytest.fixture
def tiny_data(tiny_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Like `tiny_root`, and points A3LAB_DATA at it."""
    monkeypatch.setenv("A3LAB_DATA", str(tiny_root))
    return tiny_root


@pytest.fixture
def real_data() -> Path:
    """The real data sets, or a clean skip where they are absent."""
    if not REAL_DATA or not (Path(REAL_DATA) / "MNIST" / "raw").is_dir():
        pytest.skip("real MNIST / Fashion-MNIST not available (set A3LAB_DATA)")
    return Path(REAL_DATA)
