"""Screenshots of the page for README and docs, taken by a real browser, never by hand.

    python -m tools.screenshots [--out docs/images] [--example N]

It starts the app (`webapp.server.AppServer`), opens it in Debian's Chromium through Playwright
(never `playwright install`), clicks example meme N (default: the one whose words and picture
disagree), waits for its answer and explanation, and saves the whole page at 1280 and at 390
pixels wide (`page-1280.png`, `page-390.png`). It fails if either width scrolls sideways. Then
it drops the example memes on the Collection tab, scores them and saves that tab at 1280
pixels (`collection-1280.png`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from webapp.server import ROOT, AppServer

EXAMPLES = ROOT / "assets" / "examples" / "examples.json"
WIDTHS = {1280: 900, 390: 844}  # viewport width: height
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


def shoot(out: Path, example: int) -> list[Path]:
    """Save the page with example `example` analysed at each width; returns the files."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise FileNotFoundError("Debian's chromium is not installed: apt-get install chromium")
    caption = json.loads(EXAMPLES.read_text())[example]["caption"]
    out.mkdir(parents=True, exist_ok=True)
    files = []
    with AppServer() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": WIDTHS[1280]})
        page.set_default_timeout(120_000)
        page.goto(server.url)
        page.wait_for_selector("#meme input[type=file]", state="attached")
        page.wait_for_selector("#model-card")  # the page is whole
        page.get_by_text(caption).first.click()
        page.wait_for_selector("#word-scores .ms-word")
        page.wait_for_function("document.querySelector('#overlay img')?.complete")
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_function(f"document.documentElement.clientWidth === {width}")
            sideways = page.evaluate("document.documentElement.scrollWidth")
            if sideways > width:
                raise RuntimeError(f"the page scrolls sideways at {width} px ({sideways} px wide)")
            path = out / f"page-{width}.png"
            page.screenshot(path=path, full_page=True)
            files.append(path)
        page.set_viewport_size({"width": 1280, "height": WIDTHS[1280]})
        files.append(shoot_collection(page, out))
        browser.close()
    return files


def shoot_collection(page, out: Path) -> Path:
    """The Collection tab after scoring the example memes (the project's own)."""
    memes = sorted(EXAMPLES.parent.glob("*.jpg"))
    page.get_by_role("tab", name="Collection").click()
    page.locator("#collection-files input[type=file]").set_input_files(memes)
    page.wait_for_function(
        "n => document.querySelector('#collection-files').innerText.includes(n)",
        arg=memes[-1].name,
    )
    page.click("#collection-run")
    page.wait_for_function(
        "document.querySelector('#collection-status')?.innerText.startsWith('Done')"
    )
    page.wait_for_function("document.querySelector('#collection-plot img')?.complete")
    path = out / "collection-1280.png"
    page.screenshot(path=path, full_page=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--example", type=int, default=None, help="example meme (0-based)")
    a = parser.parse_args(argv)
    examples = json.loads(EXAMPLES.read_text())
    default = next(
        (i for i, e in enumerate(examples) if e["intent"] == "words and picture disagree"), 0
    )
    index = default if a.example is None else a.example
    if not 0 <= index < len(examples):
        parser.error(f"--example must be 0 to {len(examples) - 1}")
    try:
        for path in shoot(a.out, index):
            print(path)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"python -m tools.screenshots: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
