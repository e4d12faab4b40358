"""What a run folder says about itself: the marker naming the `Kind` of run that wrote it, a3lab's own file
names (marker, lock, temp files), and the rule of which folders a kind may write into. No torch.

A marker (`.a3lab-run.json`) names the kind; a folder without one is judged by its files: a kind's `signature`
names only it writes, and its `names` are every file it may write.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import tempfile
from pathlib import Path

from a3lab.errors import OutputError

LOCK_NAME = ".a3lab.lock"
MARKER = ".a3lab-run.json"
TEMP_SUFFIX = ".tmp"  # atomic writes go through `.<name>.<random>.tmp` beside the target
_OWN = (LOCK_NAME, MARKER)


@dataclasses.dataclass(frozen=True)
class Kind:
    """A kind of run folder: its `name` (stored in the marker), the `command` that writes it (for messages),
    glob patterns of the `names` it writes (with `--force`, a foreign file matching one is never replaced), and
    of its `signature`, the names only such a run writes: a folder without a marker that holds one of them and
    nothing but `names` was written by this kind before folders had markers."""

    name: str
    command: str
    names: tuple[str, ...]
    signature: tuple[str, ...]


def folder_kind(path: Path) -> str | None:
    """The kind named by a folder's marker (None: no marker, or not a readable one)."""
    try:
        return json.loads((path / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def check_kind(path: Path, kind: Kind, *, force: bool, param: str, resume: bool = False) -> None:
    """Refuse a folder of another kind, and foreign files unless `force` (even then, none `kind` would write)."""
    if (path / MARKER).exists():
        found = folder_kind(path)
        if found == kind.name:
            return
        if found is not None:
            command = _marker(path).get("command", found)
            raise OutputError(
                f"`{param}` {path} holds an `{command}` run, not an `a3lab {kind.command}` one; a folder holds one "
                "kind of run: choose another folder"
            )
    entries = listing(path)
    foreign = [name for name in entries if not _matches(name, kind.names)]
    if not entries or (not foreign and any(_matches(name, kind.signature) for name in entries)):
        return
    shown = short_list(foreign or entries)
    if resume:  # writing beside foreign files would not make them a run to continue
        raise OutputError(
            f"`{param}` {path} is not an `a3lab {kind.command}` run ({shown}): nothing to resume there; start a "
            "new run in a new folder"
        )
    if not force:
        raise OutputError(
            f"`{param}` {path} holds files a3lab did not write ({shown}); choose a new or empty folder, or pass "
            "--force to write beside them"
        )
    clash = [name for name in entries if _matches(name, kind.names)]
    if clash:
        raise OutputError(
            f"`{param}` {path} holds files a3lab did not write, and `a3lab {kind.command}` would replace "
            f"{short_list(clash)}; choose a new or empty folder"
        )


def listing(path: Path) -> list[str]:
    """The names in a folder, less a3lab's own files (marker, lock, temp files)."""
    return sorted(p.name for p in path.iterdir() if p.name not in _OWN and not p.name.endswith(TEMP_SUFFIX))


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def short_list(names: list[str]) -> str:
    """The first three names, for a message."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _marker(path: Path) -> dict:
    try:
        found = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_marker(path: Path, kind: Kind) -> None:
    text = json.dumps({"kind": kind.name, "command": f"a3lab {kind.command}", "format": 1}) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{MARKER}.", suffix=TEMP_SUFFIX, dir=path)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path / MARKER)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
