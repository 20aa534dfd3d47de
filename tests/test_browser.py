"""The page in a real browser: Debian's Chromium driven by Playwright (never `playwright install`).

Waits for the page to say how far to trust the model, then uploads an example meme, waits for
the OCR caption, edits it, analyses, and checks the label, the overlay and the highlighted words;
analyses an edited caption again in the same page; then looks at the page at a phone's width.
Screenshots go to each test's temporary folder.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from memesent import LABELS
from memesent.quality import HeldOutQuality
from webapp.server import ROOT, AppServer

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

ROCKET = ROOT / "assets" / "examples" / "rocket.jpg"
COFFEE = ROOT / "assets" / "examples" / "coffee.jpg"
EDITED_CAPTION = "I FINALLY PASSED MY EXAM"
SECOND_CAPTION = "THE EXAM WAS A DISASTER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TRUST = HeldOutQuality.load(ROOT / "assets" / "model").trust_sentence()
TIMEOUT_MS = 60_000  # generous: the machine running the tests may be busy


@pytest.fixture(scope="module")
def app() -> Iterator[AppServer]:
    with AppServer() as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: playwright.Browser, url: str) -> playwright.Page:
    """A desktop-sized tab on `url`, once the page is whole."""
    tab = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(url)
    tab.wait_for_selector("#meme input[type=file]", state="attached")
    # Markdown renders after the inputs; the page is whole once it states how far to trust it
    tab.wait_for_function(
        "trust => document.body.innerText.replace(/\\n/g, ' ').includes(trust)", arg=TRUST
    )
    return tab


@pytest.fixture
def page(app: AppServer, browser: playwright.Browser) -> Iterator[playwright.Page]:
    tab = open_page(browser, app.url)
    yield tab
    tab.context.close()


def caption_box(page: playwright.Page) -> playwright.Locator:
    return page.locator("#caption textarea")


def upload(page: playwright.Page, picture: Path) -> None:
    """Upload `picture` and wait until the page shows it: its upload event has run by then."""
    page.locator("#meme input[type=file]").set_input_files(picture)
    page.wait_for_function(
        "name => document.querySelector('#meme img')?.src.endsWith(name)", arg=picture.name
    )


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_upload_ocr_edit_analyze(page: playwright.Page, tmp_path: Path) -> None:
    page.locator("#meme input[type=file]").set_input_files(ROCKET)
    page.wait_for_function("document.querySelector('#caption textarea').value.trim().length > 0")
    assert "EXAM" in caption_box(page).input_value().upper()

    caption_box(page).fill(EDITED_CAPTION)
    page.click("#analyze")
    page.wait_for_selector("#words .score-token")
    page.wait_for_function(
        "document.querySelector('#overlay img')?.complete"
        " && document.querySelector('#overlay img').naturalWidth > 0"
    )
    levels = page.locator("#levels").inner_text()
    assert all(label in levels for label in LABELS)  # all five levels, with their percentages
    typical = page.locator("#typical").inner_text()
    rates = json.loads((ROOT / "assets" / "model" / "config.json").read_text())["base_rates"]
    assert all(label in typical for label in LABELS)
    for label, rate in rates.items():  # each level's base rate, as the page rounds it
        assert re.search(rf"{label}\s+{round(100 * rate)}%", typical), (label, typical)
    assert "away from a typical meme's answer" in page.locator("#shift-note").inner_text()
    assert "%" in page.locator("#summary").inner_text()
    assert page.locator("#words .score-token").all_inner_texts() == EDITED_CAPTION.split()
    shares = page.locator("#shares").inner_text()
    assert "text" in shares and "image" in shares
    page.screenshot(path=tmp_path / "desktop.png", full_page=True)

    page.evaluate("window.sameDocument = true")  # a reload would forget this
    caption_box(page).fill(SECOND_CAPTION)
    caption_box(page).press("Shift+Enter")
    page.wait_for_function(
        "words => [...document.querySelectorAll('#words .score-token')]"
        ".map(t => t.innerText.trim()).join(' ') === words",
        arg=SECOND_CAPTION,
    )
    assert page.evaluate("window.sameDocument")

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    meme, levels_box = page.locator("#meme").bounding_box(), page.locator("#levels").bounding_box()
    assert meme and levels_box
    assert levels_box["y"] >= meme["y"] + meme["height"], "results should stack under the meme"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling"

    page.get_by_label("Read the caption from the picture on upload").uncheck()
    upload(page, COFFEE)  # another picture: the last one's answer must not stay beside it
    page.wait_for_function("!document.querySelector('#words .score-token')")
    assert "%" not in page.locator("#levels").inner_text()
    assert page.locator("#overlay img").count() == 0


def test_example_memes_show_cached_answers(page: playwright.Page, tmp_path: Path) -> None:
    caption = "MONDAY MORNING THIRD CUP AND STILL TIRED"
    page.get_by_text(caption).first.click()
    page.wait_for_selector("#words .score-token")
    assert caption_box(page).input_value() == caption
    assert page.locator("#words .score-token").all_inner_texts() == caption.split()
    assert page.locator("#overlay img").count() == 1
    page.screenshot(path=tmp_path / "example.png")


def test_bad_file_gets_a_message(page: playwright.Page, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture at all\n" * 10)
    page.locator("#meme input[type=file]").set_input_files(bad)
    toast = page.get_by_text("This file is not a picture memesent can read")
    toast.wait_for()
    page.screenshot(path=tmp_path / "bad_file.png")


def test_no_correction_control_unless_switched_on(page: playwright.Page) -> None:
    assert page.locator("#correction").count() == 0
    assert "stored on this server" not in page.inner_text("body")


def test_saving_a_correction(browser: playwright.Browser, tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    with AppServer("--corrections", str(folder)) as server:
        tab = open_page(browser, server.url)
        assert "Saving stores the picture, the caption and the level you chose on this server" in (
            tab.inner_text("#correction")
        )
        tab.get_by_label("Read the caption from the picture on upload").uncheck()  # no OCR race
        upload(tab, ROCKET)
        caption_box(tab).fill(EDITED_CAPTION)
        tab.locator("#correct-level").get_by_label("very_positive").check()
        tab.click("#save-correction")
        tab.get_by_text("Saved. You said very_positive").wait_for()
        tab.screenshot(path=tmp_path / "correction.png", full_page=True)
        upload(tab, COFFEE)  # a new picture starts with no level chosen and nothing saved
        assert tab.locator("#correct-level input:checked").count() == 0
        assert "Saved" not in tab.inner_text("#correction")
        tab.context.close()
    rows = (folder / "labels.csv").read_text().splitlines()
    assert len(rows) == 2 and EDITED_CAPTION in rows[1] and ",very_positive," in rows[1]
    stored = list((folder / "images").iterdir())
    assert len(stored) == 1 and stored[0].read_bytes() == ROCKET.read_bytes()
