"""Problem 1, video: seeded clips built from MNIST / Fashion-MNIST items, and their labels.

Legend: N clips, T frames, S = 14 frame side (an item is a 28x28 image average-pooled 2x2), K classes.

Every task is built so that an order-blind model (one that sees the clip as a bag of frames) has a known
ceiling, which makes its failure a statement about order and not about capacity:

- "first": two items of different classes flash for one frame each, at two random distinct times, blank
  frames elsewhere; the label is the class of the item shown first (10 classes). The bag of frames is the
  same whichever came first, so an order-blind model that recognises both items is right half the time.
- "direction": one item slides one pixel a frame (wrapping around the frame) left, right, up or down; the
  label is the direction (4 classes). Reversing a clip reverses the direction and keeps the bag of frames, so
  the order-blind ceiling is 50% (it can tell the axis only).
- "increasing": T items, one a frame, whose classes are sorted (label 1), or sorted with one adjacent pair of
  different classes swapped (label 0). Both share the same multiset of classes: order-blind ceiling 50%.
- "max" (the control, order-blind by design): the clips of "first", labelled with the larger of the two
  classes (10 classes). It needs exactly the recognition of "first" and a rule on classes instead of times, so
  a model that solves "max" but not "first" fails on order alone.
- "sum" (a second control): the same clips labelled with the sum of the two classes (19 classes, 1..17 occur);
  it needs the addition table on top (45 pairs onto 17 sums), so it asks for more training than "max".

Clips are uint8 `[N, T, S, S]`, kept in memory and cached on disk (`$A3LAB_HOME/video`, else
`~/.cache/a3lab/video`) under a key made of every generation argument.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from a3lab.classifiers.video.config import TASKS
from a3lab.data import load_images
from a3lab.errors import UserError
from a3lab.utils import atomic_torch_save, cache_dir

FRAME_SIZE = 14
NUM_CLASSES = {"first": 10, "direction": 4, "increasing": 2, "max": 10, "sum": 19}
ORDER_BLIND_CEILING = {"first": 0.5, "direction": 0.5, "increasing": 0.5, "max": 1.0, "sum": 1.0}
"""Best accuracy of a model that recognises every item but ignores frame order."""
DIRECTIONS = ("left", "right", "up", "down")
_TWO_FLASHES = ("first", "max", "sum")  # tasks that share the two-flash clips
_STEPS = ((0, -1), (0, 1), (-1, 0), (1, 0))  # (dy, dx) per frame for each direction


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise UserError(f"`tasks` must be among {', '.join(TASKS)}, got {task!r}")
    return task


class ItemBank:
    """Items of one split shrunk to S x S, grouped by class so that a class can be drawn in one gather.

    Shapes: images uint8 `[N, S, S]`, labels int64 `[N]`.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise UserError(f"items must be uint8 [N, 28, 28] with N labels, got {tuple(images.shape)}")
        order = torch.argsort(labels, stable=True)
        small = F.avg_pool2d(images[order].float().unsqueeze(1), 2).squeeze(1)  # (N, S, S)
        self.images = small.round().clamp_(0, 255).to(torch.uint8)
        self.labels = labels[order]
        self.counts = torch.bincount(self.labels, minlength=10)  # (10,)
        if bool((self.counts == 0).any()):
            raise UserError("every one of the 10 classes needs at least one item")
        self.starts = torch.cumsum(self.counts, 0) - self.counts  # (10,)

    def draw(self, classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random item of each asked class. Shapes: classes int64 `[...]` -> uint8 `[..., S, S]`."""
        u = torch.rand(classes.shape, generator=generator)
        idx = self.starts[classes] + (u * self.counts[classes]).long().clamp_max_(self.counts[classes] - 1)
        return self.images[idx]


def load_bank(dataset: str, train: bool, root: str | os.PathLike | None = None) -> ItemBank:
    images, labels = load_images(dataset, train=train, root=root)
    return ItemBank(images, labels)


def _two_flashes(n: int, T: int, bank: ItemBank, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips with two items of different classes, one frame each; returns clips and classes `[N, 2]` in
    the order they are shown."""
    if T < 2:
        raise UserError(f"`length` of tasks first/max/sum must be >= 2, got {T}")
    a = torch.randint(0, 10, (n,), generator=g)
    b = (a + torch.randint(1, 10, (n,), generator=g)) % 10  # any class but a's
    times = torch.rand(n, T, generator=g).argsort(1)[:, :2].sort(1).values  # (N, 2) distinct, ascending
    clips = torch.zeros(n, T, FRAME_SIZE, FRAME_SIZE, dtype=torch.uint8)
    rows = torch.arange(n)
    clips[rows, times[:, 0]] = bank.draw(a, g)
    clips[rows, times[:, 1]] = bank.draw(b, g)
    return clips, torch.stack([a, b], 1)


def _direction(n: int, T: int, bank: ItemBank, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 4, (n,), generator=g)
    items = bank.draw(torch.randint(0, 10, (n,), generator=g), g)  # (N, S, S)
    steps = torch.tensor(_STEPS)[labels]  # (N, 2)
    start = torch.randint(0, FRAME_SIZE, (n, 2), generator=g)
    t = torch.arange(T)
    shift = start[:, None, :] + steps[:, None, :] * t[None, :, None]  # (N, T, 2)
    pix = torch.arange(FRAME_SIZE)
    # Rolling by `shift` reads source pixel (p - shift) mod S for each output pixel p.
    rows = (pix[None, None, :] - shift[..., 0:1]) % FRAME_SIZE  # (N, T, S)
    cols = (pix[None, None, :] - shift[..., 1:2]) % FRAME_SIZE  # (N, T, S)
    clips = items[torch.arange(n)[:, None, None, None], rows[..., :, None], cols[..., None, :]]  # (N, T, S, S)
    return clips, labels


def _increasing(n: int, T: int, bank: ItemBank, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if T < 2:
        raise UserError(f"`length` of task increasing must be >= 2, got {T}")
    classes = torch.randint(0, 10, (n, T), generator=g).sort(1).values  # (N, T)
    labels = torch.randint(0, 2, (n,), generator=g)
    rises = classes[:, 1:] > classes[:, :-1]  # (N, T-1) places where a swap breaks the order
    pick = (torch.rand(n, T - 1, generator=g) * rises).argmax(1)  # a random rise (0 when there is none)
    swap = (labels == 0) & rises.any(1)
    labels = torch.where(rises.any(1), labels, torch.ones_like(labels))  # all-equal clips are sorted
    rows = torch.nonzero(swap).squeeze(1)
    i = pick[rows]
    left = classes[rows, i].clone()
    classes[rows, i] = classes[rows, i + 1]
    classes[rows, i + 1] = left
    return bank.draw(classes, g), labels


def make_clips(task: str, num_clips: int, length: int, bank: ItemBank, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_clips` clips of `length` frames for one task, a pure function of its arguments.

    Shapes: -> clips uint8 `[N, T, S, S]`, labels int64 `[N]`.
    """
    _check_task(task)
    if num_clips < 1 or length < 1:
        raise UserError(f"need >= 1 clip of >= 1 frame, got {num_clips} clips of {length} frames")
    g = torch.Generator().manual_seed(seed)
    if task in _TWO_FLASHES:
        clips, shown = _two_flashes(num_clips, length, bank, g)
        return clips, {"first": shown[:, 0], "max": shown.max(1).values, "sum": shown.sum(1)}[task]
    if task == "direction":
        return _direction(num_clips, length, bank, g)
    return _increasing(num_clips, length, bank, g)


def video_cache_dir() -> Path:
    """a3lab's cache folder for the rendered clips (`a3lab.utils.cache_dir("video")`)."""
    return cache_dir("video")


def cached_clips(
    dataset: str,
    train: bool,
    task: str,
    num_clips: int,
    length: int,
    seed: int,
    bank: ItemBank | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`make_clips` over one split of a data set, read from the uint8 cache when it holds them.

    The tasks "first", "max" and "sum" share their clips (only the labels differ), so they share a cache entry.
    """
    _check_task(task)
    family = "first" if task in _TWO_FLASHES else task
    key = {"dataset": dataset, "train": train, "task": family, "n": num_clips, "T": length, "seed": seed, "v": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir or video_cache_dir()) / f"{dataset}-{family}-{digest}.pt"
    if path.is_file():
        try:
            data = torch.load(path, weights_only=True)
            clips, labels = data["clips"], data[f"labels_{task}"]
            if clips.dtype == torch.uint8 and clips.shape == (num_clips, length, FRAME_SIZE, FRAME_SIZE):
                return clips, labels
        except (RuntimeError, KeyError, OSError, EOFError):
            pass  # a damaged cache entry is rebuilt below
    bank = bank if bank is not None else load_bank(dataset, train)
    clips, labels = make_clips(family, num_clips, length, bank, seed)
    data = {"clips": clips, f"labels_{family}": labels}
    for other in _TWO_FLASHES[1:] if family == "first" else ():
        data[f"labels_{other}"] = make_clips(other, num_clips, length, bank, seed)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(data, path)
    return clips, data[f"labels_{task}"]
