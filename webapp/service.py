"""What the app's events and API endpoints do, as plain values.

OCR a caption (`read_caption`), score a meme, explain it and store a person's correction of it
(`MemeService`), turning the library's results into what the page's components show (label
dicts, highlighted words, modality shares, notes); `webapp.events` puts them in Gradio's terms.
Input the model cannot use becomes an `InputError` (see `webapp.inputs`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from memesent.encoded import MemeFeatures
from memesent.images import ImageInput
from memesent.labels import LABELS
from memesent.model_files import DEFAULT_MODEL_DIR, model_version
from memesent.ocr import (
    DEFAULT_ENGINE,
    EngineMissingError,
    OCRError,
    OCRTimeoutError,
    extract_caption,
)
from memesent.predictor import Predictor
from memesent.quality import ReadingMargins, shift_sentence

from . import views
from .card import result_card
from .corrections import CorrectionError, CorrectionStore
from .inputs import MAX_CAPTION_CHARS, OCR_SIDE, InputError, check_caption, open_meme

OCR_TIMEOUT = 10.0  # seconds
CACHE_SIZE = 32  # pictures (and memes) whose features are kept: about 1 MB each
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter number
MODEL_THREADS = 1  # torch threads for model calls (see MemeService)

LabelDict = dict[str, float]
UNDETERMINED = "undetermined: neither the caption nor the picture moves this answer"


@dataclass(frozen=True)
class CaptionGuess:
    """What OCR read from a meme: `caption` (may be empty) and `note`, why it is empty, if it is."""

    caption: str
    note: str = ""


@dataclass(frozen=True)
class PredictionView:
    """A prediction as the page and the API show it: `levels` (five), `summary` (three),
    `typical` (a typical meme's levels: the base rates), `readings` (the words alone, the
    picture alone, both: None for a missing modality), `population` (which memes the
    probabilities are for, `Prediction.population`), `shift_note` (how much the answer
    depends on this meme), `disagreement` (a line when words and picture clearly point opposite
    ways, else None), and the page's HTML of the answer (`answer_html`) and of the readings
    (`readings_html`)."""

    levels: LabelDict
    summary: LabelDict
    typical: LabelDict
    readings: dict[str, LabelDict | None]
    population: str
    shift_note: str
    disagreement: str | None
    answer_html: str
    readings_html: str


@dataclass(frozen=True)
class ExplanationView:
    """An explanation as the page shows it.

    `overlay`: the heat map over the meme (None without a picture); `target`: the level it
    explains; `words`: the caption's words with their scores in [-1, 1] (positive: toward the
    positive side), for `gr.HighlightedText`, and `words_html`, the page's tinted words;
    `modality`: the caption's (`text`) and the picture's (`image`) shares of the explained
    level, or `UNDETERMINED` when neither moves it.
    """

    overlay: Image.Image | None
    target: str
    words: list[tuple[str, float]]
    words_html: str
    modality: LabelDict | str


class MemeService:
    """One loaded `Predictor` serving many requests (its calls take turns, in the order the
    app's queues give them: answers in one, explanations in the other). With a
    `CorrectionStore`, people's corrections are kept too; with `margins`, the page says when
    the words and the picture disagree.

    Model calls run on one torch thread (`MODEL_THREADS`): measured through the app on 2 cores
    (`benchmarks.analyze`, `benchmarks.soak`; docs/performance.md), a second thread barely
    shortened an Analyze alone, and under load one thread served more answers, faster: the
    second one spends the processor time that OCR and the other requests need.

    A picture goes through the image backbone once: its features are kept (the `cache_size`
    most recent pictures, keyed by a digest of its bytes), and each caption then costs only the
    text backbone (`Predictor.recaption`) — what lets the answer follow the caption as it is
    typed, and Analyze reuse the features its prediction computed.
    """

    def __init__(
        self,
        predictor: Predictor,
        corrections: CorrectionStore | None = None,
        model_version: str = "",
        cache_size: int = CACHE_SIZE,
        margins: ReadingMargins | None = None,
    ) -> None:
        self.predictor = predictor
        self.corrections, self.model_version = corrections, model_version
        self.cache_size, self.margins = cache_size, margins
        self._pictures: OrderedDict[str, MemeFeatures] = OrderedDict()
        self._memes: OrderedDict[tuple[str, str], MemeFeatures] = OrderedDict()
        self._cache_lock = threading.Lock()
        # The model's calls take turns: the app's two queues (answers, explanations) decide
        # which goes next, and each runs alone; run side by side, under load they slowed the
        # explanations more than they sped the answers (`benchmarks.soak`, docs/performance.md).
        self.model_turn = threading.Lock()

    def features(self, image: ImageInput | None, caption: str | None) -> MemeFeatures:
        """The meme's features: its picture's from the cache (or one pass through the image
        backbone), its caption through the text backbone. No picture: the words alone."""
        text = check_caption(caption)
        if image is None:
            if not text:
                raise InputError("Add a meme first: upload, drop or paste a picture.")
            with self.model_turn:
                return self.predictor.encode(None, text)
        digest = _digest(image)
        with self._cache_lock:
            found = _lookup(self._memes, (digest, text))
            picture = _lookup(self._pictures, digest)
        if found is not None:
            return found
        meme = open_meme(image) if picture is None else None
        with self.model_turn:
            if picture is None:
                picture = self.predictor.encode(meme, "")
            found = self.predictor.recaption(picture, text)
        with self._cache_lock:
            _store(self._pictures, digest, picture, self.cache_size)
            _store(self._memes, (digest, text), found, self.cache_size)
        return found

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, corrections: CorrectionStore | None = None
    ) -> MemeService:
        """Load the model in `model_dir` (default: the shipped one) and its measured reading
        margins, cap torch's threads and the C library's memory arenas (see
        `limit_malloc_arenas`)."""
        limit_malloc_arenas()
        torch.set_num_threads(MODEL_THREADS)
        folder = model_dir or DEFAULT_MODEL_DIR
        return cls(
            Predictor.load(folder),
            corrections,
            model_version(folder),
            margins=ReadingMargins.load(folder),
        )

    def warm_up(self) -> None:
        """Run one explanation on a blank meme, so that torch's one-time set-up is not paid by
        the first person's request."""
        self.explain(Image.new("RGB", (256, 256), "gray"), "warming up")

    def predict(self, image: ImageInput | None, caption: str | None) -> PredictionView:
        """The five levels' probabilities, the negative / neutral / positive summary, a typical
        meme's levels, the three readings, which memes the probabilities are for, how far this
        meme moves the answer, and the page's HTML of them."""
        features = self.features(image, caption)
        with self.model_turn:
            result = self.predictor.predict_features(features)
        disagreement = self.margins.disagreement(result.readings) if self.margins else None
        return PredictionView(
            levels=result.probs,
            summary=result.probs3,
            typical=result.base_rates,
            readings=result.readings,
            population=result.population,
            shift_note=shift_sentence(result.shift),
            disagreement=disagreement,
            answer_html=views.levels_html(result),
            readings_html=views.readings_html(result, disagreement),
        )

    def explain(self, image: ImageInput | None, caption: str | None) -> ExplanationView:
        """Why the model predicts its level: heat map over the meme, word scores, modality."""
        features = self.features(image, caption)
        with self.model_turn:
            found = self.predictor.explain_features(features)
        release_free_memory()
        words = [(word, round(score, 4)) for word, score in found.words]
        return ExplanationView(
            overlay=found.overlay,
            target=found.target,
            words=words,
            words_html=views.words_html(words),
            modality=UNDETERMINED if found.modality is None else dict(found.modality),
        )

    def card(
        self, image: ImageInput | None, caption: str | None, explained: ExplanationView
    ) -> Image.Image:
        """The result card to share (`webapp.card`): the meme, its caption, the verdict with the
        readings, and the heat map of `explained`, this meme's explanation (the costly part,
        which Analyze has just made)."""
        features = self.features(image, caption)
        with self.model_turn:
            result = self.predictor.predict_features(features)
        picture = features.picture or Image.new("RGB", (400, 400), (235, 235, 235))
        return result_card(picture, features.caption, result, explained.overlay, explained.target)

    def correct(self, image: ImageInput | None, caption: str | None, level: str | None) -> str:
        """Store the level a person gives a meme (with what the model said); a short
        confirmation. Bad pictures, captions and levels are `InputError`s."""
        if self.corrections is None:
            raise InputError("Corrections are not switched on for this app.")
        if level not in LABELS:
            raise InputError(f"Pick the level you would give, one of: {', '.join(LABELS)}.")
        if image is None:
            raise InputError("Add a meme first: upload, drop or paste a picture.")
        features = self.features(image, caption)
        with self.model_turn:
            model_label = self.predictor.predict_features(features).label
        text = check_caption(caption)
        try:
            saved = self.corrections.save(
                _file_bytes(image), text, level, model_label, self.model_version
            )
        except CorrectionError as err:
            raise InputError(str(err)) from err
        said = f"You said {level}; the model said {model_label}."
        kept = "Replaced your earlier correction of this meme." if saved.replaced else "Saved."
        held = f"{saved.count:,} correction{'s' if saved.count != 1 else ''}"
        return f"{kept} {said} This server holds {held}."


def _lookup(cache: OrderedDict[Any, MemeFeatures], key: Any) -> MemeFeatures | None:
    """A cache entry (moved to the recent end), or None."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    return None


def _store(cache: OrderedDict[Any, MemeFeatures], key: Any, value: MemeFeatures, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has `mallopt` and `malloc_trim`), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc's, absent elsewhere)
    except (OSError, AttributeError):
        return None
    return libc


GLIBC = _glibc()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas. The web server answers from a pool of threads, and glibc gives
    busy threads arenas of their own (up to eight per core), each keeping the memory it once
    held: under load the app's resident memory grew more without the cap (`benchmarks.soak`,
    docs/performance.md). Elsewhere than glibc nothing changes."""
    if GLIBC is not None:
        GLIBC.mallopt(M_ARENA_MAX, arenas)


def release_free_memory() -> None:
    """Hand the memory glibc keeps free back to the system (`malloc_trim`), after an
    explanation, the call that allocates the most: the app's memory returns to its level after
    a burst instead of staying at its peak. A few milliseconds; elsewhere than glibc, nothing."""
    if GLIBC is not None:
        GLIBC.malloc_trim(0)


def _digest(image: ImageInput | None) -> str:
    """A digest of the picture as it came: the file's bytes, or an in-memory image's pixels.
    A missing or unreadable input gets its `InputError` from `open_meme`."""
    if isinstance(image, Image.Image):
        data = f"{image.mode}{image.size}".encode() + image.tobytes()
    else:
        try:
            if image is None:
                raise TypeError("no picture")
            data = _file_bytes(image)
        except (OSError, TypeError):
            open_meme(image)  # raises the InputError that says what is wrong
            raise
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _file_bytes(image: ImageInput) -> bytes:
    """The uploaded file as it came (a path or bytes), or a PNG of an image given in memory."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    return Path(image).read_bytes()


def read_caption(image: ImageInput | None, engine: str = DEFAULT_ENGINE) -> CaptionGuess:
    """OCR the meme's caption with `engine` (one of `memesent.ocr.ENGINES`). OCR that is
    unavailable, too slow or finds nothing gives an empty caption and a note, never an error:
    the person types the caption instead."""
    picture = open_meme(image, OCR_SIDE)
    try:
        found = extract_caption(picture, timeout=OCR_TIMEOUT, engine=engine)
    except EngineMissingError:
        needs = {"tesseract": "Tesseract", "ppocr": "PP-OCR (rapidocr)"}[engine]
        return CaptionGuess(
            "", f"Reading captions needs {needs}, which is not installed here: type the caption."
        )
    except OCRTimeoutError:
        return CaptionGuess(
            "",
            f"Reading the caption took over {OCR_TIMEOUT:.0f} s and was stopped: type the caption.",
        )
    except OCRError as err:
        return CaptionGuess("", f"The caption could not be read ({err}): type it.")
    text = found.text.strip()
    if not text:
        return CaptionGuess(
            "",
            "No caption text found in the picture: type it, or leave it "
            "empty to judge the picture alone.",
        )
    return CaptionGuess(text[:MAX_CAPTION_CHARS])
