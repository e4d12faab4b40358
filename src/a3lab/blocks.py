"""The pieces a rendered page is made of, shared by every section's renderer and by the report that writes
them out (Markdown and HTML). A block is a tuple:

("h1"|"h2"|"h3", text), ("p", text), ("error", text), ("pre", text), ("table", headers, rows),
("img", relative path, caption), ("verdict", verdict).

This module imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Block = tuple


def pct(x: float) -> str:
    """0.98765 -> '98.77%'.

    >>> pct(0.98765)
    '98.77%'
    """
    return f"{100 * x:.2f}%"


def cell(v: Any) -> str:
    """A table cell as text: '-' for None, four significant digits for a float."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def table_block(headers: list[str], rows: list[list[Any]]) -> Block:
    return ("table", headers, [[cell(c) for c in row] for row in rows])


def spread_row(label: list, stats: dict) -> list:
    """A table row of a timing spread: label cells, then median, lowest, highest and rounds."""
    return [*label, stats.get("median"), stats.get("low"), stats.get("high"), stats.get("rounds")]


def ratio_text(a: float | None, b: float | None) -> str | None:
    """a / b to one decimal ("12.3x"), None where either is missing or b is not positive."""
    return f"{a / b:.1f}x" if a is not None and b is not None and b > 0 else None


def images_block(section: str, result: dict, captions: dict[str, str] | None = None) -> list[Block]:
    """One image block per file a section's result lists under "images" (paths relative to the page)."""
    names = result.get("images", [])
    if isinstance(names, dict):
        names = list(names.values())
    return [("img", f"{section}/{n}", (captions or {}).get(n, Path(n).stem.replace("_", " "))) for n in names]
