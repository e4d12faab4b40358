"""a3lab.runs: output files and run folders checked before any work, one kind per folder, one holder, clean-up."""

from __future__ import annotations

import errno
import json
import os
import signal
import tempfile
from pathlib import Path

import pytest

from a3lab.errors import OutputError, UserError
from a3lab.run_kinds import folder_kind
from a3lab.runs import (
    LOCK_NAME,
    MARKER,
    Kind,
    Terminated,
    cache_dir,
    check_cache_dir,
    check_output_file,
    check_outputs,
    open_run,
    sigterm_as_interrupt,
)

KIND = Kind("test", "test run", ("*.json", "checkpoint.pt", "sub"), ("checkpoint.pt",))
OTHER = Kind("other", "other run", ("*.json",), ("*.json",))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- output files


@pytest.mark.parametrize(
    "make,force,match",
    [
        (lambda p: p.mkdir(), False, "is a folder"),
        (lambda p: p.write_text("old"), False, "exists; pass --force"),
        (lambda p: p.parent.rmdir() or p.parent.write_text("file"), False, "is a file, not a folder"),
    ],
)
def test_check_output_file(tmp_path: Path, make, force: bool, match: str) -> None:
    target = tmp_path / "d" / "x.json"
    target.parent.mkdir()
    make(target)
    with pytest.raises(OutputError, match=match):
        check_output_file(target, force=force)


def test_check_output_file_passes_and_creates_nothing(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "a" / "b" / "x.json") == tmp_path / "a" / "b" / "x.json"
    (tmp_path / "y.json").write_text("old")
    check_output_file(tmp_path / "y.json", force=True)
    assert names(tmp_path) == ["y.json"]


@pytest.mark.parametrize(
    "second",
    ["le.json", "./le.json", "sub/../le.json", "link.json"],
    ids=["same", "dot", "dotdot", "symlink"],
)
def test_two_outputs_naming_one_file_are_refused(tmp_path: Path, monkeypatch, second: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "le.json")
    with pytest.raises(UserError, match="`out` and `plot` name the same file"):
        check_outputs({"out": "le.json", "plot": second}, force=True)
    assert not (tmp_path / "le.json").exists()


@pytest.mark.parametrize("name", ["le.jpg", "le.PNG.txt", "le", "le.json"])
def test_an_output_name_must_match_the_format_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match=r"`plot` must end in \.png \(the format written\)"):
        check_outputs({"plot": tmp_path / name}, suffixes={"plot": (".png",)})


def test_check_outputs_skips_flags_not_given_and_accepts_any_case(tmp_path: Path) -> None:
    files = check_outputs({"out": None, "plot": tmp_path / "a.PNG"}, suffixes={"plot": (".png",)})
    assert files == [tmp_path / "a.PNG"]
    assert names(tmp_path) == []


def test_an_unwritable_parent_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match="Read-only file system"):
        check_output_file(tmp_path / "x.json")
    with pytest.raises(OutputError, match="Read-only file system"), open_run(tmp_path / "run", KIND):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_pseudo_file_system_is_refused_up_front() -> None:
    with pytest.raises(OutputError, match="cannot write in /proc"), open_run("/proc/a3lab-test/x", KIND):
        pytest.fail("the block must not run")


# ----------------------------------------------------------------------------- cache folders


def test_cache_dir_follows_a3lab_home_then_xdg(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "h"))
    assert cache_dir("gan-eval") == tmp_path / "h" / "gan-eval"
    monkeypatch.delenv("A3LAB_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir("classifiers") == tmp_path / "x" / "a3lab" / "classifiers"


@pytest.mark.parametrize("variable", ["A3LAB_HOME", "XDG_CACHE_HOME", "HOME"])
def test_an_unusable_cache_folder_names_the_variable_that_chose_it(tmp_path: Path, monkeypatch, variable) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for name in ("A3LAB_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(blocker))
    with pytest.raises(OutputError) as e:
        check_cache_dir("classifiers")
    assert f"{variable}={blocker}" in str(e.value) and "set A3LAB_HOME to a writable folder" in str(e.value)
    assert str(e.value).count("\n") == 0


def test_a_usable_cache_folder_is_returned_and_not_created(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("A3LAB_HOME", str(tmp_path / "home"))
    assert check_cache_dir("gan-eval") == tmp_path / "home" / "gan-eval"
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- run folders


def test_a_new_folder_gets_the_kind_and_the_lock(tmp_path: Path) -> None:
    with open_run(tmp_path / "run", KIND) as run:
        assert run.created and run.kind == KIND
        assert (run.path / LOCK_NAME).read_text().strip() == str(os.getpid())
        assert json.loads((run.path / MARKER).read_text())["command"] == "a3lab test run"
    assert names(tmp_path / "run") == [MARKER]
    assert folder_kind(tmp_path / "run") == "test"


def test_a_non_empty_folder_is_refused_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.pt").write_text("old run")
    with (
        pytest.raises(OutputError, match=r"not empty \(checkpoint\.pt\); pass --resume to continue it or --force"),
        open_run(tmp_path, KIND),
    ):
        pass
    assert names(tmp_path) == ["checkpoint.pt"], "a refused start leaves no marker"
    for kwargs in (dict(resume=True), dict(force=True), dict(reuse=True)):
        with open_run(tmp_path, KIND, **kwargs) as run:
            assert not run.created
        assert names(tmp_path) == [MARKER, "checkpoint.pt"]


def test_a_folder_of_another_kind_is_refused_even_with_force(tmp_path: Path) -> None:
    with open_run(tmp_path / "run", OTHER):
        (tmp_path / "run" / "results.json").write_text("theirs")
    for kwargs in ({}, dict(force=True), dict(reuse=True), dict(resume=True)):
        with (
            pytest.raises(OutputError, match="holds an `a3lab other run` run, not an `a3lab test run` one"),
            open_run(tmp_path / "run", KIND, **kwargs),
        ):
            pytest.fail("the block must not run")
    assert (tmp_path / "run" / "results.json").read_text() == "theirs"
    assert folder_kind(tmp_path / "run") == "other"


def test_foreign_files_are_refused_and_never_replaced(tmp_path: Path) -> None:
    site = tmp_path / "website"
    site.mkdir()
    (site / "index.json").write_text("the user's page")
    with (
        pytest.raises(OutputError, match=r"files a3lab did not write \(index\.json\); .* --force"),
        open_run(site, KIND, reuse=True),
    ):
        pass
    with pytest.raises(OutputError, match=r"would replace index\.json"), open_run(site, KIND, force=True):
        pass
    assert names(site) == ["index.json"] and (site / "index.json").read_text() == "the user's page"
    (site / "index.json").rename(site / "photo.jpg")  # nothing of ours would be replaced: --force writes beside it
    with pytest.raises(OutputError, match="did not write"), open_run(site, KIND, reuse=True):
        pass
    with open_run(site, KIND, force=True):
        (site / "results.json").write_text("ours")
    assert names(site) == [MARKER, "photo.jpg", "results.json"]


def test_a_folder_written_before_markers_is_taken_as_its_kind(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.pt").write_bytes(b"old run")
    (tmp_path / "config.json").write_text("{}")
    with open_run(tmp_path, KIND, resume=True):
        pass
    assert folder_kind(tmp_path) == "test"


def test_a_damaged_marker_counts_as_foreign(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("not json")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match="did not write"), open_run(tmp_path, KIND, reuse=True):
        pass


def test_exists_requires_the_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no such folder"), open_run(tmp_path / "nope", KIND, exists=True):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_failed_start_removes_what_it_created(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), open_run(tmp_path / "a" / "b" / "run", KIND) as run:
        (run.path / "config.json").write_text("{}")
        raise RuntimeError("failed at step 1")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), open_run(tmp_path / "kept", KIND, keep_on_failure=("checkpoint.pt",)) as run:
        (run.path / "checkpoint.pt").write_text("a good checkpoint")
        (run.path / "sub").mkdir()
        raise RuntimeError("diverged later")
    assert names(tmp_path / "kept") == [MARKER, "checkpoint.pt"], "kept, less the new empty folder"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt, Terminated])
def test_an_interrupted_cache_loses_only_its_new_empty_folders(tmp_path: Path, error: type) -> None:
    cache = tmp_path / "report"
    with open_run(cache, KIND, reuse=True):
        (cache / "sub").mkdir()
        (cache / "sub" / "a.json").write_text("{}")
    with pytest.raises(error), open_run(cache, KIND, reuse=True):
        (cache / "sub" / "new" / "deeper").mkdir(parents=True)
        (cache / "empty").mkdir()
        raise error
    assert names(cache) == [MARKER, "sub"] and names(cache / "sub") == ["a.json"]


def test_a_marker_written_into_an_existing_folder_goes_after_a_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), open_run(tmp_path, KIND):
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_orphaned_temp_files_are_removed_and_reported(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "checkpoint.pt").write_bytes(b"whole")
    with open_run(tmp_path, KIND, resume=True) as run:
        assert run.removed_temps == [".checkpoint.pt.abc123.tmp"]
    assert names(tmp_path) == [MARKER, "checkpoint.pt"]


def test_a_folder_has_one_holder(tmp_path: Path) -> None:
    holder = f"in use by another a3lab process \\(pid {os.getpid()}\\)"
    with (
        open_run(tmp_path / "run", KIND),
        pytest.raises(OutputError, match=holder),
        open_run(tmp_path / "run", KIND, reuse=True, exists=True, param="run_dir"),
    ):
        pass
    with open_run(tmp_path / "run", KIND, resume=True):  # released
        pass
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_only_rank_0_holds_the_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    with open_run(tmp_path / "run", KIND) as run:
        assert not run.created
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- signals


def test_sigterm_raises_like_ctrl_c_while_open_and_the_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as e, sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # Python runs the handler between bytecodes
            pass
    assert isinstance(e.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) is before
