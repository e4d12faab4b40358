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


def test_seed_range_is_checked() -> None:
    from a3lab.errors import UserError

    with pytest.raises(UserError, match="`seed`"):
        seed_everything(-1)
