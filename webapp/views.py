"""How the page draws an answer, as HTML: the five levels of the whole meme with a typical
meme's shares as markers on the same bars, the three-way summary and which memes the
probabilities are for folded in, the words' and
the picture's readings as compact bars, and the caption's words coloured by which way they
push; what the page shows before an answer and while the explanation waits for Analyze; and
the page's CSS. Plain functions of a `Prediction` or an explanation's word scores, so they are
tested without a browser."""

from __future__ import annotations

import html

from memesent.labels import LABELS, LABELS3, collapse
from memesent.predictor import Prediction

# A diverging palette readable with red-green colour blindness (ColorBrewer RdBu).
LEVEL_COLOURS = {
    "very_negative": "#b2182b",
    "negative": "#ef8a62",
    "neutral": "#bababa",
    "positive": "#67a9cf",
    "very_positive": "#2166ac",
}
NEGATIVE_RGB, POSITIVE_RGB = "178, 24, 43", "33, 102, 172"
READING_NAMES = {"text": "The words alone", "image": "The picture alone"}
MISSING = {"text": "no caption", "image": "no picture"}

EMPTY = '<div class="ms-empty">Upload a meme or type a caption: the answer appears here.</div>'
STALE_WORDS = (
    '<div class="ms-words" id="word-scores"><i>Press Analyze to see which words and which '
    "parts of the picture drove this answer.</i></div>"
)
HEAT_MAP_LABEL = "Where the picture drove the answer"


def _name(level: str) -> str:
    return level.replace("_", " ")


def heat_map_title(level: str) -> str:
    """The heat map's title once it explains `level`."""
    return f"Where the picture drove “{_name(level)}”"


def population_line(population: str) -> str:
    """The line under the answer that says which memes its probabilities are for."""
    return f"Which memes these probabilities are for: {population}."


def levels_html(prediction: Prediction) -> str:
    """The five levels as bars, each with a marker at a typical meme's share, the
    negative / neutral / positive summary under them, and which memes they are for."""
    rows = []
    for level in LABELS:
        p, base = prediction.probs[level], prediction.base_rates[level]
        rows.append(
            f'<div class="ms-row" data-level="{level}">'
            f'<span class="ms-name">{_name(level)}</span>'
            f'<span class="ms-track"><span class="ms-bar" style="width:{100 * p:.1f}%;'
            f'background:{LEVEL_COLOURS[level]}"></span>'
            f'<span class="ms-typical" style="left:{100 * base:.1f}%" '
            f'title="a typical meme: {100 * base:.0f}%"></span></span>'
            f'<span class="ms-value">{100 * p:.0f}%</span></div>'
        )
    summary = " · ".join(
        f'<span data-class="{c}">{c} <b>{100 * prediction.probs3[c]:.0f}%</b></span>'
        for c in LABELS3
    )
    return (
        f'<div class="ms-levels" id="levels-bars" data-label="{prediction.label}">'
        f'<div class="ms-verdict">{_name(prediction.label)}</div>{"".join(rows)}'
        f'<div class="ms-summary">{summary}</div>'
        '<div class="ms-key">bars: this meme · <span class="ms-typical-key"></span> a typical '
        "meme</div>"
        f'<div class="ms-key" id="population">{html.escape(population_line(prediction.population))}'
        "</div></div>"
    )


def stacked_bar(probs: dict[str, float]) -> str:
    """The five levels as one bar of coloured segments, left very negative, right very
    positive."""
    parts = "".join(
        f'<span style="width:{100 * probs[level]:.1f}%;background:{LEVEL_COLOURS[level]}" '
        f'title="{_name(level)} {100 * probs[level]:.0f}%"></span>'
        for level in LABELS
    )
    return f'<span class="ms-stack">{parts}</span>'


def readings_html(prediction: Prediction, disagreement: str | None) -> str:
    """What the words alone and the picture alone say: each its most likely level and a compact
    bar of the five; then the line on their disagreeing, if they clearly do."""
    rows = []
    for reading, title in READING_NAMES.items():
        probs = prediction.readings.get(reading)
        if probs is None:
            rows.append(
                f'<div class="ms-reading" data-reading="{reading}"><span class="ms-rname">'
                f"{title}</span><i>{MISSING[reading]}</i></div>"
            )
            continue
        top = max(LABELS, key=probs.__getitem__)
        three = dict(zip(LABELS3, collapse([probs[k] for k in LABELS]).tolist(), strict=True))
        rows.append(
            f'<div class="ms-reading" data-reading="{reading}" data-label="{top}">'
            f'<span class="ms-rname">{title}</span><b>{_name(top)}</b>{stacked_bar(probs)}'
            f'<span class="ms-rsum">{100 * three["negative"]:.0f}% neg · '
            f"{100 * three['positive']:.0f}% pos</span></div>"
        )
    note = f'<div class="ms-irony">{html.escape(disagreement)}</div>' if disagreement else ""
    return f'<div class="ms-readings" id="readings">{"".join(rows)}{note}</div>'


def words_html(words: list[tuple[str, float]]) -> str:
    """The caption's words, each tinted by the way it pushes the answer (red toward negative,
    blue toward positive), the stronger its push the deeper the tint, with a one-line key."""
    if not words:
        return '<div class="ms-words" id="word-scores"><i>no caption</i></div>'
    spans = []
    for word, score in words:
        rgb = POSITIVE_RGB if score > 0 else NEGATIVE_RGB
        alpha = min(1.0, abs(score)) * 0.75
        spans.append(
            f'<span class="ms-word" data-score="{score:.4f}" title="{score:+.2f}" '
            f'style="background:rgba({rgb},{alpha:.3f})">{html.escape(word)}</span>'
        )
    key = (
        '<div class="ms-key"><span class="ms-neg">red</span>: pushes toward negative · '
        '<span class="ms-pos">blue</span>: toward positive · deeper: stronger</div>'
    )
    return f'<div class="ms-words" id="word-scores">{" ".join(spans)}{key}</div>'


CSS = """
.ms-levels, .ms-readings, .ms-words { font-size: 0.95rem; line-height: 1.4; }
.ms-verdict { font-size: 1.4rem; font-weight: 700; margin-bottom: 0.3rem; }
.ms-row { display: grid; grid-template-columns: 7.5em 1fr 3em; align-items: center;
  gap: 0.5em; margin: 0.15rem 0; }
.ms-track { position: relative; height: 0.9rem; background: var(--neutral-100, #eee);
  border-radius: 3px; }
.ms-bar { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px; }
.ms-typical { position: absolute; top: -3px; bottom: -3px; width: 2px;
  background: var(--body-text-color, #222); }
.ms-typical-key { display: inline-block; width: 2px; height: 0.9em; vertical-align: middle;
  background: var(--body-text-color, #222); }
.ms-value { text-align: right; font-variant-numeric: tabular-nums; }
.ms-summary, .ms-key { margin-top: 0.35rem; color: var(--body-text-color-subdued, #555);
  font-size: 0.85rem; }
.ms-reading { display: grid; grid-template-columns: 8.5em 1fr; gap: 0.1em 0.5em;
  align-items: center; margin: 0.3rem 0; }
.ms-stack { display: flex; height: 0.8rem; border-radius: 3px; overflow: hidden;
  min-width: 4rem; }
.ms-stack > span { display: block; height: 100%; }
.ms-rsum { font-size: 0.8rem; color: var(--body-text-color-subdued, #555); }
.ms-irony { margin-top: 0.4rem; font-weight: 600; }
.ms-word { padding: 0 0.15em; border-radius: 3px; }
.ms-neg { color: #b2182b; font-weight: 600; } .ms-pos { color: #2166ac; font-weight: 600; }
#collection-run { background: #c2410c; border-color: #c2410c; color: #fff; }
"""
