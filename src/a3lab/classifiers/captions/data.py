"""Problem 1, captions: strips of items side by side, their captions, and the caption metrics.

Legend: N strips, L items in a strip (its length), W = 28 L pixels wide.

A strip is L test- or training-split items of one data set placed left to right, uint8 `[28, 28 L]`, black
background as in MNIST. Its caption is the items' words in order: digits as English words ("seven two nine"),
Fashion-MNIST items by their class names in lower case ("shirt sneaker bag"), with the two-word name written
"ankle-boot" so that one word is one item.
"""

from __future__ import annotations

import numpy as np
import torch

from a3lab.data import load_images
from a3lab.errors import UserError

ITEM = 28
MAX_ITEMS = 8
WORDS = {
    "mnist": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "fashion-mnist": (
        "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot",
    ),
}  # fmt: skip


def words(dataset: str) -> tuple[str, ...]:
    if dataset not in WORDS:
        raise UserError(f"`dataset` must be one of {', '.join(WORDS)}, got {dataset!r}")
    return WORDS[dataset]


def caption(classes: list[int] | torch.Tensor, dataset: str) -> str:
    """Class indices -> the caption, words separated by single spaces."""
    vocab = words(dataset)
    return " ".join(vocab[int(c)] for c in classes)


def make_strips(
    images: torch.Tensor, labels: torch.Tensor, num_strips: int, length: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_strips` strips of `length` random items each, a pure function of its arguments.

    Shapes: images uint8 `[M, 28, 28]`, labels `[M]` -> strips uint8 `[N, 28, 28 L]`, classes int64 `[N, L]`.
    """
    if not 1 <= length <= MAX_ITEMS or num_strips < 1:
        raise UserError(f"need >= 1 strip of 1..{MAX_ITEMS} items, got {num_strips} of {length}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(images), (num_strips, length), generator=g)  # (N, L)
    strips = images[idx].permute(0, 2, 1, 3).reshape(num_strips, ITEM, ITEM * length)  # (N, 28, L, 28) -> (N, 28, W)
    return strips.contiguous(), labels[idx].long()


def strip_sets(
    dataset: str, train: bool, lengths: range | tuple[int, ...], per_length: int, seed: int
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Strips of each length from one split, {L: (strips `[n, 28, 28 L]`, classes `[n, L]`)}."""
    images, labels = load_images(dataset, train=train)
    return {n: make_strips(images, labels, per_length, n, seed * 1_000 + 17 * n + (0 if train else 7)) for n in lengths}


def word_errors(hypothesis: list[int], reference: list[int]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions and deletions).

    >>> word_errors([1, 2, 3], [1, 3])
    1
    """
    previous = list(range(len(reference) + 1))
    for i, h in enumerate(hypothesis, 1):
        current = [i]
        for j, r in enumerate(reference, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r)))
        previous = current
    return previous[-1]


def caption_metrics(hypotheses: list[list[int]], references: torch.Tensor) -> dict[str, float]:
    """Exact-caption accuracy and word error rate (errors / reference words) of one set of strips."""
    refs = references.tolist()
    exact = sum(h == r for h, r in zip(hypotheses, refs))
    errors = sum(word_errors(h, r) for h, r in zip(hypotheses, refs))
    return {"exact": exact / len(refs), "wer": errors / max(1, sum(len(r) for r in refs))}


_SAVE_HINT = "write it with numpy.savez(path, images=strips)"
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


def _check_npz_header(path: str) -> None:
    """An .npz file is a zip archive: a single .npy array or any other file is refused by what it holds, before
    NumPy's own messages (a context-manager TypeError, "pickled data") could speak for it."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected an .npz file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror})") from None
    if head.startswith(_NPY_MAGIC):
        raise UserError(f"{path}: a single .npy array, not an .npz archive; {_SAVE_HINT}")
    if not head.startswith(_ZIP_MAGIC):
        raise UserError(f"{path}: not an .npz file (no zip header); {_SAVE_HINT}")


def read_strips(path: str) -> torch.Tensor:
    """A user's strips: an .npz file whose `images` is uint8 `[N, 28, 28 L]`, 1 <= L <= 8.

    Raises:
        UserError: missing or unreadable file, no `images` array, or the wrong dtype or shape.
    """
    _check_npz_header(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "images" not in data.files:
                raise UserError(f"{path}: no array named 'images' (found: {', '.join(data.files) or 'none'})")
            images = data["images"]
    except UserError:
        raise
    except Exception as e:  # zip or format errors of a damaged file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{path}: not a readable .npz file ({reason}); {_SAVE_HINT}") from None
    if images.dtype != np.uint8:
        raise UserError(f"{path}: the array 'images' must be uint8, got {images.dtype}")
    if images.ndim != 3 or images.shape[0] < 1 or images.shape[1] != ITEM or images.shape[2] % ITEM:
        raise UserError(f"{path}: the array 'images' must be [N >= 1, 28, 28 * L], got {list(images.shape)}")
    if not 1 <= images.shape[2] // ITEM <= MAX_ITEMS:
        raise UserError(f"{path}: strips must hold 1..{MAX_ITEMS} items (28..224 pixels wide), got {images.shape[2]}")
    return torch.from_numpy(images.copy())
