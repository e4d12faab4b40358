"""Rendering: the report as a list of blocks, written twice (Markdown and self-contained HTML).

Blocks: ("h1"|"h2"|"h3", text), ("p", text), ("error", text), ("pre", text), ("table", headers, rows),
("img", relative path, caption), ("verdict", Verdict).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a3lab.blocks import pct
from a3lab.report.claims import VERDICTS, Verdict, stopped_early

Block = tuple


def table_block(headers: list[str], rows: list[list[Any]]) -> Block:
    return ("table", headers, [[_cell(c) for c in row] for row in rows])


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def images_block(section: str, record: dict, captions: dict[str, str] | None = None) -> list[Block]:
    result = record.get("result") or {}
    names = result.get("images", [])
    if isinstance(names, dict):
        names = list(names.values())
    return [("img", f"{section}/{n}", (captions or {}).get(n, Path(n).stem.replace("_", " "))) for n in names]


def _section_blocks(name: str, record: dict) -> list[Block]:
    """Tables and images of one section (the numbers behind the claims)."""
    r = record.get("result")
    if r is None:
        return [("error", f"Section '{name}' failed: {record.get('error')}")]
    try:
        blocks = _SECTION_RENDERERS[name](r)
    except (KeyError, TypeError, ValueError) as e:
        blocks = [("error", f"Section '{name}' returned incomplete results: {e!r}"), ("pre", json.dumps(r)[:2000])]
    if r.get("preset_note"):
        blocks.insert(0, ("p", f"Budget: {r['preset_note']}"))
    return blocks + images_block(name, record)


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


def _render_classifiers(r: dict) -> list[Block]:
    rows = []
    for ds, models in r["results"].items():
        for m, v in models.items():
            rows.append(
                [
                    ds,
                    m,
                    pct(v["accuracy"]),
                    f"{v['params']:,}",
                    f"{v['flops_per_image'] / 1e6:.2f}",
                    round(v["train_seconds_per_epoch"], 1),
                    round(v["inference_images_per_second"]),
                    v.get("epochs"),
                ]
            )
    return [
        table_block(
            [
                "data set",
                "model",
                "test accuracy",
                "parameters",
                "MFLOP/image",
                "train s/epoch",
                "inference images/s",
                "epochs",
            ],
            rows,
        ),
        *_render_classifier_timing(r),
    ]


def _spread_row(label: list, stats: dict) -> list:
    return [*label, stats.get("median"), stats.get("low"), stats.get("high"), stats.get("rounds")]


def _render_classifier_timing(r: dict) -> list[Block]:
    t = r.get("timing")
    if not t:
        return []
    rows = [_spread_row([ds, m], stats) for ds, by_model in t["ratios"].items() for m, stats in by_model.items()]
    return [
        (
            "p",
            f"Inference side by side: {t['rounds']} interleaved rounds, {t['threads']} thread(s), batch "
            f"{t['batch_size']}, {t['images']:,} test images a call, on {t['device']}; the ratio is formed per round.",
        ),
        table_block(["data set", "RNN", "CNN images/s / RNN images/s (median)", "lowest", "highest", "rounds"], rows),
    ]


def _render_attention_timing(r: dict) -> list[Block]:
    t = r.get("timing")
    if not t:
        return []
    slopes = [_spread_row([m], stats) for m, stats in t["slopes"].items()]
    speed = [_spread_row([s["n"], s["method"], s["device"]], s["ratio"]) for s in t["speedup_vs_full"]]
    return [
        (
            "p",
            f"Side by side: {t['rounds']} interleaved rounds, {t['threads']} thread(s), on {t['device']}; slopes "
            f"fitted per round over N = {', '.join(map(str, t['slope_sizes']))}.",
        ),
        table_block(["method", "log-log slope (median)", "lowest", "highest", "rounds"], slopes),
        table_block(
            ["N", "sliding window", "device", "full time / window time (median)", "lowest", "highest", "rounds"], speed
        ),
    ]


def _render_sequences(r: dict) -> list[Block]:
    blocks: list[Block] = []
    for task, t in r["tasks"].items():
        lengths = [str(n) for n in t["lengths"]]
        rows = [[m] + [pct(accs[n]) if n in accs else None for n in lengths] for m, accs in t["models"].items()]
        blocks.append(
            ("p", f"Task '{task}': trained on lengths up to {t['train_max_length']}, chance {pct(t['chance'])}.")
        )
        blocks.append(table_block(["model"] + [f"length {n}" for n in lengths], rows))
    return blocks


def _render_rnn(r: dict) -> list[Block]:
    lr = r["learn"]
    rows = [
        [k, f"{lr['start'][k]:+.4f}", f"{lr['learned'][k]:+.6f}", v]
        for k, v in (("w_x", "any > 0 (sets the sharpness)"), ("w_h", "-1"), ("b", "0"))
    ]
    acc = [[n, pct(a)] for n, a in lr["accuracy"].items()]
    return [
        table_block(["weight", "random start", "learned", "hand-wired"], rows),
        table_block(["test length (trained on 2..20)", "accuracy"], acc),
        ("p", f"Training took {lr['seconds']:.1f} s."),
    ]


def _render_attention_cost(r: dict) -> list[Block]:
    rows = [
        [
            row["n"],
            row["method"],
            row.get("backend"),
            row.get("forward_ms"),
            row.get("forward_backward_ms"),
            row.get("peak_mb"),
        ]
        for row in r["rows"]
    ]
    blocks = [table_block(["N", "method", "backend", "forward ms", "forward+backward ms", "peak MB"], rows)]
    slope_rows = [[m, round(s, 3), r.get("band_gflops", {}).get(m)] for m, s in r["slopes"].items()]
    blocks.append(table_block(["method", "log-log slope (time vs N)", "achieved GFLOP/s"], slope_rows))
    hf = r.get("hf", {})
    hf_text = (
        f"max |ours - HF| = {hf.get('max_abs_diff')}"
        if hf.get("installed")
        else "Hugging Face transformers not installed: no HF comparison in this run"
    )
    blocks.append(
        ("p", f"Large torch.matmul in the same run: {r.get('matmul_gflops', float('nan')):.1f} GFLOP/s. {hf_text}.")
    )
    return blocks + _render_attention_timing(r)


def _render_attention_tasks(r: dict) -> list[Block]:
    blocks: list[Block] = []
    rows = [
        [ds, kind, pct(v["accuracy"]), round(v["seconds_per_epoch"], 1), v.get("steps"), v.get("train_examples")]
        for ds, kinds in r["pixel"].items()
        for kind, v in kinds.items()
    ]
    blocks.append(("p", "Pixel-sequence classification (784 tokens, Long Range Arena 'Image' on our data):"))
    blocks.append(table_block(["data set", "attention", "test accuracy", "s/epoch", "steps", "train examples"], rows))
    lr = r["long_range"]
    blocks.append(("p", f"Long-range task, length {lr['length']}, {lr['layers']} layers, window {lr['window']}:"))
    blocks.append(table_block(["attention", "accuracy"], [[k, pct(a)] for k, a in lr["results"].items()]))
    le = r["linformer_error"]
    blocks.append(
        table_block(
            ["K", "relative error (random)", "relative error (trained)"],
            [list(t) for t in zip(le["k"], le["random"], le["trained"])],
        )
    )
    return blocks


def _ratio(a: float | None, b: float | None) -> str | None:
    """a / b to one decimal ("12.3x"), None where either is missing or b is not positive."""
    return f"{a / b:.1f}x" if a is not None and b is not None and b > 0 else None


def _render_gan(r: dict) -> list[Block]:
    rows = []
    for name, v in r["runs"].items():
        cond = v.get("conditional_accuracy")
        rows.append(
            [
                name,
                ", ".join(x for x in (v.get("arch"), v.get("loss")) if x),
                v.get("epochs"),
                v.get("fid"),
                v.get("fid_floor"),
                _ratio(v.get("fid"), v.get("fid_floor")),
                v.get("kid"),
                v.get("precision"),
                v.get("recall"),
                round(v["class_entropy_bits"], 2),
                pct(cond) if cond is not None else "-",
                v.get("train_seconds"),
            ]
        )
    hist_rows = [[name] + [f"{100 * p:.0f}" for p in v["class_histogram"]] for name, v in r["runs"].items()]
    return [
        table_block(
            [
                "run",
                "arch, loss",
                "epochs",
                "FID",
                "FID floor",
                "FID / floor",
                "KID",
                "precision",
                "recall",
                "class entropy (bits)",
                "conditional accuracy",
                "train s",
            ],
            rows,
        ),
        ("p", "Share (%) of generated images the domain CNN assigns to each class:"),
        table_block(["run"] + [str(c) for c in range(10)], hist_rows),
        *_render_gan_inception(r["runs"]),
    ]


def _render_gan_inception(runs: dict) -> list[Block]:
    """The standard Inception FID beside Lucic et al. 2018's best, when the preset measured it."""
    measured = {name: v for name, v in runs.items() if v.get("inception_fid") is not None}
    if not measured:
        return []
    rows = [
        [name, v["inception_fid"], v.get("inception_n"), v.get("inception_fid_floor"), v.get("inception_fid_published")]
        for name, v in measured.items()
    ]
    notes = sorted({v["inception_note"] for v in measured.values() if v.get("inception_note")})
    return [
        (
            "p",
            "Standard Inception FID (InceptionV3 pool3, generated vs test images) beside the best published for "
            "the data set (Lucic et al. 2018, non-saturating GAN, 10,000 vs 10,000 images)."
            + "".join(f" {n}" for n in notes),
        ),
        table_block(["run", "Inception FID", "images", "floor (train vs test)", "Lucic et al. 2018 best"], rows),
    ]


def _render_video(r: dict) -> list[Block]:
    lengths = [str(n) for n in r["lengths"]]
    blocks: list[Block] = [("p", f"Frame CNN on single test items: {pct(r['frame_cnn_accuracy'])}.")]
    for task, t in r["tasks"].items():
        kind = "order-dependent" if task in r["order_tasks"] else "order-blind control"
        blocks.append(
            (
                "p",
                f"Task '{task}' ({kind}): trained on {r['length']} frames; chance {pct(t['chance'])}, "
                f"order-blind ceiling {pct(t['order_blind_ceiling'])}.",
            )
        )
        rows = []
        for m, accs in t["models"].items():
            d = t["details"][m]
            speed = d["clips_per_second"]
            rows.append(
                [m, *(pct(accs[n]) for n in lengths), d["params"], round(d["flops_per_clip"] / 1e6, 2),
                 round(speed["median"]), f"{speed['min']:.0f}..{speed['max']:.0f}"]
            )  # fmt: skip
        headers = ["model", *(f"{n} frames" for n in lengths), "params", "MFLOP/clip", "clips/s", "clips/s range"]
        blocks.append(table_block(headers, rows))
    return blocks


def _render_captions(r: dict) -> list[Block]:
    blocks: list[Block] = []
    for ds, models in r["datasets"].items():
        lengths = [str(n) for n in range(1, 9)]
        blocks.append(
            ("p", f"{ds}: exact-caption accuracy by number of items (trained on 1..4); encoder on single items "
                  f"{pct(r['encoder_accuracy'][ds])}.")
        )  # fmt: skip
        rows = [
            [m, *(pct(v["by_length"][n]["exact"]) for n in lengths), pct(v["exact_seen"]), pct(v["exact_unseen"]),
             pct(v["wer_seen"]), pct(v["wer_unseen"]), v["params"]]
            for m, v in models.items()
        ]  # fmt: skip
        headers = ["model", *(f"L={n}" for n in lengths), "1..4", "5..8", "WER 1..4", "WER 5..8", "params"]
        blocks.append(table_block(headers, rows))
    return blocks


_SECTION_RENDERERS: dict[str, Callable[[dict], list[Block]]] = {
    "classifiers": _render_classifiers,
    "sequences": _render_sequences,
    "rnn": _render_rnn,
    "attention_cost": _render_attention_cost,
    "attention_tasks": _render_attention_tasks,
    "gan": _render_gan,
    "video": _render_video,
    "captions": _render_captions,
}

PROBLEMS = (
    ("Problem 1: CNN vs RNN", (1, 2, 3, 10, 11), ("classifiers", "sequences", "video", "captions")),
    ("Problem 2: a hand-wired RNN", (4,), ("rnn",)),
    ("Problem 3: linear-time self-attention", (5, 6, 7, 8), ("attention_cost", "attention_tasks")),
    ("Problem 4: GAN vs conditional GAN", (9,), ("gan",)),
)


def document(records: dict[str, dict], verdicts: list[Verdict], meta: dict, titles: dict[str, str]) -> list[Block]:
    """The whole report as blocks: summary of verdicts, then each problem's claims and measurements."""
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
    by_number = {v.number: v for v in verdicts}
    for title, numbers, sections in PROBLEMS:
        blocks.append(("h2", title))
        for n in numbers:
            blocks.append(("verdict", by_number[n]))
        for s in sections:
            title = titles.get(s, s)
            rec = records.get(s, {"status": "not run", "error": "not run in this output folder"})
            blocks.append(("h3", f"{title} ({rec.get('status')}, {rec.get('seconds', '-')} s)"))
            blocks.append(conditions_block(rec))
            blocks.extend(_section_blocks(s, rec))
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
