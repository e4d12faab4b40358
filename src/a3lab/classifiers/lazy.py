"""Lazy package exports: a package lists its public names by module and imports a module only when one of its
names is first read, so that importing a package's torch-free parts (its configs, its section) loads no torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from a3lab.lazy import served


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], list[str]]:
    """A module `__getattr__` for `package` serving each name from its module (`a3lab.lazy.served`), and the
    sorted public names for `__all__`; `modules` maps each submodule to the names it serves."""
    where = {name: module for module, names in modules.items() for name in names}
    return served(package, where)[0], sorted(where)
