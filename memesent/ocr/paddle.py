"""The PP-OCR engine of caption OCR: Baidu's PP-OCRv4 detector and recogniser on onnxruntime.

The models are the ONNX files inside the `rapidocr` wheel (Apache-2.0; 3.7.0, its last release
that carries PP-OCRv4, byte for byte the files `rapidocr-onnxruntime` 1.4.4 had), so nothing is
downloaded. `read_words`:

1. finds text lines anywhere in the picture with the DB text detector, at most
   `detection_side` pixels a side (pictures are never enlarged for it: that only finds more
   texture in photos), using RapidOCR's DB post-processing;
2. cuts each line out of the picture at its own resolution and reads it with the CTC
   recogniser, a few lines per model call;
3. puts back the spaces the recogniser loses. It was trained mostly on Chinese, where lines have
   no spaces, so between English words it usually emits a blank rather than its space character,
   but the space character still gets some probability there: a blank column where it gets at
   least `space_probability` is a word break. Decoding is limited to the characters of English
   text (ASCII and Latin-1), and words are NFKC-normalised (full-width commas become commas);
4. gives each word its mean character probability as confidence (0-100) and a box from the
   columns where its characters were read.

A call past its deadline is stopped inside onnxruntime (`RunOptions.terminate`).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import OCRError, OCRTimeoutError, PPOCRNotFoundError
from .words import Word, confident

PACKAGE = "rapidocr"
DETECTOR = "ch_PP-OCRv4_det_infer.onnx"
RECOGNISER = "ch_PP-OCRv4_rec_infer.onnx"
LINE_HEIGHT = 48  # pixels: the recogniser's input height
MIN_RATIO = 320 / 48  # a recogniser call is at least this wide for its height (PP-OCR's shape)


@dataclass(frozen=True)
class PPOCRSettings:
    """Tuning of the PP-OCR engine; defaults set on MultiOFF memes (docs/ocr.md)."""

    detection_side: int = 960  # the detector sees the picture scaled down to at most this
    text_threshold: float = 0.3  # detector probability for a pixel to count as text (DB)
    box_threshold: float = 0.5  # mean detector probability a line's box needs
    unclip_ratio: float = 1.6  # how far a line's box is grown around its text (PP-OCR's value)
    space_probability: float = 0.02  # a blank column with this much space probability splits
    # a word with 1, 2, 3, 4, 5+ letters or digits needs this mean character probability x 100
    min_confidence: tuple[float, ...] = (92, 84, 76, 68, 60)
    lines_per_call: int = 3  # lines read per recogniser call (sorted by width: little padding)
    threads: int = 1  # onnxruntime threads per call (the app runs two calls at once on 2 cores)


def available() -> bool:
    """Whether onnxruntime and the PP-OCR model files are installed."""
    try:
        return all(path.is_file() for path in _model_paths())
    except PPOCRNotFoundError:
        return False


def _model_paths() -> tuple[Path, Path]:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None or importlib.util.find_spec("onnxruntime") is None:
        raise PPOCRNotFoundError()
    models = Path(spec.origin).parent / "models"
    return models / DETECTOR, models / RECOGNISER


class _Models:
    """The two onnxruntime sessions, the recogniser's alphabet and the DB post-processing."""

    def __init__(self, threads: int) -> None:
        import onnxruntime

        detector, recogniser = _model_paths()
        if not (detector.is_file() and recogniser.is_file()):
            raise PPOCRNotFoundError()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting worker threads: the CPU goes to other requests and to tesseract
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        cpu = ["CPUExecutionProvider"]
        self.detector = onnxruntime.InferenceSession(str(detector), options, providers=cpu)
        self.recogniser = onnxruntime.InferenceSession(str(recogniser), options, providers=cpu)
        metadata = self.recogniser.get_modelmeta().custom_metadata_map
        # CTC classes: blank, the model's characters, then the space
        self.characters = ["", *metadata["character"].splitlines(), " "]
        self.space = len(self.characters) - 1
        self.english = np.array([_is_english(c) for c in self.characters])
        self.english[0] = True

    def run(self, session: Any, batch: np.ndarray, options: Any) -> np.ndarray:
        """One model call. onnxruntime's own failures (its errors derive from Exception alone)
        become `OCRTimeoutError` when the deadline stopped it (`_stopped_at`), else `OCRError`;
        anything raised around the model calls is memesent's and stays as it is."""
        try:
            return session.run(None, {session.get_inputs()[0].name: batch}, options)[0]
        except Exception as err:  # onnxruntime's errors: see above
            if options.terminate:
                raise OCRTimeoutError("OCR took longer than the time allowed") from err
            raise OCRError(f"PP-OCR failed: {err}") from err


def _is_english(character: str) -> bool:
    """ASCII and Latin-1 letters, digits and punctuation, and typographic quotes and dashes."""
    return len(character) == 1 and (
        " " <= character <= "~" or "\u00a1" <= character <= "\u00ff" or character in "‘’“”–—…"
    )


@functools.lru_cache(maxsize=2)
def _models(threads: int) -> _Models:
    """Loaded once per process and thread count (about half a second); sessions are safe to
    share between threads."""
    return _Models(threads)


_LOAD_LOCK = threading.Lock()


def read_words(picture: Image.Image, settings: PPOCRSettings, deadline: float) -> list[Word]:
    """The confident words of an RGB picture, in its pixels, each detected line its own segment.

    Raises `PPOCRNotFoundError` when the models or onnxruntime are missing and `OCRTimeoutError`
    when `time.monotonic()` passes `deadline`."""
    with _LOAD_LOCK:
        models = _models(settings.threads)
    bgr = np.ascontiguousarray(np.asarray(picture.convert("RGB"))[:, :, ::-1])
    with _stopped_at(deadline) as options:
        boxes = _detect(models, bgr, settings, options)
        lines = [line for box in boxes if (line := _Line.cut(bgr, box)) is not None]
        words = _recognise(models, lines, settings, options)
    return [w for w in words if confident(w, settings.min_confidence)]


@contextmanager
def _stopped_at(deadline: float) -> Iterator[Any]:
    """onnxruntime run options whose terminate flag a timer sets at `deadline`: the model call
    it stops becomes `OCRTimeoutError` (`_Models.run`)."""
    import onnxruntime

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OCRTimeoutError("OCR ran out of time before PP-OCR started")
    options = onnxruntime.RunOptions()
    timer = threading.Timer(remaining, setattr, (options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        yield options
    finally:
        timer.cancel()


def _detect(
    models: _Models, bgr: np.ndarray, settings: PPOCRSettings, options: Any
) -> list[np.ndarray]:
    """Line boxes (4 corners each, picture pixels), top to bottom."""
    import cv2
    from rapidocr.ch_ppocr_det.utils import DBPostProcess

    height, width = bgr.shape[:2]
    ratio = min(1.0, settings.detection_side / max(height, width))
    size = (max(32, round(width * ratio / 32) * 32), max(32, round(height * ratio / 32) * 32))
    batch = (cv2.resize(bgr, size).astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
    probabilities = models.run(models.detector, batch, options)
    post = DBPostProcess(
        thresh=settings.text_threshold,
        box_thresh=settings.box_threshold,
        unclip_ratio=settings.unclip_ratio,
        use_dilation=True,
        score_mode="fast",
    )
    boxes, _ = post(probabilities, (height, width))
    return sorted(boxes, key=lambda box: (box[:, 1].min(), box[:, 0].min()))


@dataclass
class _Line:
    """A detected line: its box's bounds in picture pixels and its straightened crop (turned a
    quarter when the line runs down the picture)."""

    left: float
    top: float
    right: float
    bottom: float
    crop: np.ndarray
    vertical: bool

    @classmethod
    def cut(cls, bgr: np.ndarray, box: np.ndarray) -> _Line | None:
        """The line in `box` (4 corners), or None for a box too small to read."""
        import cv2

        corners = box.astype(np.float32)
        width = int(
            max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3]))
        )
        height = int(
            max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2]))
        )
        if width < 4 or height < 4:
            return None
        target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
        crop = cv2.warpPerspective(
            bgr,
            cv2.getPerspectiveTransform(corners, target),
            (width, height),
            borderMode=cv2.BORDER_REPLICATE,
            flags=cv2.INTER_CUBIC,
        )
        vertical = height >= 1.5 * width
        (left, top), (right, bottom) = corners.min(axis=0), corners.max(axis=0)
        return cls(left, top, right, bottom, np.rot90(crop) if vertical else crop, vertical)

    def word(
        self, text: str, confidence: float, span: tuple[float, float], segment: int, grown: float
    ) -> Word:
        """A word of this line read between `span` (fractions of the crop's width), with a box
        in picture pixels: down, the text's height within the line's box, which the detector
        grew by about `grown` text heights; a vertical line's words get the line's whole box."""
        if self.vertical:
            box = self.left, self.top, self.right - self.left, self.bottom - self.top
        else:
            across = self.right - self.left
            start, end = self.left + span[0] * across, self.left + span[1] * across
            text_height = (self.bottom - self.top) / (1 + grown)
            top = (self.top + self.bottom - text_height) / 2
            box = start, top, end - start, text_height
        left, top, width, height = (round(float(v)) for v in box)
        return Word(text, confidence, left, top, max(1, width), max(1, height), (0, segment))


def _recognise(
    models: _Models, lines: list[_Line], settings: PPOCRSettings, options: Any
) -> list[Word]:
    """Read every line, a few per call in order of width (a call's lines are padded to its
    widest); words of line i get segment (0, i)."""
    import cv2

    ratios = [line.crop.shape[1] / line.crop.shape[0] for line in lines]
    order = np.argsort(ratios, kind="stable")
    words: list[Word] = []
    for start in range(0, len(order), settings.lines_per_call):
        chunk = order[start : start + settings.lines_per_call]
        width = math.ceil(LINE_HEIGHT * max(MIN_RATIO, max(ratios[i] for i in chunk)))
        batch = np.zeros((len(chunk), 3, LINE_HEIGHT, width), dtype=np.float32)
        filled = []
        for row, i in enumerate(chunk):
            resized = min(width, math.ceil(LINE_HEIGHT * ratios[i]))
            pixels = cv2.resize(lines[i].crop, (resized, LINE_HEIGHT)).astype(np.float32)
            batch[row, :, :, :resized] = (pixels / 127.5 - 1.0).transpose(2, 0, 1)
            filled.append(resized)
        probabilities = models.run(models.recogniser, batch, options)
        for row, i in enumerate(chunk):
            # output columns over the part of the input this line fills
            columns = probabilities.shape[1] * filled[row] / width
            for text, confidence, first, last in _decode(models, probabilities[row], settings):
                span = (first / columns, min(1.0, (last + 1) / columns))
                words.append(lines[i].word(text, confidence, span, int(i), settings.unclip_ratio))
    return words


def _decode(
    models: _Models, probabilities: np.ndarray, settings: PPOCRSettings
) -> list[tuple[str, float, int, int]]:
    """Greedy CTC decoding over the English characters, with a word break at the recogniser's
    spaces and at blank columns whose space probability reaches `space_probability`: (word,
    mean character probability x 100, first column, last column)."""
    english = probabilities[:, models.english]
    classes = np.flatnonzero(models.english)[english.argmax(axis=1)]
    best = english.max(axis=1)
    found: list[tuple[str, float, int, int]] = []
    current: list[tuple[str, float, int]] = []

    def close() -> None:
        if current:
            text = unicodedata.normalize("NFKC", "".join(c for c, _, _ in current)).strip()
            if text:
                mean = 100 * sum(p for _, p, _ in current) / len(current)
                found.append((text, mean, current[0][2], current[-1][2]))
            current.clear()

    previous = -1
    for column, (index, probability) in enumerate(zip(classes, best, strict=True)):
        if index == models.space:
            close()
        elif index == 0:
            if probabilities[column, models.space] >= settings.space_probability:
                close()
        elif index != previous:
            current.append((models.characters[index], float(probability), column))
        previous = index
    close()
    return found
