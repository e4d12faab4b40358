"""Video clips (a3lab.classifiers.video.data): seeded, labelled as each task says, cached."""

from __future__ import annotations

import pytest
import torch

from a3lab.classifiers.video.config import TASKS
from a3lab.classifiers.video.data import (
    FRAME_SIZE,
    NUM_CLASSES,
    ItemBank,
    cached_clips,
    make_clips,
)


@pytest.fixture
def coded_bank() -> ItemBank:
    """Items whose pixels all equal 20 * class + 10, so a frame's class can be read back from any pixel."""
    labels = torch.arange(30) % 10
    images = (20 * labels + 10).to(torch.uint8)[:, None, None].expand(30, 28, 28).contiguous()
    return ItemBank(images, labels)


def frame_classes(clips: torch.Tensor) -> torch.Tensor:
    """Class shown in each frame (-1 for a blank one). Shapes: `[N, T, S, S]` -> `[N, T]`."""
    value = clips[..., 0, 0].long()
    return torch.where(value == 0, -1, (value - 10) // 20)


@pytest.mark.parametrize("task", TASKS)
def test_clips_are_a_pure_function_of_the_seed(coded_bank, task):
    a, la = make_clips(task, 16, 5, coded_bank, seed=3)
    b, lb = make_clips(task, 16, 5, coded_bank, seed=3)
    c, _ = make_clips(task, 16, 5, coded_bank, seed=4)
    assert a.dtype == torch.uint8 and a.shape == (16, 5, FRAME_SIZE, FRAME_SIZE)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert la.min() >= 0 and la.max() < NUM_CLASSES[task]


def test_two_flash_labels(coded_bank):
    clips, first = make_clips("first", 200, 7, coded_bank, seed=0)
    _, largest = make_clips("max", 200, 7, coded_bank, seed=0)
    _, total = make_clips("sum", 200, 7, coded_bank, seed=0)
    shown = frame_classes(clips)
    assert ((shown >= 0).sum(1) == 2).all()  # two flashes, blank frames elsewhere
    pairs = torch.stack([row[row >= 0] for row in shown])  # (N, 2) in the order shown
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert torch.equal(first, pairs[:, 0])
    assert torch.equal(largest, pairs.max(1).values)
    assert torch.equal(total, pairs.sum(1))


def test_direction_clips_move_one_pixel_per_frame(coded_bank):
    labels_img = torch.zeros(10, 28, 28, dtype=torch.uint8)
    labels_img[:, 4:8, 10:14] = 255  # a blob, so that a shift is visible
    bank = ItemBank(labels_img, torch.arange(10))
    clips, labels = make_clips("direction", 40, 6, bank, seed=1)
    steps = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}
    for clip, label in zip(clips, labels.tolist()):
        dy, dx = steps[label]
        for t in range(5):
            assert torch.equal(clip[t + 1], torch.roll(clip[t], shifts=(dy, dx), dims=(0, 1)))


def test_increasing_labels(coded_bank):
    clips, labels = make_clips("increasing", 300, 6, coded_bank, seed=2)
    shown = frame_classes(clips)
    inversions = (shown[:, 1:] < shown[:, :-1]).sum(1)
    assert torch.equal(inversions == 0, labels == 1)
    assert (inversions[labels == 0] == 1).all()  # one adjacent swap: same multiset, one step out of order
    assert 0.3 < labels.float().mean() < 0.7


def test_cached_clips_round_trip(coded_bank, tmp_path):
    a = cached_clips("mnist", True, "first", 8, 4, 0, bank=coded_bank, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    b = cached_clips("mnist", True, "max", 8, 4, 0, bank=None, cache_dir=tmp_path)  # shared entry, no data read
    assert torch.equal(a[0], b[0]) and torch.equal(b[1], make_clips("max", 8, 4, coded_bank, 0)[1])
