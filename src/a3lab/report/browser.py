"""Checking the report in a real browser: headless Chromium loads it, counts broken images, takes a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from a3lab.errors import UserError

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def browser_check(index_html: Path, screenshot: Path, timeout: float = 120) -> dict:
    """Open the report in headless Chromium: count images, broken images and console messages, save a screenshot.

    The page marks `data-images` / `data-broken-images` on <body> once loaded and logs broken images
    with console.error; any console message or uncaught error counts against the page.
    """

    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium found (Debian: apt-get install chromium)")
    url = Path(index_html).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=timeout)
        shot = subprocess.run(
            [*base, f"--screenshot={Path(screenshot).resolve()}", "--window-size=1200,2400", url],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    images = re.search(r'data-images="(\d+)"', dom.stdout)
    broken = re.search(r'data-broken-images="(\d+)"', dom.stdout)
    console = [line for line in (dom.stderr + shot.stderr).splitlines() if ":CONSOLE" in line]
    return {
        "loaded": images is not None,
        "images": int(images.group(1)) if images else 0,
        "broken_images": int(broken.group(1)) if broken else None,
        "console": console,
        "screenshot": str(screenshot) if Path(screenshot).is_file() else None,
    }


def require_chromium() -> None:
    """Before any work: a browser check needs Chromium."""
    if find_chromium() is None:
        raise UserError("`browser_check` needs chromium (Debian: apt-get install chromium)")


def check_page(out: Path) -> bool:
    """Open out/index.html in headless Chromium, save out/screenshot.png, print what it saw; True if clean."""
    require_chromium()
    check = browser_check(out / "index.html", out / "screenshot.png")
    broken, console = check["broken_images"], check["console"]
    print(
        f"browser: {'loaded' if check['loaded'] else 'did not load'}, {check['images']} images, "
        f"{broken} broken, {len(console)} console messages; screenshot {check['screenshot']}"
    )
    for line in console:
        print(f"  {line}")
    return bool(check["loaded"]) and broken == 0 and not console
