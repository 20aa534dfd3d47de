"""Words read by an OCR engine and how they become a caption, shared by every engine.

An engine (`memesent.ocr.tesseract`, `memesent.ocr.paddle`) turns a picture into `Word`s with
boxes and confidences; `caption` keeps the confident ones, joins them into rows top to bottom,
drops watermarks such as `imgflip.com` and returns the `Caption`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Caption:
    """Text read from a meme: `lines` top to bottom, `text` the lines joined by newlines,
    `confidence` the engine's mean confidence in the kept words in [0, 1] (0.0 when empty) and
    `engine` the name of the engine that read it."""

    text: str = ""
    confidence: float = 0.0
    lines: list[str] = field(default_factory=list)
    engine: str = ""


_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
_WATERMARK = re.compile(
    r"imgflip|imgur|memegenerator|mematic|quickmeme|makeameme|memecrunch|livememe|ifunny"
    r"|9gag|memedroid|memecenter|imgplay",
    re.IGNORECASE,
)
_MADE_WITH = {"made", "on", "with", "at", "via", "by"}


@dataclass
class Word:
    """One word an engine read: its text, confidence (0-100) and box in picture pixels, and the
    engine's text line it belongs to (`segment`: lines of one engine's output with the same key
    are one line)."""

    text: str
    confidence: float
    left: int
    top: int
    width: int
    height: int
    segment: tuple[int, ...] = (1, 0, 0, 0)

    @property
    def centre(self) -> float:
        return self.top + self.height / 2

    @property
    def letters(self) -> int:
        """How many letters and digits the word has."""
        return len(_ALNUM.findall(self.text))

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


def confident(word: Word, thresholds: tuple[float, ...]) -> bool:
    """At least one letter or digit, and the confidence its length needs: `thresholds[k - 1]`
    for a word of k letters and digits (the last one for longer words), so that short readings,
    the usual noise in photos, need more confidence than long ones."""
    if word.letters == 0:
        return False
    return word.confidence >= thresholds[min(word.letters, len(thresholds)) - 1]


def caption(words: list[Word], engine: str) -> Caption:
    """The caption of these (already filtered) words: rows top to bottom, watermarks dropped."""
    lines = [without_watermarks(line) for line in rows(words)]
    lines = [line for line in lines if line]
    if not lines:
        return Caption(engine=engine)
    kept = [word for line in lines for word in line]
    confidence = sum(w.confidence for w in kept) / len(kept) / 100
    texts = [" ".join(w.text for w in line) for line in lines]
    return Caption("\n".join(texts), round(min(1.0, max(0.0, confidence)), 4), texts, engine)


class _Row:
    """Words on one row, left to right, with the row's median centre and height and its extent."""

    def __init__(self, words: list[Word]) -> None:
        self.words = sorted(words, key=lambda w: w.left)
        self.centre = float(np.median([w.centre for w in words]))
        self.height = float(np.median([w.height for w in words]))
        self.left = min(w.left for w in words)
        self.right = max(w.right for w in words)


def rows(words: list[Word]) -> list[list[Word]]:
    """The engine's lines, joined where lines continue each other (same row, less than two text
    heights apart), top to bottom. Rows are compared by the median centre and height of their
    words, which specks caught in one word's box do not move."""
    segments: dict[tuple[int, ...], list[Word]] = {}
    for word in words:
        segments.setdefault(word.segment, []).append(word)
    found: list[_Row] = []
    for segment in sorted((_Row(s) for s in segments.values()), key=lambda r: r.centre):
        joined = False
        for i in reversed(range(len(found))):
            row = found[i]
            height = max(segment.height, row.height)
            if segment.centre - row.centre > 2 * height:
                break
            gap = max(segment.left - row.right, row.left - segment.right)
            same_row = abs(segment.centre - row.centre) <= 0.5 * min(segment.height, row.height)
            if same_row and gap <= 2 * height:
                found[i] = _Row(row.words + segment.words)
                joined = True
                break
        if not joined:
            found.append(segment)
    found.sort(key=lambda r: (r.centre - r.height / 2, r.left))
    return [row.words for row in found]


def without_watermarks(line: list[Word]) -> list[Word]:
    """The line without watermarks (`imgflip.com`, `made on imgur`)."""
    kept: list[Word] = []
    for word in line:
        if _WATERMARK.search(word.text):
            while kept and kept[-1].text.lower() in _MADE_WITH:
                kept.pop()
        else:
            kept.append(word)
    return kept
