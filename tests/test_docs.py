"""The documents stay true: generated tables match their JSON, links resolve, the code map
names every module, and README stays short with the ways in before the results."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tools import doc_tables

ROOT = Path(__file__).resolve().parents[1]
DOCS = doc_tables.documents(ROOT)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"```.*?```", re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    text = CODE_BLOCK.sub("", doc.read_text(encoding="utf-8"))
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


def test_every_generated_table_matches_its_json():
    assert doc_tables.update(ROOT, check=True) == [], "run python -m tools.doc_tables"


def test_a_changed_measurement_makes_its_tables_stale(tmp_path):
    for doc in DOCS:
        target = tmp_path / doc.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(doc, target)
    sources = {t.source for t in doc_tables.TABLES.values()}
    for source in sources:
        if (ROOT / source).is_file():
            (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, tmp_path / source)
    assert doc_tables.update(tmp_path, check=True) == []
    metrics = tmp_path / doc_tables.METRICS
    m = json.loads(metrics.read_text())
    m["sources"]["sst5"]["test"]["accuracy_5"] += 0.01
    metrics.write_text(json.dumps(m))
    stale = doc_tables.update(tmp_path, check=True)
    assert "README.md: headline" in stale and "docs/results.md: results" in stale
    doc_tables.update(tmp_path)  # the command that fixes it
    assert doc_tables.update(tmp_path, check=True) == []


def test_every_table_marker_names_a_known_table():
    for doc in DOCS:
        for name in re.findall(r"<!-- table: ([\w-]+) -->", doc.read_text(encoding="utf-8")):
            assert name in doc_tables.TABLES, f"{doc.name}: unknown table {name}"


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_link_resolves(doc):
    text = CODE_BLOCK.sub("", doc.read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            assert target.startswith("https://"), f"{doc.name}: {target}"
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{doc.name}: no heading #{anchor} in {path}"


def test_the_code_map_names_every_module():
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    for package in ("memesent", "train", "webapp"):
        for module in (ROOT / package).rglob("*.py"):
            name = module.relative_to(ROOT / package).as_posix()
            shown = name if package != "webapp" else f"webapp/{name}"
            assert f"`{shown}`" in text, f"docs/development.md does not name {package}/{name}"


def test_readme_is_short_and_shows_the_ways_in_before_the_results():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    results = text.index("<!-- table: headline -->")
    for way_in in ("pip install -r requirements.txt", "python app.py", "Predictor.load()"):
        assert -1 < text.find(way_in) < results, way_in
    assert -1 < text.find("memesent predict") < results
