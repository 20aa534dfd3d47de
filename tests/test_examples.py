"""The app's example memes show what their manifest says they show, read by the shipped model:
a clearly positive meme, a clearly negative one, and one whose words and picture disagree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memesent.quality import ReadingMargins

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"
EXAMPLES = json.loads((EXAMPLES_DIR / "examples.json").read_text())
NEGATIVE_SIDE, POSITIVE_SIDE = ("very_negative", "negative"), ("positive", "very_positive")


def test_the_examples_cover_the_range():
    assert {e["intent"] for e in EXAMPLES} == {
        "positive",
        "negative",
        "words and picture disagree",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["file"] for e in EXAMPLES])
def test_each_example_reads_as_its_manifest_says(example, predictor, shipped_model):
    margins = ReadingMargins.load(shipped_model)
    p = predictor.predict(EXAMPLES_DIR / example["file"], example["caption"])
    line = margins.disagreement(p.readings)
    if example["intent"] == "words and picture disagree":
        assert line is not None, p.readings
        return
    side = POSITIVE_SIDE if example["intent"] == "positive" else NEGATIVE_SIDE
    assert p.label in side, p.probs
    assert margins.side("text", p.readings["text"]) == (1 if side is POSITIVE_SIDE else -1)
    assert line is None


def test_the_captions_manifest_is_the_examples():
    import csv

    with open(EXAMPLES_DIR / "captions.csv", newline="") as handle:
        rows = [(r["image"], r["caption"]) for r in csv.DictReader(handle)]
    assert rows == [(e["file"], e["caption"]) for e in EXAMPLES]


def test_readme_shows_an_example_meme_that_reads_as_it_says():
    """README's Python and command-line examples use the positive example meme and its
    caption, and say it reads positive: `test_each_example_reads_as_its_manifest_says` keeps it
    true."""
    readme = (EXAMPLES_DIR.parents[1] / "README.md").read_text(encoding="utf-8")
    positive = next(e for e in EXAMPLES if e["intent"] == "positive")
    assert f'meme = "assets/examples/{positive["file"]}"' in readme
    assert f'r = p.predict(meme, "{positive["caption"]}")' in readme
    assert "the most likely level (positive)" in readme
