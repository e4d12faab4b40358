"""a3lab.section: a section's cache key, computed from the modules its run function imports."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

from a3lab import section
from a3lab.section import Budget, Section, budget, import_closure, source_digest


def imports_utils_in_its_body():
    from a3lab.utils import seed_everything

    return seed_everything


def imports_nothing():
    return 1


def test_a_body_import_brings_in_what_that_module_imports() -> None:
    closure = import_closure(imports_utils_in_its_body)
    assert {"a3lab", "a3lab.utils", "a3lab.errors"} <= set(closure)
    assert closure == tuple(sorted(closure))
    assert __name__ not in closure and "a3lab.section" not in closure
    assert "a3lab.gan" not in closure  # only what is imported


@pytest.fixture
def fakepkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A package `fakepkg` on sys.path that the closure follows (as it follows a3lab); returns a writer."""
    root = tmp_path / "fakepkg"
    root.mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(section, "PACKAGE", "fakepkg")

    def write(name: str, source: str) -> Path:
        path = root / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        stat = path.stat()  # a new mtime each write: the parsed imports are cached per mtime
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9 * (1 + len(_writes))))
        _writes.append(name)
        importlib.invalidate_caches()
        return path

    _writes: list[str] = []
    write("__init__", "")
    write("leaf", "VALUE = 1\n")
    write("middle", "from fakepkg.leaf import VALUE\n")
    write("other", "X = 2\n")
    write(
        "sec",
        """
        import fakepkg.other

        def run():
            from fakepkg.middle import VALUE
            return VALUE

        def plain():
            return 3
        """,
    )
    yield write
    for name in [n for n in sys.modules if n == "fakepkg" or n.startswith("fakepkg.")]:
        del sys.modules[name]


def test_module_level_chains_are_followed_and_the_defining_module_is_left_out(fakepkg) -> None:
    sec = importlib.import_module("fakepkg.sec")
    assert import_closure(sec.run) == ("fakepkg", "fakepkg.leaf", "fakepkg.middle")
    # A body without imports: its own module and everything that module imports, function bodies included.
    assert import_closure(sec.plain) == ("fakepkg", "fakepkg.leaf", "fakepkg.middle", "fakepkg.other", "fakepkg.sec")


def test_the_digest_changes_with_a_file_in_the_closure_and_only_then(fakepkg) -> None:
    sec = importlib.import_module("fakepkg.sec")
    before = source_digest(import_closure(sec.run))
    assert len(before) == 16 and before == source_digest(import_closure(sec.run))
    fakepkg("other", "X = 3\n")  # outside the closure
    fakepkg("sec", Path(sec.__file__).read_text() + "\n# the renderer changed\n")
    assert source_digest(import_closure(sec.run)) == before
    fakepkg("leaf", "VALUE = 2\n")
    after = source_digest(import_closure(sec.run))
    assert after != before
    fakepkg("leaf", "from fakepkg.other import X\nVALUE = 2\n")  # a new import joins the closure
    assert "fakepkg.other" in import_closure(sec.run)
    assert source_digest(import_closure(sec.run)) != after


def test_source_digest_reads_the_files_it_is_given(monkeypatch, tmp_path: Path) -> None:
    files = {"a3lab.one": tmp_path / "one.py", "a3lab.two": tmp_path / "two.py"}
    for path in files.values():
        path.write_text("x = 1\n")
    monkeypatch.setattr(section, "_module_file", files.get)
    before = source_digest(["a3lab.one", "a3lab.two"])
    assert source_digest(["a3lab.two", "a3lab.one"]) != before  # names are part of the key, in order
    files["a3lab.two"].write_text("x = 2\n")
    assert source_digest(["a3lab.one", "a3lab.two"]) != before
    assert source_digest(["a3lab.missing"]) != source_digest([])


def test_a_section_digest_is_its_run_functions_closure() -> None:
    s = Section("t", "T", imports_utils_in_its_body, lambda r: [], dict)
    assert s.digest() == source_digest(import_closure(imports_utils_in_its_body))
    other = Section("t", "T", imports_nothing, lambda r: [], dict)
    assert other.digest() != s.digest()


def test_budget_builds_every_key() -> None:
    b = budget("3 steps", "steps", 3, 2, stopped="time limit")
    assert b == Budget(work="3 steps", unit="steps", planned=3, done=2, images=None, stopped="time limit")


def test_section_imports_no_torch() -> None:
    import subprocess

    code = "import sys, a3lab.section; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _runs_a_lazily_served_name():
    from a3lab.classifiers.sequences import section_experiment

    return section_experiment


def test_a_name_a_package_serves_on_first_use_brings_its_module_into_the_closure() -> None:
    closure = import_closure(_runs_a_lazily_served_name)
    assert "a3lab.classifiers.sequences.experiment" in closure, "the module behind a lazy name must be hashed"
    assert "a3lab.classifiers.sequences.models" in closure  # and what that module imports in turn
