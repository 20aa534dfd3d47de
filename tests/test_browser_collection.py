"""The Collection tab in a real browser (Debian's Chromium through Playwright): a handful of memes
and one broken file dropped on it, the table with its rows and the error row, the plot, the CSV
downloaded and compared with `memesent predict` on the same files, a meme opened in the One meme
tab, and an axe-core audit of the tab (npm's `axe-core`, injected: `AXE_CORE_JS` names its
`axe.min.js`, else it is looked for in the usual npm folders)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import draw_meme, photo

from webapp.server import ROOT, AppServer

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 180_000
AXE_PLACES = [
    os.environ.get("AXE_CORE_JS", ""),
    str(Path.home() / ".cache" / "memesent-npm" / "node_modules" / "axe-core" / "axe.min.js"),
    str(ROOT / "node_modules" / "axe-core" / "axe.min.js"),
    "/tmp/axe/node_modules/axe-core/axe.min.js",
]
CAPTIONS = {"happy.jpg": "BEST DAY EVER", "sad.jpg": "MY DOG DIED", "coffee.jpg": "COFFEE TIME"}


@pytest.fixture(scope="module")
def memes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("memes")
    paths = []
    for i, (name, caption) in enumerate(CAPTIONS.items()):
        draw_meme(photo(["chelsea", "astronaut", "coffee"][i], (320, 320)), caption).save(
            folder / name
        )
        paths.append(folder / name)
    (folder / "broken.jpg").write_bytes((folder / "happy.jpg").read_bytes()[:400])
    return [*paths, folder / "broken.jpg"]


@pytest.fixture(scope="module")
def page(memes) -> Iterator[playwright.Page]:
    with AppServer() as server, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(server.url)
        tab.get_by_role("tab", name="Collection").click()
        tab.wait_for_selector("#collection-files input[type=file]", state="attached")
        yield tab
        browser.close()


def test_a_collection_is_scored_as_the_command_line_scores_it(page, memes, tmp_path, memesent_cli):
    page.locator("#collection-files input[type=file]").set_input_files(memes)
    page.wait_for_function(
        "n => document.querySelectorAll('#collection-files .file-preview tr, "
        "#collection-files .file').length >= n || document.querySelector('#collection-files')"
        ".innerText.includes('broken.jpg')",
        arg=len(memes),
    )
    page.click("#collection-run")
    page.wait_for_function(
        "document.querySelector('#collection-status')?.innerText.includes('Done: 4 of 4')"
    )
    table = page.locator("#collection-table").inner_text()
    for path in memes:
        assert path.name in table
    assert "not an image" in table or "damaged" in table or "truncated" in table
    thumbnails = page.locator("#collection-table img[src^='data:image/jpeg']").evaluate_all(
        "images => images.map(i => i.src)"
    )
    assert len(set(thumbnails)) == 3  # one per meme scored (the table may draw a row twice)
    assert (
        page.locator("#collection-plot img, #collection-plot canvas, #collection-plot svg").count()
        >= 1
    )
    shares = page.locator("#collection-shares").inner_text()
    assert "90 % interval" in shares and "Counting each meme" in shares
    with page.expect_download() as download:
        page.click("#collection-download")
    tab_csv = tmp_path / "tab.csv"
    download.value.save_as(tab_csv)
    done = memesent_cli("predict", *map(str, memes), "--ocr", "--out", str(tmp_path / "cli.csv"))
    assert done.returncode == 1, done.stderr  # the broken file
    tab = pd.read_csv(tab_csv, keep_default_na=False).set_index("image")
    cli = pd.read_csv(tmp_path / "cli.csv", keep_default_na=False)
    cli["image"] = cli["image"].map(lambda p: Path(p).name)
    cli = cli.set_index("image").loc[tab.index]
    assert (tab["label"] == cli["label"]).all() and (tab["caption"] == cli["caption"]).all()
    assert (tab["error"] != "").sum() == 1 and tab.loc["broken.jpg", "error"]
    page.screenshot(path=tmp_path / "collection.png", full_page=True)


def test_a_clicked_meme_opens_in_the_one_meme_tab(page):
    page.locator("#collection-positive .thumbnail-item").first.click()
    page.wait_for_selector("#meme img", state="visible")
    page.wait_for_function("document.querySelector('#caption textarea').value.length > 0")
    page.wait_for_selector("#levels-bars")
    page.get_by_role("tab", name="Collection").click()


# What the tab itself draws or sets: its Markdown and table content, and its buttons (their
# text and colours). Everything else in the tab is Gradio's own components' markup.
OWN = (
    "#collection-shares", "#collection-status", "#collection-table td", "#collection-labelled",
    "#collection-run", "#collection-stop", "#collection-shift", "#collection-sample",
    "#label-negative", "#label-neutral", "#label-positive", "#label-skip",
)  # fmt: skip


def test_the_tab_passes_an_accessibility_audit(page):
    axe = next((Path(p) for p in AXE_PLACES if p and Path(p).is_file()), None)
    if axe is None:
        pytest.skip("axe-core is not installed: npm install axe-core, or set AXE_CORE_JS")
    page.add_script_tag(path=str(axe))
    found = page.evaluate(
        """async own => {
            const result = await axe.run('#tab-collection', {resultTypes: ['violations']});
            const ours = node => own.some(s => document.querySelector(node.target[0])?.matches(
                `${s}, ${s} *`));
            return result.violations
                .filter(v => ['serious', 'critical'].includes(v.impact))
                .map(v => ({id: v.id, all: v.nodes.map(n => n.target.join(' ')),
                            ours: v.nodes.filter(ours).map(n => n.target.join(' '))}));
        }""",
        list(OWN),
    )
    print("serious or critical in Gradio's own markup:", [(v["id"], v["all"]) for v in found])
    assert [v for v in found if v["ours"]] == []
