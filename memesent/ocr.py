"""Caption OCR for memes: a first guess at the caption that the person then corrects.

Plain `pytesseract.image_to_string` misses the classic white captions with a black outline on
busy photos and much of the small print of screenshots. `extract_caption`:

1. scales the picture so that its long side is about 1200 px (small memes up to 2x, large ones
   down to half), which brings caption and screenshot text into the size range tesseract reads;
2. makes two pages: the grey picture, which tesseract binarises itself (dark text on light
   panels), and a hard mask of the near-white, unsaturated pixels (the caption fill of classic
   memes) drawn as black text on white;
3. reads both pages in one tesseract run (a two-page TIFF, so the model loads once) in sparse-text
   mode, which gives every word with its box and confidence;
4. reads a `|` between words as I, drops unconfident words (the shorter the word, the more
   confidence it needs: one-letter noise) and symbol-only tokens, keeps one reading where the
   pages overlap (the page with more confident letters there), joins the words into lines from
   top to bottom and drops watermarks such as `imgflip.com`.
"""

from __future__ import annotations

import functools
import itertools
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytesseract
from PIL import Image, ImageChops

from memesent.images import load_image

INSTALL_HINT = (
    "OCR needs the tesseract program: apt-get install tesseract-ocr (or brew install tesseract)"
)


class OCRError(RuntimeError):
    """OCR could not read the picture."""


class TesseractNotFoundError(OCRError):
    """The tesseract program is not installed (or not where pytesseract looks)."""

    def __init__(self, message: str = INSTALL_HINT) -> None:
        super().__init__(message)


class OCRTimeoutError(OCRError):
    """OCR took longer than the time allowed."""


@dataclass
class Caption:
    """Text read from a meme: `lines` top to bottom, `text` the lines joined by newlines, and
    `confidence` the mean tesseract confidence of the kept words in [0, 1] (0.0 when empty)."""

    text: str = ""
    confidence: float = 0.0
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OCRSettings:
    """Tuning of `extract_caption`; defaults set on MultiOFF memes (README: Caption OCR)."""

    long_side: int = 1200  # scale the picture so that its long side is about this many pixels
    min_scale: float = 0.5
    max_scale: float = 2.0
    max_side: int = 2400  # never hand tesseract a page larger than this
    white_level: int = 200  # darkest channel of a caption-white pixel is at least this
    white_spread: int = 60  # and its channels differ by at most this (unsaturated)
    min_white_fraction: float = 0.001  # skip the white-text page when less of the picture is white
    # a word with 1, 2, 3, 4, 5+ letters or digits needs at least this tesseract confidence
    min_confidence: tuple[float, ...] = (85, 75, 60, 50, 40)
    page_segmentation: int = 11  # sparse text: captions are scattered over the picture
    overlap: float = 0.3  # words on both pages are one word when their boxes share this much


DEFAULT_SETTINGS = OCRSettings()

_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
_WATERMARK = re.compile(
    r"imgflip|imgur|memegenerator|mematic|quickmeme|makeameme|memecrunch|livememe|ifunny"
    r"|9gag|memedroid|memecenter|imgplay",
    re.IGNORECASE,
)
_MADE_WITH = {"made", "on", "with", "at", "via", "by"}


@dataclass
class _Word:
    text: str
    confidence: float
    left: int
    top: int
    width: int
    height: int
    line: tuple[int, int, int, int] = (1, 0, 0, 0)  # tesseract's page, block, paragraph, line

    @property
    def page(self) -> int:
        return self.line[0]

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


def tesseract_available() -> bool:
    """Whether the tesseract program pytesseract points at can run (cached per program path),
    so that the app can hide OCR instead of failing."""
    return _can_run(str(pytesseract.pytesseract.tesseract_cmd))


@functools.lru_cache(maxsize=8)
def _can_run(command: str) -> bool:
    try:
        done = subprocess.run([command, "--version"], check=False, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def extract_caption(
    image: Image.Image | str | Path,
    timeout: float = 10.0,
    settings: OCRSettings = DEFAULT_SETTINGS,
) -> Caption:
    """Read the caption of a meme (PIL image or path).

    Raises `TesseractNotFoundError` when the tesseract program is missing and `OCRTimeoutError`
    when the whole call takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    picture = load_image(image)
    scale = _scale(picture.size, settings)
    if scale != 1.0:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        resample = Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BOX
        picture = picture.resize(size, resample)
    pages = [picture.convert("L")]
    white_text = _white_text_page(picture, settings)
    if white_text is not None:
        pages.append(white_text)
    words = _bars_as_i(_read_words(pages, settings, deadline), settings)
    words = [w for w in words if _confident(w, settings)]
    lines = [_without_watermarks(line) for line in _lines(_merge_pages(words, settings.overlap))]
    lines = [line for line in lines if line]
    if not lines:
        return Caption()
    kept = [word for line in lines for word in line]
    confidence = sum(w.confidence for w in kept) / len(kept) / 100
    texts = [" ".join(w.text for w in line) for line in lines]
    return Caption("\n".join(texts), round(min(1.0, max(0.0, confidence)), 4), texts)


def _scale(size: tuple[int, int], settings: OCRSettings) -> float:
    long_side = max(size)
    scale = min(settings.max_scale, max(settings.min_scale, settings.long_side / long_side))
    scale = min(scale, settings.max_side / long_side)
    return 1.0 if abs(scale - 1.0) < 0.05 else scale


def _white_text_page(picture: Image.Image, settings: OCRSettings) -> Image.Image | None:
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


def _read_words(pages: list[Image.Image], settings: OCRSettings, deadline: float) -> list[_Word]:
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
                _Word(
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


def _bars_as_i(words: list[_Word], settings: OCRSettings) -> list[_Word]:
    """A confident `|` on a line with other words is the letter I (a frequent misreading of
    capital I in captions); elsewhere it is a separator or an edge and goes as a symbol."""
    has_words = {w.line for w in words if w.letters >= 2 and _confident(w, settings)}
    for word in words:
        if word.text == "|" and word.line in has_words:
            word.text = "I"
    return words


def _confident(word: _Word, settings: OCRSettings) -> bool:
    """Enough confidence for its length, and at least one letter or digit."""
    if word.letters == 0:
        return False
    thresholds = settings.min_confidence
    return word.confidence >= thresholds[min(word.letters, len(thresholds)) - 1]


def _merge_pages(words: list[_Word], overlap: float) -> list[_Word]:
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

    pages = sorted({w.page for w in words})
    for a, b in itertools.combinations(pages, 2):
        first = [i for i, w in enumerate(words) if w.page == a]
        second = [i for i, w in enumerate(words) if w.page == b]
        for i, j in zip(*np.nonzero(_same_place(words, first, second, overlap)), strict=True):
            group[root(first[i])] = root(second[j])
    score: dict[tuple[int, int], float] = {}
    for i, word in enumerate(words):
        key = (root(i), word.page)
        score[key] = score.get(key, 0.0) + (word.confidence / 100) ** 2 * word.letters
    best: dict[int, tuple[float, int]] = {}
    for (g, page), value in score.items():
        best[g] = max(best.get(g, (value, page)), (value, page))
    return [word for i, word in enumerate(words) if best[root(i)][1] == word.page]


def _same_place(words: list[_Word], first: list[int], second: list[int], overlap: float):
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


def _box(word: _Word) -> tuple[int, int, int, int]:
    return word.left, word.top, word.right, word.bottom


class _Row:
    """Words on one row, left to right, with the row's median centre and height and its extent."""

    def __init__(self, words: list[_Word]) -> None:
        self.words = sorted(words, key=lambda w: w.left)
        self.centre = float(np.median([w.centre for w in words]))
        self.height = float(np.median([w.height for w in words]))
        self.left = min(w.left for w in words)
        self.right = max(w.right for w in words)


def _lines(words: list[_Word]) -> list[list[_Word]]:
    """Tesseract's lines, joined where lines of different pages continue each other (same row,
    less than two text heights apart), top to bottom. Rows are compared by the median centre
    and height of their words, which specks caught in one word's box do not move."""
    segments: dict[tuple[int, int, int, int], list[_Word]] = {}
    for word in words:
        segments.setdefault(word.line, []).append(word)
    rows: list[_Row] = []
    for segment in sorted((_Row(s) for s in segments.values()), key=lambda r: r.centre):
        joined = False
        for i in reversed(range(len(rows))):
            row = rows[i]
            height = max(segment.height, row.height)
            if segment.centre - row.centre > 2 * height:
                break
            gap = max(segment.left - row.right, row.left - segment.right)
            same_row = abs(segment.centre - row.centre) <= 0.5 * min(segment.height, row.height)
            if same_row and gap <= 2 * height:
                rows[i] = _Row(row.words + segment.words)
                joined = True
                break
        if not joined:
            rows.append(segment)
    rows.sort(key=lambda r: (r.centre - r.height / 2, r.left))
    return [row.words for row in rows]


def _without_watermarks(line: list[_Word]) -> list[_Word]:
    """The line without watermarks (`imgflip.com`, `made on imgur`)."""
    kept: list[_Word] = []
    for word in line:
        if _WATERMARK.search(word.text):
            while kept and kept[-1].text.lower() in _MADE_WITH:
                kept.pop()
        else:
            kept.append(word)
    return kept
