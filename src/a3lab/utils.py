"""Small helpers every area needs: seeding, device choice, atomic files, safe checkpoint loading."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from a3lab.config import MAX_SEED
from a3lab.errors import CheckpointError, UserError, WriteError
from a3lab.runs import TEMP_SUFFIX, cache_dir  # noqa: F401 (cache_dir: read from here by the data loaders)

DeviceName = Literal["auto", "cpu", "cuda"]


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices); each distributed rank gets `seed + rank`."""
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"`seed` must be in 0 .. {MAX_SEED:,}, got {seed:,}")
    s = seed + rank
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)


def resolve_device(name: str = "auto") -> torch.device:
    """Turn `auto|cpu|cuda` (or `cuda:N`) into a device; `auto` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"`device` {name} asked for, but no CUDA device is available (use --device cpu)")
        return torch.device(name)
    raise UserError(f"`device` must be auto, cpu or cuda, got {name!r}")


# glibc's mallopt parameters (malloc.h) and the values `keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_UP_TO = 1 << 30  # freed heap memory kept for reuse, bytes
_MMAP_ABOVE = 1 << 28  # allocations served by mmap only above this size, bytes


def keep_freed_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse instead of handing it back to the OS after every op.

    PyTorch on CPU allocates and frees each activation and gradient every step; with glibc's defaults the
    larger ones are mmap-ed and released again, so every step pays a page fault per 4 KiB touched
    (`benchmarks/gan.py --default-malloc` measures the difference). This is what PyTorch's CPU tuning guide gets
    by preloading jemalloc or tcmalloc. Process-wide; the cost is that the process keeps its peak heap.
    Returns whether it applied (glibc only; elsewhere a no-op).
    """
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_UP_TO) == 1
        return libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE) == 1 and ok
    except (OSError, AttributeError):
        return False


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + rename), then close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    finally:
        plt.close(fig)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write through a temp file in the same folder, then rename: readers never see half a file.

    Raises:
        WriteError: the OS refused the write (disk full, permission, read-only); the message names the file and
            says that its previous version, if any, is intact.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        reason = _os_reason(e, path.parent)
        if reason is None:
            raise
        raise WriteError(f"cannot write {path}: {reason}; {_what_is_safe(path)}") from None
    return path


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def _os_reason(e: BaseException, folder: Path) -> str | None:
    """The OS reason behind a failed write, or None when it was not the OS (a bug, an interrupt)."""
    if isinstance(e, OSError):
        return e.strerror or str(e)
    if isinstance(e, RuntimeError):  # libraries writing from C++ (torch's zip writer) lose the errno
        with contextlib.suppress(OSError):
            if shutil.disk_usage(folder).free < 1 << 20:
                return os.strerror(errno.ENOSPC)
        if "write" in str(e).lower():
            return f"the write failed ({str(e).splitlines()[0][:120]})"
    return None


def _what_is_safe(path: Path) -> str:
    if path.exists():
        return "its previous version is intact (writes go through a temp file); free space or fix permissions and rerun"
    return "nothing was written to it; free space or fix permissions and rerun"


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save` to memory, then write the bytes atomically (the OS error, e.g. a full disk, stays visible)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(buffer.getvalue(), path)


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy a file atomically (temp file + rename)."""
    return atomic_write(target, lambda p: shutil.copyfile(source, p))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write indented JSON atomically."""
    return atomic_write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n", path)


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint without executing pickled code (`weights_only=True`).

    Raises:
        CheckpointError: the file is missing, truncated, corrupt or holds non-tensor objects.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        # torch's own message suggests weights_only=False, i.e. running pickled code: never repeat that advice.
        raise CheckpointError(
            f"cannot load checkpoint {path}: the file is truncated, corrupt or not a weights-only "
            f"checkpoint ({type(e).__name__})"
        ) from None


def get_rng_state() -> dict[str, Any]:
    """All RNG states as tensors and plain values (loadable with `weights_only=True`)."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "python": _python_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(_plain_to_numpy_state(state["numpy"]))
    random.setstate(_plain_to_python_state(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_to_plain(s: tuple) -> dict[str, Any]:
    return {"keys": torch.from_numpy(s[1].astype(np.int64)), "pos": int(s[2]), "gauss": [int(s[3]), float(s[4])]}


def _plain_to_numpy_state(d: dict[str, Any]) -> tuple:
    keys = d["keys"].numpy().astype(np.uint32)
    return ("MT19937", keys, d["pos"], d["gauss"][0], d["gauss"][1])


def _python_state_to_plain(s: tuple) -> dict[str, Any]:
    version, internal, gauss = s
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _plain_to_python_state(d: dict[str, Any]) -> tuple:
    return (d["version"], tuple(int(v) for v in d["internal"].tolist()), d["gauss"])


def progress(iterable=None, *, total: int | None = None, desc: str = "", disable: bool | None = None, **kw):
    """A tqdm progress bar on stderr; quiet when not attached to a terminal unless A3LAB_PROGRESS=1."""
    from tqdm.auto import tqdm

    if disable is None:
        forced = os.environ.get("A3LAB_PROGRESS")
        disable = (forced == "0") if forced is not None else None  # None: tqdm hides itself off a TTY
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True, **kw)
