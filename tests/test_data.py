from pathlib import Path

import pytest
import torch

from a3lab.cli import main
from a3lab.data import ImageBatches, check_idx, load_images, raw_files, write_idx
from a3lab.errors import DataError


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_images_shapes_and_dtypes(tiny_root: Path, name: str) -> None:
    images, labels = load_images(name, train=True, root=tiny_root)
    assert images.shape == (200, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (200,) and labels.dtype == torch.int64
    assert set(labels.tolist()) == set(range(10))
    test_images, _ = load_images(name, train=False, root=tiny_root)
    assert test_images.shape == (100, 28, 28)


def test_env_variable_is_used(tiny_data: Path) -> None:
    images, _ = load_images("mnist", train=False)
    assert images.shape[0] == 100


def test_unknown_dataset_is_a_value_error(tiny_root: Path) -> None:
    with pytest.raises(ValueError, match="`dataset`"):
        load_images("cifar", root=tiny_root)


def test_missing_data_offline_names_env_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("A3LAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("A3LAB_OFFLINE", "1")
    with pytest.raises(DataError, match="A3LAB_DATA") as e:
        load_images("mnist")
    assert "train-images-idx3-ubyte" in str(e.value)


def test_missing_data_cli_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("A3LAB_DATA", str(tmp_path / "nowhere"))
    assert main(["data", "info", "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "A3LAB_DATA" in err[0]


def test_truncated_file_is_named(tiny_root: Path) -> None:
    path = tiny_root / raw_files("mnist", True)["images"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated") as e:
        load_images("mnist", root=tiny_root)
    assert str(path) in str(e.value)


def test_wrong_magic_is_named(tiny_root: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    path = tiny_root / raw_files("fashion-mnist", False)["labels"]
    data = bytearray(path.read_bytes())
    data[3] = 0x03  # images magic in a labels file
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="magic number"):
        load_images("fashion-mnist", train=False, root=tiny_root)
    monkeypatch.setenv("A3LAB_DATA", str(tiny_root))
    assert main(["data", "info", "--dataset", "fashion-mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]


def test_check_idx_reads_header(tmp_path: Path) -> None:
    p = write_idx(tmp_path / "x-idx3-ubyte", torch.zeros(5, 3, 4, dtype=torch.uint8))
    assert check_idx(p, "images") == [5, 3, 4]
    q = write_idx(tmp_path / "y-idx1-ubyte", torch.arange(7, dtype=torch.uint8))
    assert check_idx(q, "labels") == [7]


def test_data_info_cli(tiny_data: Path, capsys) -> None:
    assert main(["data", "info", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"count": 200' in out and str(tiny_data) in out


def test_batches_cover_each_epoch_once_in_new_order() -> None:
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1).expand(50, 28, 28).contiguous()
    labels = torch.arange(50)
    batches = ImageBatches(images, labels, batch_size=16, seed=3)
    assert len(batches) == 4
    epoch1 = torch.cat([y for _, y in batches])
    epoch2 = torch.cat([y for _, y in batches])
    assert sorted(epoch1.tolist()) == list(range(50)) == sorted(epoch2.tolist())
    assert not torch.equal(epoch1, epoch2)
    again = torch.cat([y for _, y in ImageBatches(images, labels, batch_size=16, seed=3)])
    assert torch.equal(epoch1, again)  # seeded


def test_batches_normalise_and_match_labels() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1).expand(2, 28, 28).contiguous()
    labels = torch.tensor([0, 1])
    for scale, lo, hi in (("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)):
        x, y = next(iter(ImageBatches(images, labels, batch_size=2, shuffle=False, scale=scale)))
        assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32
        assert x[0].max().item() == lo and x[1].min().item() == hi and y.tolist() == [0, 1]
    x, _ = next(iter(ImageBatches(images, labels, batch_size=2, shuffle=False, scale="standard", mean=0.5, std=0.5)))
    assert x.min().item() == -1.0


def test_batches_shard_across_ranks() -> None:
    images = torch.zeros(40, 28, 28, dtype=torch.uint8)
    labels = torch.arange(40)
    shards = [torch.cat([y for _, y in ImageBatches(images, labels, 8, seed=1, rank=r, world_size=2)]) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 20
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist())


def test_batches_resume_from_state() -> None:
    images = torch.zeros(30, 28, 28, dtype=torch.uint8)
    labels = torch.arange(30)
    a = ImageBatches(images, labels, 10, seed=5)
    list(a)
    state = a.state_dict()
    expected = torch.cat([y for _, y in a])
    b = ImageBatches(images, labels, 10, seed=5)
    b.load_state_dict(state)
    assert torch.equal(torch.cat([y for _, y in b]), expected)


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3])
def test_batches_resume_mid_epoch_from_state(stop_after: int) -> None:
    images = torch.zeros(30, 28, 28, dtype=torch.uint8)
    labels = torch.arange(30)
    straight = ImageBatches(images, labels, 8, seed=5, drop_last=True)
    expected = [y for _ in range(2) for _, y in straight]  # two epochs of 3 batches
    a = ImageBatches(images, labels, 8, seed=5, drop_last=True)
    seen = [y for _, (_, y) in zip(range(stop_after), a)]  # stop part-way through epoch 1
    state = a.state_dict()
    # After the last batch the epoch ends only when the iteration does: a state saved then resumes to the end.
    assert (state["epoch"], state["step"]) == (0, stop_after)
    b = ImageBatches(images, labels, 8, seed=5, drop_last=True)
    b.load_state_dict(state)
    assert torch.equal(b.order(), a.order())  # the order stays put until the epoch ends
    while len(seen) < len(expected):
        seen += [y for _, y in b]
    assert all(torch.equal(x, y) for x, y in zip(seen, expected)) and b.epoch == 2 and b.step == 0
    with pytest.raises(ValueError, match="batch 9 of an epoch of 3"):
        b.load_state_dict({**state, "step": 9})


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="`batch_size`"):
        ImageBatches(torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), batch_size=0)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_data(real_data: Path, name: str) -> None:
    images, labels = load_images(name, train=False, root=real_data)
    assert images.shape == (10000, 28, 28)
    assert labels.bincount().tolist() == labels.bincount(minlength=10).tolist() and len(labels.bincount()) == 10


@pytest.mark.parametrize("bad", [10, 200, 255])
def test_label_values_are_checked_against_the_class_count(tiny_root: Path, bad: int) -> None:
    from a3lab.data import NUM_CLASSES

    labels = raw_files("mnist", False)["labels"]
    write_idx(tiny_root / labels, [3] * 99 + [bad])
    with pytest.raises(
        DataError, match=rf"labels-idx1-ubyte: 1 label values outside 0\.\.{NUM_CLASSES - 1} \(e\.g\. {bad}\)"
    ):
        load_images("mnist", train=False, root=tiny_root)


def test_the_data_cache_is_the_one_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from a3lab.data import find_root
    from a3lab.utils import cache_dir

    monkeypatch.delenv("A3LAB_DATA", raising=False)
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    assert find_root("mnist") == (tmp_path / "home" / "data", "cache") == (cache_dir("data"), "cache")
    monkeypatch.delenv("A3LAB_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert find_root("mnist")[0] == tmp_path / "xdg" / "a3lab" / "data"
