"""The page, its Markdown and its JSON are written from the fixture records, section by section through each
section's own renderer, grouped by problem."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

from PIL import Image

from a3lab import report
from a3lab.report import claims
from a3lab.report.page import document
from a3lab.section import Section
from test_report_fixtures import META, fixture_records


def verdicts_of(records: dict, out: Path) -> dict[int, str]:
    return {v.number: v.verdict for v in report.render(records, META, out)}


def test_render_writes_every_section_image_and_verdict(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    verdicts = verdicts_of(records, tmp_path)
    assert verdicts == {
        1: "supported",
        2: "supported",
        3: "supported",
        4: "supported",
        5: "supported",
        6: "supported",
        7: "refuted",
        8: "supported",
        9: "supported",
        10: "supported",
        11: "supported",
    }
    page = (tmp_path / "index.html").read_text()
    md = (tmp_path / "report.md").read_text()
    for spec in report.SECTIONS:
        assert spec.title in page and spec.title in md
    for claim in report.CLAIMS:
        assert f"Claim {claim.number}." in page and f"**Claim {claim.number}.**" in md
    # every image is embedded and decodes to a non-empty picture
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == 9
    for data in embedded:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        assert img.size[0] > 0 and img.size[1] > 0
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / link).stat().st_size > 0
    stored = json.loads((tmp_path / "results.json").read_text())
    assert [v["verdict"] for v in stored["verdicts"]] == [verdicts[i] for i in range(1, 12)]
    assert stored["sections"]["rnn"]["result"]["learn"]["w_h_error"] == 3e-4


def test_the_page_flags_a_stopped_section_in_red_at_the_top(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    records["gan"]["result"]["budget"] = {
        "work": "4 runs", "unit": "steps", "planned": 7496, "done": 420, "images": 60000, "stopped": "the time limit",
    }  # fmt: skip
    records["gan"]["conditions"] = {"device": "cpu", "threads": 2, "cores": 2, "load_average": 6.1}
    verdicts = {v.number: v.verdict for v in report.render(records, META, tmp_path)}
    assert verdicts[9] == "not measured" and verdicts[1] == "supported"
    page = (tmp_path / "index.html").read_text()
    flag = page.index('<div class="error">Stopped early')
    assert flag < page.index("<table>"), "the flag comes before the verdict table"
    assert "gan (stopped at the time limit after 420 of 7,496 steps)" in page
    assert "6.1 on 2 cores" in page and "NO: stopped at the time limit" in page
    md = (tmp_path / "report.md").read_text()
    assert "> **Not measured:** not measured: section gan stopped at the time limit" in md


def test_a_finished_section_shows_its_budget_and_conditions(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    records["rnn"]["result"]["budget"] = {
        "work": "6,000 Adam steps of 1024 sequences", "unit": "steps", "planned": 6000, "done": 6000, "images": None,
        "stopped": None,
    }  # fmt: skip
    records["rnn"]["conditions"] = {"device": "cpu", "threads": 1, "cores": 2, "load_average": 0.31}
    report.render(records, META, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| 6,000 Adam steps of 1024 sequences | 6,000 of 6,000 steps | - | yes | cpu | 1 | 0.31 on 2 cores |" in md
    assert "Stopped early" not in md


def test_every_verdict_has_one_documented_colour_used_on_the_page(tmp_path: Path) -> None:
    assert set(claims.VERDICTS) == {"supported", "refuted", "nuanced", "inconclusive", "not measured"}
    colours = [colour for colour, _ in claims.VERDICTS.values()]
    assert len(set(colours)) == len(colours)
    report.render(fixture_records(tmp_path), META, tmp_path)
    page = (tmp_path / "index.html").read_text()
    for name, (colour, _) in claims.VERDICTS.items():
        assert f"td.v-{name.replace(' ', '-')} {{ color: {colour};" in page
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["verdict_colours"] == {n: c for n, (c, _) in claims.VERDICTS.items()}


def test_failed_section_still_renders(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    records["gan"] = {"name": "gan", "status": "failed", "result": None, "error": "RuntimeError: out of luck"}
    del records["attention_tasks"]  # not run in this output folder
    verdicts = verdicts_of(records, tmp_path)
    assert verdicts[9] == "not measured" and verdicts[6] == "not measured"
    assert verdicts[1] == "supported"
    page = (tmp_path / "index.html").read_text()
    assert "RuntimeError: out of luck" in page and 'class="error"' in page
    assert "Attention tasks (not run, - s)" in page and "not run in this output folder" in page


def _render_extra(r: dict) -> list:
    return [("p", f"extra value {r['value']}")]


def test_a_section_of_no_problem_package_is_shown_after_the_problems(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    extra = Section("extra", "An extra section", run=_render_extra, render=_render_extra, result=dict)
    records["extra"] = {"name": "extra", "status": "ok", "seconds": 2.0, "result": {"value": 42}, "error": None}
    blocks = document(records, [judged for judged in report.render(records, META, tmp_path)], META,
                      (*report.SECTIONS, extra))  # fmt: skip
    headings = [b[1] for b in blocks if b[0] in ("h2", "h3")]
    assert headings[-2:] == ["Other sections", "An extra section (ok, 2.0 s)"]
    assert ("p", "extra value 42") in blocks
    problem_4 = headings.index("Problem 4: GAN vs conditional GAN")
    assert headings[problem_4 + 1] == "GAN and conditional GAN (ok, 1.0 s)"
