"""The page in a real (headless) browser: every embedded figure decodes, and the check sees a broken one."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from a3lab import report
from test_report_fixtures import META, fixture_records


@pytest.mark.skipif(report.find_chromium() is None, reason="no chromium installed")
def test_page_in_a_real_browser(tmp_path: Path) -> None:
    records = fixture_records(tmp_path)
    report.render(records, META, tmp_path)
    check = report.browser_check(tmp_path / "index.html", tmp_path / "screenshot.png")
    assert check["loaded"], check
    embedded = (tmp_path / "index.html").read_text().count("data:image/png;base64,")  # one per figure
    assert embedded >= 6 and check["images"] == embedded and check["broken_images"] == 0
    assert check["console"] == []
    assert Image.open(check["screenshot"]).size == (1200, 2400)
    # and the check does see a broken image
    page = (tmp_path / "index.html").read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    (tmp_path / "broken.html").write_text(page)
    bad = report.browser_check(tmp_path / "broken.html", tmp_path / "broken.png")
    assert bad["broken_images"] == 1 and any("broken images" in line for line in bad["console"])


@pytest.mark.skipif(report.find_chromium() is None, reason="no chromium installed")
def test_cli_browser_check_saves_a_screenshot_and_fails_on_a_broken_image(tmp_path: Path, capsys) -> None:
    report.render(fixture_records(tmp_path), META, tmp_path)
    assert report.check_page(tmp_path)
    embedded = (tmp_path / "index.html").read_text().count("data:image/png;base64,")
    assert f"{embedded} images, 0 broken, 0 console messages" in capsys.readouterr().out
    assert Image.open(tmp_path / "screenshot.png").size == (1200, 2400)
    page = (tmp_path / "index.html").read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    (tmp_path / "index.html").write_text(page)
    assert not report.check_page(tmp_path)
    assert "1 broken" in capsys.readouterr().out
