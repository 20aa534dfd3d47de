"""What the page draws and shares, from a prediction: the levels with a typical meme's marks,
the readings, the disagreement line (thresholds from the model folder), the tinted words, and
the result card (read back with Tesseract)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from helpers import draw_meme, photo
from PIL import Image

from memesent.labels import LABELS
from memesent.predictor import Prediction
from memesent.quality import MetricsError, ReadingMargins
from webapp import views
from webapp.card import SIZE, result_card

RATES = dict(zip(LABELS, (0.1, 0.2, 0.2, 0.35, 0.15), strict=True))
NEG = dict(zip(LABELS, (0.5, 0.3, 0.1, 0.05, 0.05), strict=True))
POPULATION = "the 40 drawn memes the model was calibrated on (labelled 50% negative & …)"
POS = dict(zip(LABELS, (0.02, 0.03, 0.15, 0.5, 0.3), strict=True))


def prediction(both: dict, text: dict | None, image: dict | None) -> Prediction:
    three = {
        "negative": both["very_negative"] + both["negative"],
        "neutral": both["neutral"],
        "positive": both["positive"] + both["very_positive"],
    }
    label = max(both, key=both.get)
    readings = {"text": text, "image": image, "both": both}
    return Prediction(label, both, three, RATES, readings, POPULATION)


def test_levels_carry_a_typical_memes_marks_and_the_summary():
    html = views.levels_html(prediction(POS, POS, NEG))
    assert 'data-label="positive"' in html
    marks = re.findall(r'class="ms-typical" style="left:([\d.]+)%"', html)
    assert [float(m) for m in marks] == [100 * RATES[k] for k in LABELS]
    bars = re.findall(r'class="ms-bar" style="width:([\d.]+)%', html)
    assert [float(b) for b in bars] == [100 * POS[k] for k in LABELS]
    assert "negative <b>5%</b>" in html and "positive <b>80%</b>" in html
    line = re.search(r'<div class="ms-key" id="population">([^<]*)</div>', html)
    assert line and line[1] == f"Which memes these probabilities are for: {POPULATION}.".replace(
        "&", "&amp;"
    )


def test_readings_name_their_top_level_and_say_when_a_modality_is_missing():
    html = views.readings_html(prediction(NEG, NEG, None), None)
    assert 'data-reading="text" data-label="very_negative"' in html
    assert "no picture" in html and "ms-irony" not in html
    with_line = views.readings_html(prediction(NEG, NEG, POS), "They disagree & more")
    assert "They disagree &amp; more" in with_line  # escaped


def test_disagreement_needs_both_readings_clearly_off_the_base_rates(tmp_path):
    metrics = {
        "calibrated_on": "metmeme",
        "sources": {
            "metmeme": {
                "reading_margins": {
                    "quantile": 0.75,
                    "base_positive_share": 0.5 / 0.8,  # RATES: 0.5 of 0.8 on the sides
                    "text": 0.2,
                    "image": 0.1,
                }
            }
        },
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    margins = ReadingMargins.load(tmp_path)
    assert margins is not None and margins.text == 0.2
    line = margins.disagreement({"text": NEG, "image": POS})
    assert line and "words read negative" in line and "picture reads positive" in line
    assert margins.disagreement({"text": POS, "image": POS}) is None
    assert margins.disagreement({"text": NEG, "image": None}) is None
    # words only a little below a typical meme's valence: not "clearly"
    mild = dict(zip(LABELS, (0.15, 0.25, 0.2, 0.3, 0.1), strict=True))  # positive share 0.5
    assert margins.side("text", mild) == 0 and margins.side("image", mild) == -1
    metrics["sources"]["metmeme"]["reading_margins"].pop("text")
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(MetricsError, match="'text'"):
        ReadingMargins.load(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")  # a model trained before margins were measured
    assert ReadingMargins.load(tmp_path) is None


def test_words_are_tinted_by_direction_and_strength():
    html = views.words_html([("love", 1.0), ("<b>", -0.5), ("the", 0.0)])
    spans = re.findall(
        r'data-score="([-\d.]+)"[^>]*style="background:rgba\(([\d, ]+),([\d.]+)\)"', html
    )
    assert [(float(s), rgb, float(a)) for s, rgb, a in spans] == [
        (1.0, views.POSITIVE_RGB, 0.75),
        (-0.5, views.NEGATIVE_RGB, 0.375),
        (0.0, views.NEGATIVE_RGB, 0.0),
    ]
    assert "&lt;b&gt;" in html and "toward negative" in html and "toward positive" in html
    assert "no caption" in views.words_html([])


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_the_card_shows_the_meme_the_verdict_and_the_name():
    import pytesseract

    meme = draw_meme(photo("chelsea", (400, 300)), "SUNNY SPOT")
    heat = Image.new("RGB", meme.size, (255, 0, 0))
    card = result_card(
        meme, "sunny spot pure happiness", prediction(POS, POS, NEG), heat, "positive"
    )
    assert card.size == SIZE
    text = pytesseract.image_to_string(card).lower()
    for words in ("memesent", "sunny spot pure happiness", "positive", "the words alone"):
        assert words in text, (words, text)
    # the meme itself fills the left part of the card, scaled to fit
    fitted = meme.copy()
    fitted.thumbnail((560, 615))
    x, y = 30 + (560 - fitted.width) // 2, 30 + (615 - fitted.height) // 2
    shown = card.crop((x, y, x + fitted.width, y + fitted.height))
    diff = np.abs(np.asarray(shown, float) - np.asarray(fitted, float)).mean()
    assert diff < 3, diff
    red = sum(1 for p in card.getdata() if p == (255, 0, 0))
    assert red > 1000  # and the heat map beside the verdict
