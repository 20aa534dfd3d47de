"""What the Collection tab shows of a collection's rows: the table (a thumbnail per meme), the
most positive and most negative memes, the plots, and the shares in words. Plain functions of
results rows (`memesent.results.RESULT_COLUMNS`), tested without a browser."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # no screen: figures are drawn to be sent

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from memesent.images import NotAnImageError, load_image
from memesent.labels import LABELS, collapse
from memesent.shares import SharesEstimate, side_probability

from .views import LEVEL_COLOURS

THUMBNAIL = 56  # pixels a side
SHOWN = 6  # memes in each gallery
COLUMNS = (
    "meme",
    "file",
    "caption",
    "answer",
    "words alone",
    "picture alone",
    "negative",
    "neutral",
    "positive",
    "from a typical meme",
    "error",
)
DATATYPES: list[Literal["str", "number", "markdown"]] = [
    "markdown",
    "str",
    "str",
    "str",
    "str",
    "str",
    "number",
    "number",
    "number",
    "number",
    "str",
]


def thumbnail(path: Path | None) -> str:
    """A small JPEG of the meme as a Markdown image (a data URL), or "" when it cannot be read."""
    if path is None:
        return ""
    try:
        picture = load_image(path, THUMBNAIL * 4)
    except (OSError, NotAnImageError):
        return ""
    picture.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return f"![meme](data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def _distribution(row: Mapping, prefix: str) -> np.ndarray | None:
    values = [row.get(f"{prefix}{level}") for level in LABELS]
    return None if any(v is None for v in values) else np.array(values, dtype=np.float64)


def _answer(row: Mapping) -> np.ndarray:
    """A scored row's five probabilities."""
    probs = _distribution(row, "prob_")
    assert probs is not None, "a scored row has its probabilities"
    return probs


def _most_likely(row: Mapping, prefix: str) -> str:
    probs = _distribution(row, prefix)
    return "–" if probs is None else LABELS[int(np.argmax(probs))].replace("_", " ")


def table(
    rows: Sequence[Mapping], thumbnails: Mapping[str, str], base_rates: np.ndarray
) -> pd.DataFrame:
    """One line per meme in `COLUMNS`: its thumbnail (from `thumbnails` by its key), file,
    caption, answer (the most likely of the five levels), the words' and the picture's, the
    three classes' probabilities, and how far the answer is from a typical meme's (the total
    variation distance from `base_rates`, 0 to 1); a meme that could not be scored, its error."""
    lines = []
    for row in rows:
        probs = _distribution(row, "prob_")
        three = [None] * 3 if probs is None else collapse(probs).round(3).tolist()
        away = None if probs is None else round(0.5 * float(np.abs(probs - base_rates).sum()), 3)
        lines.append(
            [
                "" if row["error"] else thumbnails.get(row["image"], ""),
                row["image"],
                row["caption"] or "",
                (row["label"] or "").replace("_", " "),
                "" if row["error"] else _most_likely(row, "text_prob_"),
                "" if row["error"] else _most_likely(row, "image_prob_"),
                *three,
                away,
                row["error"] or "",
            ]
        )
    return pd.DataFrame(lines, columns=list(COLUMNS))


def extremes(rows: Sequence[Mapping], paths: Mapping[str, Path]) -> tuple[list, list]:
    """The `SHOWN` most positive and most negative scored memes, as gallery items (picture
    path, "class probability: caption"), by the answer's probability of the class."""
    scored = [row for row in rows if not row["error"] and row["image"] in paths]
    three = {row["image"]: collapse(_answer(row)) for row in scored}

    def items(k: int) -> list:
        ranked = sorted(scored, key=lambda row: -three[row["image"]][k])[:SHOWN]
        return [
            (
                str(paths[row["image"]]),
                f"{three[row['image']][k]:.2f}: {row['caption'] or row['image']}",
            )
            for row in ranked
        ]

    return items(2), items(0)


def figure(rows: Sequence[Mapping], base_rates: np.ndarray) -> Figure | None:
    """Two panels: how the collection falls on the five levels (its mean answer and the share
    of memes whose answer each level is, against a typical meme's shares), and each meme's
    words' reading against its picture's (the positive side's share of each), so that memes
    whose words and picture disagree stand out. None before any meme is scored."""
    scored = [row for row in rows if not row["error"]]
    if not scored:
        return None
    probs = np.array([_answer(row) for row in scored])
    counts = np.bincount(probs.argmax(1), minlength=len(LABELS)) / len(probs)
    fig = Figure(figsize=(9.6, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.15, 1))
    x = np.arange(len(LABELS))
    colours = [LEVEL_COLOURS[level] for level in LABELS]
    left.bar(x - 0.2, probs.mean(0), 0.4, color=colours, label="mean answer")
    left.bar(x + 0.2, counts, 0.4, color=colours, alpha=0.45, hatch="//", label="most likely level")
    left.scatter(x, base_rates, marker="D", color="black", zorder=3, label="a typical meme")
    left.set_xticks(x, [level.replace("_", "\n") for level in LABELS], fontsize=8)
    left.set_ylim(0, 1)
    left.set_ylabel("share of the collection")
    left.set_title(f"The five levels ({len(scored)} memes)", fontsize=10)
    left.legend(fontsize=7, loc="upper left", frameon=False)
    pairs = [
        (side_probability(t), side_probability(i))
        for row in scored
        if (t := _distribution(row, "text_prob_")) is not None
        and (i := _distribution(row, "image_prob_")) is not None
    ]
    if pairs:
        words, picture = np.array(pairs).T
        right.scatter(words, picture, s=14, c="#2166ac", alpha=0.6)
        typical = float(side_probability(base_rates))
        right.axhline(typical, color="grey", lw=0.6, ls="--")
        right.axvline(typical, color="grey", lw=0.6, ls="--")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_xlabel("the words alone: share on the positive side")
    right.set_ylabel("the picture alone: positive side")
    right.set_title(f"Words against picture ({len(pairs)} memes with both)", fontsize=10)
    return fig


def shares_markdown(
    estimate: SharesEstimate | None, population: str, notes: Sequence[str] = ()
) -> str:
    """The collection's estimated shares in words, which memes the answers are for, and the
    notes on what was left out."""
    parts = [f"- {note}" for note in notes]
    if estimate is not None:
        lines = estimate.lines()
        parts = [
            f"**{lines[0]}**",
            *(f"- {line.strip()}" for line in lines[1:4]),
            "",
            *lines[4:],
            "",
            *parts,
        ]
    parts.append(f"\nWhich memes the answers are for: {population}.")
    return "\n".join(parts)


def status(done: int, total: int, stopped: bool, finished: bool) -> str:
    """One line on where a run stands."""
    if stopped:
        return f"Stopped after {done} of {total} memes: the results hold those {done}."
    if finished:
        return f"Done: {done} of {total} memes."
    return f"Scored {done} of {total} memes…"
