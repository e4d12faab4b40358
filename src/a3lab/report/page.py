"""The page: the report as a list of blocks (`a3lab.blocks`; each section's own from its renderer, and
("verdict", Verdict) for a claim), written twice: Markdown and self-contained HTML."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

from a3lab.blocks import Block, images_block, table_block
from a3lab.report.claims import PROBLEMS, VERDICTS, Verdict, stopped_early
from a3lab.section import Section


def _section_blocks(section: Section, record: dict) -> list[Block]:
    """Tables and images of one section (the numbers behind the claims)."""
    r = record.get("result")
    if r is None:
        return [("error", f"Section '{section.name}' failed: {record.get('error')}")]
    blocks = section.render(r)
    if r.get("preset_note"):
        blocks.insert(0, ("p", f"Budget: {r['preset_note']}"))
    return blocks + images_block(section.name, r)


def conditions_block(record: dict) -> Block:
    """The conditions a section ran under: its work budget, whether it finished, device, threads, load."""
    r = record.get("result") or {}
    budget = r.get("budget") or {}
    c = record.get("conditions") or {}
    why = stopped_early(r)
    finished = ("NO: " + why) if why else ("yes" if budget else "-")
    units = f"{budget['done']:,} of {budget['planned']:,} {budget.get('unit', 'steps')}" if budget else None
    images = f"{budget['images']:,}" if budget.get("images") is not None else None
    load = c.get("load_average")
    machine = f"{load} on {c.get('cores')} cores" if load is not None else None
    return table_block(
        ["budget", "done", "images trained on", "finished", "device", "threads", "load average at start"],
        [[budget.get("work"), units, images, finished, c.get("device"), c.get("threads"), machine]],
    )


def _summary(records: dict[str, dict], verdicts: list[Verdict], meta: dict) -> list[Block]:
    """The page's head: the run's conditions, sections stopped early, the verdict table, failed sections."""
    blocks: list[Block] = [
        ("h1", "a3lab report: the write-up's claims, measured"),
        (
            "p",
            f"Preset {meta['preset']}, device {meta['device']}, {meta.get('threads', '-')} intra-op thread(s), "
            f"seed {meta['seed']}, a3lab {meta['version']}, torch {meta['torch']}, generated {meta['generated']}.",
        ),
    ]
    stopped = [f"{n} ({why})" for n, rec in records.items() if (why := stopped_early(rec.get("result")))]
    if stopped:
        blocks.append(
            ("error", "Stopped early, so the claims that read them are not measured: " + "; ".join(stopped) + ".")
        )
    blocks.append(table_block(["#", "claim", "verdict"], [[v.number, v.claim, v.verdict] for v in verdicts]))
    failed = [n for n, rec in records.items() if rec.get("status") == "failed"]
    if failed:
        blocks.append(("error", "Failed sections: " + ", ".join(failed) + " (their errors are shown below)."))
    blocks.append(("p", "Verdicts: " + "; ".join(f"{name}: {meaning}" for name, (_, meaning) in VERDICTS.items())))
    return blocks


def _in_package(section: Section, package: str) -> bool:
    module = section.run.__module__
    return module == package or module.startswith(package + ".")


def _sections_blocks(sections: Sequence[Section], records: dict[str, dict]) -> list[Block]:
    blocks: list[Block] = []
    for s in sections:
        rec = records.get(s.name, {"status": "not run", "error": "not run in this output folder"})
        blocks.append(("h3", f"{s.title} ({rec.get('status')}, {rec.get('seconds', '-')} s)"))
        blocks.append(conditions_block(rec))
        blocks.extend(_section_blocks(s, rec))
    return blocks


def document(records: dict[str, dict], verdicts: list[Verdict], meta: dict, sections: Sequence[Section]) -> list[Block]:
    """The whole report as blocks: summary of verdicts, then each problem's claims and the sections of its
    package; sections of no problem's package come last."""
    blocks = _summary(records, verdicts, meta)
    by_number = {v.number: v for v in verdicts}
    placed: set[str] = set()
    for problem in PROBLEMS:
        blocks.append(("h2", problem.title))
        blocks.extend(("verdict", by_number[c.number]) for c in problem.claims)
        mine = [s for s in sections if _in_package(s, problem.package)]
        placed.update(s.name for s in mine)
        blocks.extend(_sections_blocks(mine, records))
    others = [s for s in sections if s.name not in placed]
    if others:
        blocks.append(("h2", "Other sections"))
        blocks.extend(_sections_blocks(others, records))
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "error":
            out.append(f"> **Error:** {b[1]}")
        elif kind == "pre":
            out.append("```\n" + b[1] + "\n```")
        elif kind == "table":
            headers, rows = b[1], b[2]
            lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1]})")
        elif kind == "verdict":
            v: Verdict = b[1]
            evidence = "\n".join(f"- {e}" for e in v.evidence)
            why = f"\n\n> **{v.verdict.capitalize()}:** {v.why}" if v.why else ""
            out.append(
                f"**Claim {v.number}.** {v.claim}\n\n**Verdict: {v.verdict}.** Rule: {v.rule}{why}\n\n{evidence}"
            )
    return "\n\n".join(out) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.claim { border-left: 5px solid #999; padding: 0.4em 1em; margin: 1em 0; background: #fafafa; }
.why { border: 2px dashed; padding: 0.3em 0.8em; font-weight: bold; }
.badge { font-weight: bold; text-transform: uppercase; }
.error { background: #fde8e8; border: 1px solid #c0392b; padding: 0.5em 1em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
pre { white-space: pre-wrap; font-size: 0.8em; }
"""

# Marks the page when an image fails to decode, so a browser check (and a reader) sees it.
_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var bad = Array.prototype.filter.call(document.images, function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-images', String(document.images.length));
  document.body.setAttribute('data-broken-images', String(bad.length));
  if (bad.length) { console.error('broken images: ' + bad.map(function (i) { return i.alt; }).join(', ')); }
});
"""


def _verdict_css() -> str:
    """Each verdict's colour (from `claims.VERDICTS`) on its table cell, its claim box and its reason."""
    rules = []
    for name, (colour, _) in VERDICTS.items():
        cls = name.replace(" ", "-")
        rules.append(
            f"td.v-{cls} {{ color: {colour}; font-weight: bold; }} .claim.{cls} {{ border-color: {colour}; }} "
            f".claim.{cls} .badge, .claim.{cls} .why {{ color: {colour}; border-color: {colour}; }}"
        )
    return "\n".join(rules)


def _cell_class(text: str) -> str:
    if text in VERDICTS:
        return f' class="v-{text.replace(" ", "-")}"'
    return ' class="num"' if re.fullmatch(r"[-+]?[\d.,]+(e[-+]?\d+)?%?x?", text) else ""


def to_html(blocks: list[Block], base: Path) -> str:
    """Self-contained HTML: images embedded as data: URIs, no external resources."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>a3lab report</title>",
        f"<style>{_CSS}{_verdict_css()}</style>",
        f"<script>{_CHECK_SCRIPT}</script>",
        "</head><body>",
    ]
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "error":
            out.append(f'<div class="error">{e(b[1])}</div>')
        elif kind == "pre":
            out.append(f"<pre>{e(b[1])}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td{_cell_class(c)}>{e(c)}</td>" for c in row) + "</tr>" for row in b[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            path = base / b[1]
            if path.is_file():
                data = base64.b64encode(path.read_bytes()).decode()
                out.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{e(b[2])}">'
                    f"<figcaption>{e(b[2])}</figcaption></figure>"
                )
            else:
                out.append(f'<div class="error">Image missing: {e(b[1])}</div>')
        elif kind == "verdict":
            v: Verdict = b[1]
            cls = v.verdict.replace(" ", "-")
            items = "".join(f"<li>{e(x)}</li>" for x in v.evidence)
            why = f'<p class="why">{e(v.verdict.capitalize())}: {e(v.why)}</p>' if v.why else ""
            out.append(
                f'<div class="claim {cls}"><p><b>Claim {v.number}.</b> {e(v.claim)}</p>'
                f'<p><span class="badge">{e(v.verdict)}</span>. Rule: {e(v.rule)}</p>{why}<ul>{items}</ul></div>'
            )
    out.append("</body></html>")
    return "\n".join(out)
