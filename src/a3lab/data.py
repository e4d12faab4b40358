"""MNIST and Fashion-MNIST as in-memory tensors, and a fast batch iterator over them.

Legend: N examples, B batch, C classes (10).

Where the files come from, in order: the `root` argument; the environment variable `A3LAB_DATA`;
a per-user cache folder (`a3lab.utils.cache_dir("data")`: `$A3LAB_HOME/data`, else `$XDG_CACHE_HOME/a3lab/data`,
else `~/.cache/a3lab/data`), downloading there
with torchvision when online. Set `A3LAB_OFFLINE=1` to never try a download.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from a3lab.catalog import DATASETS, NUM_CLASSES
from a3lab.errors import DataError, UserError
from a3lab.utils import cache_dir

CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}  # fmt: skip
_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}


def raw_files(name: str, train: bool) -> dict[str, str]:
    """The IDX file names (relative to the data root) of one split, as torchvision lays them out."""
    prefix = "train" if train else "t10k"
    folder = f"{_FOLDERS[_check_name(name)]}/raw"
    return {"images": f"{folder}/{prefix}-images-idx3-ubyte", "labels": f"{folder}/{prefix}-labels-idx1-ubyte"}


def find_root(name: str, root: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Pick the data root and say why: ('argument' | 'A3LAB_DATA' | 'cache')."""
    if root is not None:
        return Path(root), "argument"
    env = os.environ.get("A3LAB_DATA")
    if env:
        return Path(env), "A3LAB_DATA"
    return cache_dir("data"), "cache"


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise UserError(f"`dataset` must be one of {', '.join(DATASETS)}, got {name!r}")
    return name


def _missing_message(name: str, root: Path, source: str, train: bool) -> str:
    files = ", ".join(raw_files(name, train).values())
    return (
        f"{name} not found under {root} (from {source}) and it could not be downloaded; "
        f"set A3LAB_DATA to a folder holding {files}"
    )


def check_idx(path: str | os.PathLike, kind: Literal["images", "labels"]) -> list[int]:
    """Check one uncompressed IDX file's magic number and size against its header, without reading it all.

    Returns:
        the dimensions from the header (`[N, rows, cols]` for images, `[N]` for labels).

    Raises:
        DataError: wrong magic number, truncated or oversized file, naming the file.
    """
    path = Path(path)
    ndim = 3 if kind == "images" else 1
    header_len = 4 + 4 * ndim
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(header_len)
    if len(header) < header_len:
        raise DataError(f"{path}: truncated IDX file ({size} bytes, the header alone needs {header_len})")
    magic = int.from_bytes(header[:4], "big")
    if magic != _IDX_MAGIC[kind]:
        raise DataError(
            f"{path}: not an IDX {kind} file (magic number {magic:#010x}, expected {_IDX_MAGIC[kind]:#010x})"
        )
    dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header_len + int(np.prod(dims))
    if size != expected:
        what = "truncated" if size < expected else "has trailing bytes"
        raise DataError(f"{path}: {what} IDX file ({size} bytes, its header {dims} says {expected})")
    return dims


def read_idx(path: str | os.PathLike, kind: Literal["images", "labels"]) -> np.ndarray:
    """The uint8 array of one IDX file (`[N, rows, cols]` images or `[N]` labels), its header checked first."""
    dims = check_idx(path, kind)
    return np.fromfile(path, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray | torch.Tensor) -> Path:
    """Write a uint8 array as an IDX file (`[N, rows, cols]` images or `[N]` labels); used by tests."""
    arr = np.asarray(array, dtype=np.uint8)
    kind = "images" if arr.ndim == 3 else "labels"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = _IDX_MAGIC[kind].to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.tobytes())
    return path


def _torchvision_class(name: str):
    from torchvision import datasets

    return datasets.MNIST if name == "mnist" else datasets.FashionMNIST


def load_images(
    name: str, train: bool = True, root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a whole split into memory.

    Args:
        name: "mnist" or "fashion-mnist".
        train: training split (60,000) or test split (10,000).
        root: data folder in torchvision layout; default `A3LAB_DATA`, then the cache (downloading).

    Returns:
        images uint8 `[N, 28, 28]`, labels int64 `[N]`.

    Raises:
        DataError: files missing and no download possible, or a corrupt file (naming it).
    """
    images, labels, _ = _load(name, train, root)
    return images, labels


def _load(name: str, train: bool, root) -> tuple[torch.Tensor, torch.Tensor, Path]:
    _check_name(name)
    base, source = find_root(name, root)
    files = {k: base / v for k, v in raw_files(name, train).items()}
    if not all(p.is_file() for p in files.values()):
        if source != "cache" or os.environ.get("A3LAB_OFFLINE") == "1":
            raise DataError(_missing_message(name, base, source, train))
        _download(name, base, train, source)
    # Read the IDX files ourselves: one clear error naming the file, and one split needs only its own two
    # files (torchvision asks for both splits).
    images = read_idx(files["images"], "images")
    labels = torch.from_numpy(read_idx(files["labels"], "labels")).long()
    if len(images) != len(labels):
        raise DataError(f"{files['images']}: {len(images)} images but {files['labels']} has {len(labels)} labels")
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < NUM_CLASSES:
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES)]
        raise DataError(
            f"{files['labels']}: {len(bad)} label values outside 0..{NUM_CLASSES - 1} (e.g. {int(bad[0])}); "
            "the file is corrupt"
        )
    return torch.from_numpy(images), labels, files["images"].parent


def _download(name: str, base: Path, train: bool, source: str) -> None:
    try:
        _torchvision_class(name)(str(base), train=train, download=True)
    except Exception:
        raise DataError(_missing_message(name, base, source, train)) from None


def class_names(name: str) -> list[str]:
    return CLASS_NAMES[_check_name(name)]


# ----------------------------------------------------------------------------- batching

Scale = Literal["unit", "standard", "symmetric"]
# Per-data-set pixel statistics on the training split (in [0, 1] units), used by scale="standard".
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}


@dataclass
class ImageBatches:
    """Shuffled mini-batches over in-memory uint8 images; a new permutation every epoch.

    The whole batch is indexed and normalised at once (no per-sample work). With `world_size > 1`
    each rank takes its own shard of every epoch's permutation (same seed on every rank).

    Iterating yields the rest of the current epoch: an iteration stopped mid-epoch (or a `state_dict` saved
    then and loaded into a fresh instance) continues at the next batch of the same permutation. `epoch`
    counts finished epochs, `step` the batches already yielded in the current one.

    Shapes: yields x float32 `[B, 1, 28, 28]` and y int64 `[B]`.
    """

    images: torch.Tensor  # uint8 [N, 28, 28]
    labels: torch.Tensor  # int64 [N]
    batch_size: int = 64
    shuffle: bool = True
    drop_last: bool = False
    scale: Scale = "unit"
    mean: float = 0.5
    std: float = 0.5
    seed: int = 0
    device: torch.device | str = "cpu"
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"`batch_size` must be >= 1, got {self.batch_size}")
        if self.images.ndim != 3 or self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"images must be [N, H, W] with N labels, got {tuple(self.images.shape)} and {tuple(self.labels.shape)}"
            )
        self.images = self.images.to(self.device)
        self.labels = self.labels.to(self.device)
        # Always the state before the current epoch's permutation: it advances only when an epoch ends, so the
        # permutation can be drawn again to continue an epoch.
        self._generator = torch.Generator().manual_seed(self.seed)
        self.epoch = 0
        self.step = 0

    @property
    def shard_size(self) -> int:
        return len(self.images) // self.world_size if self.world_size > 1 else len(self.images)

    def __len__(self) -> int:
        n = self.shard_size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 `[B, 28, 28]` -> float `[B, 1, 28, 28]` in the configured scale."""
        x = x.unsqueeze(1).float().div_(255.0)
        if self.scale == "symmetric":
            return x.mul_(2.0).sub_(1.0)  # [-1, 1], for tanh generators
        if self.scale == "standard":
            return x.sub_(self.mean).div_(self.std)
        return x

    def order(self) -> torch.Tensor:
        """The current epoch's index order for this rank (the same until the epoch ends).

        Shapes: -> `[N / world_size]` int64, on the images' device.
        """
        idx, _ = self._draw_order()
        return idx

    def _draw_order(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(this epoch's order for this rank, the generator state after drawing it; None without shuffling)."""
        n = len(self.images)
        if self.shuffle:
            generator = torch.Generator().manual_seed(0)
            generator.set_state(self._generator.get_state())
            idx, after = torch.randperm(n, generator=generator), generator.get_state()
        else:
            idx, after = torch.arange(n), None
        if self.world_size > 1:
            per = n // self.world_size
            idx = idx[self.rank * per : (self.rank + 1) * per]
        return idx.to(self.images.device), after

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx, after = self._draw_order()
        while self.step < len(self):
            batch = idx[self.step * self.batch_size : (self.step + 1) * self.batch_size]
            self.step += 1  # counted before the yield: a state saved while the batch is in use comes after it
            yield self.normalise(self.images[batch]), self.labels[batch]
        if after is not None:
            self._generator.set_state(after)
        self.epoch += 1
        self.step = 0

    def state_dict(self) -> dict:
        """The position in the data: the RNG state before this epoch's permutation, finished epochs, batches done."""
        return {"generator": self._generator.get_state(), "epoch": self.epoch, "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        """Continue where `state_dict` was taken (a state without "step" is taken at an epoch's start)."""
        step = int(state.get("step", 0))
        if not 0 <= step <= len(self):
            raise ValueError(f"data state at batch {step} of an epoch of {len(self)} batches: not this data")
        self._generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        self.step = step


def dataset_info(name: str, root: str | os.PathLike | None = None) -> dict:
    """Counts per split and class, pixel mean/std (in [0, 1]), and where the files were found."""
    info: dict = {"dataset": name, "classes": class_names(name), "splits": {}}
    for split, train in (("train", True), ("test", False)):
        images, labels, folder = _load(name, train, root)
        x = images.double().div_(255.0)
        info["location"] = str(folder)
        info["splits"][split] = {
            "count": len(labels),
            "per_class": torch.bincount(labels, minlength=NUM_CLASSES).tolist(),
            "pixel_mean": round(x.mean().item(), 4),
            "pixel_std": round(x.std().item(), 4),
        }
    return info


def format_info(info: dict) -> str:
    """`dataset_info` as a table: one row per split, with its per-class counts."""
    lines = [
        f"{info['dataset']}  (files in {info['location']})",
        f"  {'split':<6} {'count':>6} {'mean':>7} {'std':>7}  per class",
    ]
    for split, s in info["splits"].items():
        per = " ".join(f"{c:>5}" for c in s["per_class"])
        lines.append(f"  {split:<6} {s['count']:>6} {s['pixel_mean']:>7.4f} {s['pixel_std']:>7.4f}  {per}")
    return "\n".join(lines)
