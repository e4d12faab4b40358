"""Run folders and output files: checked before any work, of one kind, held by one process, cleaned after a
failed start. Every command that writes goes through here. No torch, so the CLI can check paths cheaply.

A run folder holds a marker (`.a3lab-run.json`, naming the kind of run that wrote it) and, while a command
holds it, a lock file (`.a3lab.lock`, an `fcntl.flock` holding the holder's pid; the OS drops the lock when the
holder dies, even by `kill -9`). A command writes only into a new or empty folder, a folder of its own kind, or,
with `--force`, beside files a3lab did not write as long as it would replace none of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from a3lab.errors import OutputError, UserError
from a3lab.run_kinds import LOCK_NAME, MARKER, TEMP_SUFFIX, Kind, check_kind, listing, short_list, write_marker


@dataclasses.dataclass
class RunFolder:
    """An output folder held by this process: `path`, its `kind`, whether this run created it, and the
    orphaned temp files of interrupted writes removed when it was opened."""

    path: Path
    kind: Kind
    created: bool
    removed_temps: list[str]


# ----------------------------------------------------------------------------- checks before the work


def check_outputs(
    files: Mapping[str, str | os.PathLike | None] | Iterable[tuple[str, str | os.PathLike | None]],
    *,
    force: bool = False,
    suffixes: Mapping[str, Sequence[str]] | None = None,
) -> list[Path]:
    """Check, before any work, the output files a command was given (`{param: path}`, None = not given).

    Each must end in one of its `suffixes` (the format written), be no folder, exist only with `force`, and
    have a writable nearest existing parent (a real probe file); two of them must not be the same file.
    Creates nothing. Returns the given paths (a flag may be named twice, for several files in one folder).

    Raises:
        OutputError, UserError: naming the flag and the path.
    """
    pairs = files.items() if isinstance(files, Mapping) else files
    given = [(param, Path(path)) for param, path in pairs if path is not None]
    seen: dict[str, str] = {}
    for param, path in given:
        real = os.path.realpath(path)  # links and `./` spellings of one file are one file
        if real in seen:
            raise UserError(f"`{seen[real]}` and `{param}` name the same file {path}; give each its own name")
        seen[real] = param
    for param, path in given:
        allowed = (suffixes or {}).get(param)
        if allowed and path.suffix.lower() not in allowed:
            raise UserError(f"`{param}` must end in {' or '.join(allowed)} (the format written), got {path.name}")
        check_output_file(path, force=force, param=param)
    return [path for _, path in given]


def check_output_file(path: str | os.PathLike, *, force: bool = False, param: str = "out") -> Path:
    """Check, before any work, that a file can be written at `path`: no folder in the way, an existing file only
    with `force`, and the nearest existing parent a writable folder. Creates nothing.

    Raises:
        OutputError: naming the path and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"`{param}` {path} is a folder, expected a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"`{param}` {path} exists; pass --force to replace it")
    check_writable(path, param)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"`{param}` {path}: {os.strerror(errno.EACCES)}")
    return path


def check_writable(path: Path, param: str, shown: Path | None = None) -> None:
    """The nearest existing ancestor of `path` must be a folder this process may write into (a probe file);
    errors name `shown` (default `path`)."""
    shown = path if shown is None else shown
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link in the way
            raise OutputError(f"`{param}` {shown}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"`{param}` {shown}: {parent} is a file, not a folder")
    try:  # a real probe: permission bits, read-only mounts and pseudo file systems all answer here
        fd, probe = tempfile.mkstemp(prefix=".a3lab-probe.", suffix=TEMP_SUFFIX, dir=parent)
    except OSError as e:
        raise OutputError(f"`{param}` {shown}: cannot write in {parent}: {e.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def check_folder(path: str | os.PathLike, *, param: str = "out") -> Path:
    """Check, before any work, that `path` is a folder or can be made one, and that files can be written in it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"`{param}` {path} is a file, expected a folder")
    check_writable(path / LOCK_NAME, param, shown=path)
    return path


def cache_dir(name: str) -> Path:
    """a3lab's per-user cache folder `name`: `$A3LAB_HOME/<name>` when set, else `$XDG_CACHE_HOME/a3lab/<name>`
    (`~/.cache/a3lab/<name>`); data sets, the domain CNNs and the GAN metrics' real features live there."""
    home = os.environ.get("A3LAB_HOME")
    if home:
        return Path(home) / name
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "a3lab" / name


def check_cache_dir(name: str) -> Path:
    """`cache_dir(name)`, checked before any work: it must be a folder this process can create and write in.

    Raises:
        OutputError: naming the folder and the variable that chose it (A3LAB_HOME, XDG_CACHE_HOME or HOME).
    """
    path = cache_dir(name)
    try:
        check_folder(path, param="cache")
    except OutputError as e:
        chosen = next((v for v in ("A3LAB_HOME", "XDG_CACHE_HOME") if os.environ.get(v)), "HOME")
        reason = str(e).removeprefix(f"`cache` {path}").lstrip(": ")
        raise OutputError(
            f"the cache folder {path} cannot be used ({reason}); it is chosen by {chosen}="
            f"{os.environ.get(chosen, '')}: set A3LAB_HOME to a writable folder"
        ) from None
    return path


# ----------------------------------------------------------------------------- the run folder


@contextlib.contextmanager
def open_run(
    path: str | os.PathLike,
    kind: Kind,
    *,
    resume: bool = False,
    force: bool = False,
    reuse: bool = False,
    exists: bool = False,
    keep_on_failure: tuple[str, ...] = (),
    param: str = "out",
) -> Iterator[RunFolder]:
    """Hold `path` as the one writer of a `kind` run for the life of the block.

    Before any work: the path is a folder or nothing, writable (a probe), of this kind or new, empty or holding
    no file a3lab did not write (with `force`: none it would replace), and not held by another process. A
    non-empty folder of this kind needs `resume`, `force` (write over it) or `reuse` (a cache, or a reader
    writing beside a run); `exists`: the folder must be there already. Orphaned temp files are removed.
    When the block fails (an error, Ctrl-C, SIGTERM) what it created goes again: a new folder (unless it holds
    one of `keep_on_failure`), new empty sub-folders and the marker. Under torchrun only rank 0 takes the lock.

    Raises:
        OutputError: a file in the way, unwritable, another kind or foreign files, locked (naming the pid), or
            not empty.
    """
    path = Path(path)
    if os.environ.get("RANK", "0") != "0":
        yield RunFolder(path, kind, created=False, removed_temps=[])
        return
    if path.exists() and not path.is_dir():
        raise OutputError(f"`{param}` {path} is a file, expected a folder")
    if exists and not path.is_dir():
        raise OutputError(f"`{param}` {path}: no such folder")
    top = _first_missing(path)
    check_writable(path / LOCK_NAME, param, shown=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"`{param}` {path}: {e.strerror}") from None
    marked, folders = (path / MARKER).exists(), set()
    try:
        with _folder_lock(path, param):
            removed = remove_orphan_temps(path)
            check_kind(path, kind, force=force, param=param, resume=resume)
            if not (resume or force or reuse):
                _check_empty(path, param)
            folders = _folders(path)
            if not marked:
                write_marker(path, kind)
            yield RunFolder(path, kind, created=top is not None, removed_temps=removed)
    except BaseException:
        keep = any((path / name).exists() for name in keep_on_failure)
        if top is not None and not keep:
            shutil.rmtree(top, ignore_errors=True)
        else:
            _remove_new_empty_folders(path, folders)
            if not (marked or keep):
                (path / MARKER).unlink(missing_ok=True)
        raise


def remove_orphan_temps(folder: str | os.PathLike) -> list[str]:
    """Remove the temp files of atomic writes that were interrupted (`.<name>.<random>.tmp`); returns their names.

    Only call it while holding the folder's lock: a live writer's temp file looks the same.
    """
    removed = []
    for entry in sorted(Path(folder).glob(f".*{TEMP_SUFFIX}")):
        if entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry.name)
    return removed


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    if path.exists():
        return None
    top = path
    while not top.parent.exists():
        top = top.parent
    return top


def _folders(path: Path) -> set[Path]:
    return {Path(root) for root, _, _ in os.walk(path)}


def _remove_new_empty_folders(path: Path, before: set[Path]) -> None:
    """Remove the empty sub-folders of `path` that were not there when it was opened, deepest first."""
    for folder in sorted(_folders(path) - before, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds on an empty folder


def _check_empty(path: Path, param: str) -> None:
    entries = listing(path)
    if entries:
        raise OutputError(
            f"`{param}` {path} is not empty ({short_list(entries)}); pass --resume to continue it or --force to write "
            "over it"
        )


@contextlib.contextmanager
def _folder_lock(folder: Path, param: str) -> Iterator[None]:
    """An exclusive `flock` on `folder/.a3lab.lock` holding this process's pid; removed again on exit."""
    import fcntl

    lock = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"`{param}` {folder}: cannot create {LOCK_NAME}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"`{param}` {folder} is in use by another a3lab process (pid {holder}); wait for it or stop it"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino  # the holder before us may have removed the file
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


# ----------------------------------------------------------------------------- signals


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, as Ctrl-C raises KeyboardInterrupt: the same clean-up runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While open, SIGTERM stops the program as Ctrl-C does (one line, the run folder resumable or removed)
    instead of killing it mid-write; the previous handler comes back after. Main thread only (Python runs
    signal handlers there); elsewhere it does nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
