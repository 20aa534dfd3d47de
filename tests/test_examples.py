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
