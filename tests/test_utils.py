import os
from pathlib import Path

import pytest
import torch

from a3lab.errors import CheckpointError
from a3lab.utils import atomic_torch_save, get_rng_state, load_checkpoint, seed_everything, set_rng_state, write_json


def test_atomic_writes_leave_no_temp_files_and_usual_permissions(tmp_path: Path) -> None:
    path = write_json({"a": 1}, tmp_path / "x.json")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_checkpoint_round_trip_and_corrupt_file(tmp_path: Path) -> None:
    path = atomic_torch_save({"w": torch.arange(3), "rng": get_rng_state()}, tmp_path / "c.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["w"], torch.arange(3))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_restores_every_generator() -> None:
    import random

    import numpy as np

    seed_everything(3)
    state = get_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_save_figure_writes_a_png_atomically_and_closes_the_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from a3lab.utils import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "sub" / "plot.png", dpi=50)
    assert Image.open(path).format == "PNG"
    assert [p.name for p in path.parent.iterdir()] == ["plot.png"]  # no temp file left
    assert not plt.fignum_exists(fig.number)


def test_keep_freed_memory_applies_on_glibc_and_leaves_results_alone():
    import platform

    from a3lab.utils import keep_freed_memory

    x = torch.randn(64, 32, 14, 14)
    before = torch.nn.functional.leaky_relu(x, 0.2)
    applied = keep_freed_memory()
    assert applied == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    assert torch.equal(torch.nn.functional.leaky_relu(x, 0.2), before)


# ----------------------------------------------------------------------------- writes that fail, output paths


def test_a_full_disk_is_a_write_error_naming_the_file_and_the_old_file_stays(tmp_path: Path, monkeypatch) -> None:
    import errno

    from a3lab.errors import WriteError

    path = atomic_torch_save({"w": torch.ones(2)}, tmp_path / "c.pt")
    before = path.read_bytes()

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(WriteError, match=r"c\.pt: No space left on device; its previous version is intact"):
        atomic_torch_save({"w": torch.zeros(2)}, path)
    with pytest.raises(WriteError, match="nothing was written"):
        atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "new.pt")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_a_bug_inside_the_writer_is_not_disguised(tmp_path: Path) -> None:
    from a3lab.utils import atomic_write

    def broken(p: Path) -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        atomic_write(tmp_path / "x", broken)
    assert list(tmp_path.iterdir()) == []


def test_atomic_copy(tmp_path: Path) -> None:
    from a3lab.utils import atomic_copy

    (tmp_path / "a").write_text("x")
    atomic_copy(tmp_path / "a", tmp_path / "sub" / "b")
    assert (tmp_path / "sub" / "b").read_text() == "x"


@pytest.mark.parametrize(
    "make,force,match",
    [
        (lambda p: p.mkdir(), False, "is a folder"),
        (lambda p: p.write_text("old"), False, "exists; pass --force"),
        (lambda p: p.parent.rmdir() or p.parent.write_text("file"), False, "is a file, not a folder"),
    ],
)
def test_check_output_file(tmp_path: Path, make, force: bool, match: str) -> None:
    from a3lab.errors import OutputError
    from a3lab.utils import check_output_file

    target = tmp_path / "d" / "x.json"
    target.parent.mkdir()
    make(target)
    with pytest.raises(OutputError, match=match):
        check_output_file(target, force=force)


def test_check_output_file_passes_and_creates_nothing(tmp_path: Path) -> None:
    from a3lab.utils import check_output_file

    assert check_output_file(tmp_path / "a" / "b" / "x.json") == tmp_path / "a" / "b" / "x.json"
    (tmp_path / "y.json").write_text("old")
    check_output_file(tmp_path / "y.json", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.json"]


def test_an_unwritable_parent_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    import errno
    import tempfile

    from a3lab.errors import OutputError
    from a3lab.utils import check_output_file, open_run_folder

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match="Read-only file system"):
        check_output_file(tmp_path / "x.json")
    with pytest.raises(OutputError, match="Read-only file system"), open_run_folder(tmp_path / "run"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_open_run_folder_refuses_a_non_empty_folder_unless_asked(tmp_path: Path) -> None:
    from a3lab.errors import OutputError
    from a3lab.utils import LOCK_NAME, open_run_folder

    (tmp_path / "old.json").write_text("{}")
    with (
        pytest.raises(OutputError, match=r"not empty \(old\.json\); pass --resume to continue it or --force"),
        open_run_folder(tmp_path),
    ):
        pass
    for kwargs in (dict(resume=True), dict(force=True), dict(reuse=True)):
        with open_run_folder(tmp_path, **kwargs) as run:
            assert not run.created and (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
        assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def test_open_run_folder_removes_what_a_failed_start_created(tmp_path: Path) -> None:
    from a3lab.utils import open_run_folder

    with pytest.raises(RuntimeError), open_run_folder(tmp_path / "a" / "b" / "run") as run:
        assert run.created
        (run.path / "config.json").write_text("{}")
        raise RuntimeError("failed at step 1")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), open_run_folder(tmp_path / "kept", keep_on_failure=("checkpoint.pt",)) as run:
        (run.path / "checkpoint.pt").write_text("a good checkpoint")
        raise RuntimeError("diverged later")
    assert (tmp_path / "kept" / "checkpoint.pt").exists()


def test_open_run_folder_removes_orphaned_temp_files_and_reports_them(tmp_path: Path) -> None:
    from a3lab.utils import open_run_folder

    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "checkpoint.pt").write_bytes(b"whole")
    with open_run_folder(tmp_path, resume=True) as run:
        assert run.removed_temps == [".checkpoint.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_open_run_folder_is_exclusive(tmp_path: Path) -> None:
    from a3lab.errors import OutputError
    from a3lab.utils import open_run_folder

    holder = f"in use by another a3lab process \\(pid {os.getpid()}\\)"
    with (
        open_run_folder(tmp_path / "run"),
        pytest.raises(OutputError, match=holder),
        open_run_folder(tmp_path / "run", resume=True),
    ):
        pass
    with open_run_folder(tmp_path / "run", resume=True):  # released
        pass


def test_cache_dir_follows_a3lab_home_then_xdg(tmp_path: Path, monkeypatch) -> None:
    from a3lab.utils import cache_dir

    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "h"))
    assert cache_dir("gan-eval") == tmp_path / "h" / "gan-eval"
    monkeypatch.delenv("A3LAB_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir("classifiers") == tmp_path / "x" / "a3lab" / "classifiers"


def test_seed_range_is_checked() -> None:
    from a3lab.errors import UserError

    with pytest.raises(UserError, match="`seed`"):
        seed_everything(-1)
