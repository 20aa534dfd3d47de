"""The Tesseract engine of caption OCR, tuned for memes.

Plain `pytesseract.image_to_string` misses the classic white captions with a black outline on
busy photos and much of the small print of screenshots. `read_words`, on a picture already
scaled to OCR size (`memesent.ocr.extract_caption`):

1. makes two pages: the grey picture, which tesseract binarises itself (dark text on light
   panels), and a hard mask of the near-white, unsaturated pixels (the caption fill of classic
   memes) drawn as black text on white;
2. reads both pages in one tesseract run (a two-page TIFF, so the model loads once) in sparse-text
   mode, which gives every word with its box and confidence;
3. reads a `|` between words as I, drops unconfident words (the shorter the word, the more
   confidence it needs: one-letter noise) and symbol-only tokens, and keeps one reading where the
   pages overlap (the page with more confident letters there).
"""

from __future__ import annotations

import functools
import itertools
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytesseract
from PIL import Image, ImageChops

from .errors import OCRError, OCRTimeoutError, TesseractNotFoundError
from .words import Word, confident


@dataclass(frozen=True)
class TesseractSettings:
    """Tuning of the Tesseract engine; defaults set on MultiOFF memes (docs/ocr.md)."""

    white_level: int = 200  # darkest channel of a caption-white pixel is at least this
    white_spread: int = 60  # and its channels differ by at most this (unsaturated)
    min_white_fraction: float = 0.001  # skip the white-text page when less of the picture is white
    # a word with 1, 2, 3, 4, 5+ letters or digits needs at least this tesseract confidence
    min_confidence: tuple[float, ...] = (85, 75, 60, 50, 40)
    page_segmentation: int = 11  # sparse text: captions are scattered over the picture
    overlap: float = 0.3  # words on both pages are one word when their boxes share this much


def available() -> bool:
    """Whether the tesseract program pytesseract points at can run (cached per program path)."""
    return _can_run(str(pytesseract.pytesseract.tesseract_cmd))


@functools.lru_cache(maxsize=8)
def _can_run(command: str) -> bool:
    try:
        done = subprocess.run([command, "--version"], check=False, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def read_words(picture: Image.Image, settings: TesseractSettings, deadline: float) -> list[Word]:
    """The confident words of an RGB picture, one reading per place, in its pixels.

    Raises `TesseractNotFoundError` when the program is missing and `OCRTimeoutError` when
    `time.monotonic()` passes `deadline`."""
    pages = [picture.convert("L")]
    white_text = _white_text_page(picture, settings)
    if white_text is not None:
        pages.append(white_text)
    words = _bars_as_i(_read_words(pages, settings, deadline), settings)
    words = [w for w in words if confident(w, settings.min_confidence)]
    return _merge_pages(words, settings.overlap)


def _white_text_page(picture: Image.Image, settings: TesseractSettings) -> Image.Image | None:
    """Near-white unsaturated pixels as black on white (classic caption fill); when most of the
    picture is white (a screenshot), the other way round so that the text is still black."""
    red, green, blue = picture.split()
    darkest = ImageChops.darker(red, ImageChops.darker(green, blue))
    lightest = ImageChops.lighter(red, ImageChops.lighter(green, blue))
    bright = darkest.point(lambda v: 255 if v >= settings.white_level else 0)
    grey = ImageChops.subtract(lightest, darkest).point(
        lambda v: 255 if v <= settings.white_spread else 0
    )
    white = ImageChops.multiply(bright, grey)
    fraction = float(np.asarray(white).mean()) / 255
    if fraction < settings.min_white_fraction:
        return None
    return white if fraction > 0.5 else ImageChops.invert(white)


def _read_words(
    pages: list[Image.Image], settings: TesseractSettings, deadline: float
) -> list[Word]:
    """Run tesseract once over all pages; words in page coordinates (all pages are the same
    size, so boxes from different pages can be compared)."""
    with tempfile.TemporaryDirectory(prefix="memesent-ocr-") as folder:
        path = str(Path(folder) / "pages.tif")
        pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:])
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OCRTimeoutError("OCR ran out of time before tesseract started")
        try:
            data = pytesseract.image_to_data(
                path,
                config=f"--oem 1 --psm {settings.page_segmentation}",
                output_type=pytesseract.Output.DICT,
                timeout=remaining,
            )
        except pytesseract.TesseractNotFoundError as err:
            raise TesseractNotFoundError() from err
        except pytesseract.TesseractError as err:
            raise OCRError(f"tesseract failed: {err}") from err
        except RuntimeError as err:
            if "timeout" in str(err).lower():
                raise OCRTimeoutError(f"OCR took longer than the {remaining:.1f} s left") from err
            raise
    words = []
    for i, text in enumerate(data["text"]):
        text = text.strip()
        confidence = float(data["conf"][i])
        if text and confidence >= 0:
            words.append(
                Word(
                    text,
                    confidence,
                    data["left"][i],
                    data["top"][i],
                    data["width"][i],
                    data["height"][i],
                    tuple(data[k][i] for k in ("page_num", "block_num", "par_num", "line_num")),
                )
            )
    return words


def _bars_as_i(words: list[Word], settings: TesseractSettings) -> list[Word]:
    """A confident `|` on a line with other words is the letter I (a frequent misreading of
    capital I in captions); elsewhere it is a separator or an edge and goes as a symbol."""
    has_words = {
        w.segment for w in words if w.letters >= 2 and confident(w, settings.min_confidence)
    }
    for word in words:
        if word.text == "|" and word.segment in has_words:
            word.text = "I"
    return words


def _merge_pages(words: list[Word], overlap: float) -> list[Word]:
    """One reading per place. Words of different pages whose boxes share more than `overlap` of
    the smaller box read the same place; in each group of such words, keep the words of the
    page with the most confident letters there (sum of squared confidence x letters, so that a
    long unsure reading does not win on length alone): `COMES` beats the `ES` inside it and two
    sure words beat one unsure word across both."""
    group = list(range(len(words)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    def page(word: Word) -> int:
        return word.segment[0]

    pages = sorted({page(w) for w in words})
    for a, b in itertools.combinations(pages, 2):
        first = [i for i, w in enumerate(words) if page(w) == a]
        second = [i for i, w in enumerate(words) if page(w) == b]
        for i, j in zip(*np.nonzero(_same_place(words, first, second, overlap)), strict=True):
            group[root(first[i])] = root(second[j])
    score: dict[tuple[int, int], float] = {}
    for i, word in enumerate(words):
        key = (root(i), page(word))
        score[key] = score.get(key, 0.0) + (word.confidence / 100) ** 2 * word.letters
    best: dict[int, tuple[float, int]] = {}
    for (g, p), value in score.items():
        best[g] = max(best.get(g, (value, p)), (value, p))
    return [word for i, word in enumerate(words) if best[root(i)][1] == page(word)]


def _same_place(words: list[Word], first: list[int], second: list[int], overlap: float):
    """Boolean matrix: does word `first[i]` share more than `overlap` of the smaller box with
    word `second[j]`?"""
    a = np.array([_box(words[i]) for i in first], dtype=np.float32).reshape(-1, 4)
    b = np.array([_box(words[j]) for j in second], dtype=np.float32).reshape(-1, 4)
    across = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    down = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    shared = np.clip(across, 0, None) * np.clip(down, 0, None)
    area_a = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1)
    area_b = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1)
    return shared > overlap * np.minimum(area_a[:, None], area_b[None, :])


def _box(word: Word) -> tuple[int, int, int, int]:
    return word.left, word.top, word.right, word.bottom
