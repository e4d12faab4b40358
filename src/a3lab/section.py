"""A section of the report: one experiment, described once, beside the experiment in its problem package.

A problem package defines a `Section` next to its experiment (name, title, run function, renderer, timing
keys, result type); the report only lists the sections. What a stored result depends on, its cache key, is
computed here from the modules the run function imports, followed through every `a3lab` module they import in
turn (`import_closure`), so no list of sources is kept by hand and none can drift.

This module imports no torch: the CLI lists the sections while it builds its parser.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from a3lab.blocks import Block

__all__ = ["Budget", "Section", "budget", "import_closure", "source_digest"]

PACKAGE = "a3lab"


class Budget(TypedDict, total=False):
    """The work a section was given and did: budgets are work (epochs, steps), never wall time."""

    work: str
    """the budget in words ("300 steps per model")"""
    unit: str
    """what `planned` and `done` count ("steps", "epochs")"""
    planned: int
    done: int
    images: int | None
    stopped: str | None
    """why a safety limit stopped the work early (None: it finished)"""


def budget(
    work: str, unit: str, planned: int, done: int, images: int | None = None, stopped: str | None = None
) -> Budget:
    """A section's `Budget`, built the one way every section builds it."""
    return Budget(work=work, unit=unit, planned=planned, done=done, images=images, stopped=stopped)


@dataclass(frozen=True)
class Section:
    """One experiment of the report.

    `run(preset, out_dir, *, device, seed) -> result` does the work (a JSON-able dict of the shape `result`
    declares); `render(result) -> [Block]` shows its numbers. `timing_keys` name the result's fields that are
    timings or the machine's state, not results: two runs agree on everything else. `cost` orders sections
    side by side (longest first), in rough units of work.
    """

    name: str
    title: str
    run: Callable[..., dict]
    render: Callable[[dict], list[Block]]
    result: type
    timing_keys: frozenset[str] = frozenset()
    cost: float = 1.0

    def digest(self) -> str:
        """sha256 (16 hex) of the source of every a3lab module the run function imports, transitively."""
        return source_digest(import_closure(self.run))


# ----------------------------------------------------------------------------------------------------------------
# the import closure


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _is_module(name: str) -> bool:
    return _module_file(name) is not None


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The a3lab modules an AST imports, anywhere in it (function-local imports included)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
            names += [f"{base}.{home}" for a in node.names if (home := lazy_homes(base).get(a.name))]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                found.update(_with_parents(name))
    return {n for n in found if _is_module(n)}


def lazy_homes(package: str) -> dict[str, str]:
    """{name: submodule} of a package that serves its names on first use (a module `__getattr__`), read from
    the string literals of its `__init__.py`: `{"name": "module"}` or `{"module": ("name", ...)}`. Importing
    such a name runs that submodule, so the closure must follow it although no import statement names it."""
    path = _module_file(package)
    if path is None or path.name != "__init__.py":
        return {}
    return dict(_parsed_homes(path, path.stat().st_mtime_ns))


@functools.cache
def _parsed_homes(path: Path, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    homes: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                homes.append((key.value, value.value))
            elif isinstance(value, (ast.Tuple, ast.List)):
                homes += [(e.value, key.value) for e in value.elts if isinstance(e, ast.Constant)]
    return tuple(homes)


def _with_parents(name: str) -> list[str]:
    """a3lab.gan.train -> a3lab, a3lab.gan, a3lab.gan.train: importing a module runs its packages' inits."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _module_imports(name: str) -> frozenset[str]:
    path = _module_file(name)
    if path is None:
        return frozenset()
    return _parsed_imports(name, path, path.stat().st_mtime_ns)


@functools.cache
def _parsed_imports(name: str, path: Path, mtime_ns: int) -> frozenset[str]:
    """The a3lab imports of one module file, parsed once per version of the file (`mtime_ns`)."""
    tree = ast.parse(path.read_text())
    return frozenset(_imports(tree, name, path.name == "__init__.py"))


def import_closure(fn: Callable[..., Any]) -> tuple[str, ...]:
    """Sorted names of the a3lab modules that running `fn` can import: those its own body imports (or, for a
    function whose body imports nothing of a3lab, its module), and every a3lab module those import in turn.

    The run function of a section imports its experiment inside its body, so the module that defines the
    section (and its renderer) stays out of the closure: editing how a result is shown does not rerun it.
    """
    module = fn.__module__
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        start = _imports(ast.parse(source), module, False)
    except (OSError, TypeError, SyntaxError):
        start = set()
    if not start:
        start = {module, *_module_imports(module)}
    start.update(_with_parents(module)[:-1])  # the packages above the function's module run on import
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_module_imports(name) - seen)
    return tuple(sorted(seen))


def source_digest(modules: Iterable[str]) -> str:
    """sha256 (16 hex) over each module's name and source file, in the order given."""
    h = hashlib.sha256()
    for name in modules:
        path = _module_file(name)
        h.update(name.encode())
        h.update(path.read_bytes() if path is not None else b"missing")
    return h.hexdigest()[:16]
