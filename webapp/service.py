"""What the app's events and API endpoints do, as plain values.

`app.py` wires the page to these functions: OCR a caption (`read_caption`), score a meme,
explain it and store a person's correction of it (`MemeService`), turning the library's results
into what the page's components show (label dicts, highlighted words, modality shares, notes).
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
from memesent.quality import shift_sentence

from .corrections import CorrectionError, CorrectionStore
from .inputs import MAX_CAPTION_CHARS, OCR_SIDE, InputError, check_caption, open_meme

OCR_TIMEOUT = 10.0  # seconds
CACHE_SIZE = 32  # memes whose features are kept: about 1 MB each (picture and feature map)
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
    """A prediction as the page shows it: `levels` (five), `summary` (three), `typical` (a
    typical meme's levels: the training base rates) and `shift_note`, a sentence on how much
    the answer depends on this meme (shown with the explanations)."""

    levels: LabelDict
    summary: LabelDict
    typical: LabelDict
    shift_note: str


@dataclass(frozen=True)
class ExplanationView:
    """An explanation as the page shows it.

    `overlay`: the heat map over the meme; `words`: the caption's words with their scores in
    [-1, 1], for `gr.HighlightedText`; `modality`: the caption's (`text`) and the picture's
    (`image`) shares of the decision, or `UNDETERMINED` when neither moves it. All explain the
    predicted level.
    """

    overlay: Image.Image
    words: list[tuple[str, float]]
    modality: LabelDict | str


class MemeService:
    """One loaded `Predictor` serving many requests (its calls take turns). With a
    `CorrectionStore`, people's corrections are kept too.

    Model calls run on one torch thread (`MODEL_THREADS`): measured through the app on 2 cores
    (`benchmarks.analyze`, `benchmarks.soak`; numbers in README), a second thread barely
    shortened an Analyze alone, and under load one thread served more answers, faster: the
    second one spends the processor time that OCR and the other requests need.

    "Analyze" asks for a prediction and then an explanation of the same meme: both come from one
    pass through the backbones, kept in a small cache of `MemeFeatures` (the `CACHE_SIZE` most
    recent memes, keyed by a digest of the picture's bytes and the caption).
    """

    def __init__(
        self,
        predictor: Predictor,
        corrections: CorrectionStore | None = None,
        model_version: str = "",
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.predictor = predictor
        self.corrections, self.model_version = corrections, model_version
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], MemeFeatures] = OrderedDict()
        self._cache_lock = threading.Lock()

    def features(self, image: ImageInput | None, caption: str | None) -> MemeFeatures:
        """The meme's features, from the cache or from one pass through the backbones."""
        text = check_caption(caption)
        key = (_digest(image), text)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self.predictor.encode(open_meme(image), text)
        with self._cache_lock:
            self._cache[key] = found
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, corrections: CorrectionStore | None = None
    ) -> MemeService:
        """Load the model in `model_dir` (default: the shipped one), cap torch's threads and
        the C library's memory arenas (see `limit_malloc_arenas`)."""
        limit_malloc_arenas()
        torch.set_num_threads(MODEL_THREADS)
        folder = model_dir or DEFAULT_MODEL_DIR
        return cls(Predictor.load(folder), corrections, model_version(folder))

    def warm_up(self) -> None:
        """Run one explanation on a blank meme, so that torch's one-time set-up is not paid by
        the first person's request."""
        self.explain(Image.new("RGB", (256, 256), "gray"), "warming up")

    def predict(self, image: ImageInput | None, caption: str | None) -> PredictionView:
        """The five levels' probabilities, the negative / neutral / positive summary, a typical
        meme's levels, and how far this meme moves the answer from it."""
        result = self.predictor.predict_features(self.features(image, caption))
        return PredictionView(
            levels=result.probs,
            summary=result.probs3,
            typical=result.base_rates,
            shift_note=shift_sentence(result.shift),
        )

    def explain(self, image: ImageInput | None, caption: str | None) -> ExplanationView:
        """Why the model predicts its level: heat map over the meme, word scores, modality."""
        found = self.predictor.explain_features(self.features(image, caption))
        return ExplanationView(
            overlay=found.overlay,
            words=[(word, round(score, 4)) for word, score in found.words],
            modality=UNDETERMINED if found.modality is None else dict(found.modality),
        )

    def correct(self, image: ImageInput | None, caption: str | None, level: str | None) -> str:
        """Store the level a person gives a meme (with what the model said); a short
        confirmation. Bad pictures, captions and levels are `InputError`s."""
        if self.corrections is None:
            raise InputError("Corrections are not switched on for this app.")
        if level not in LABELS:
            raise InputError(f"Pick the level you would give, one of: {', '.join(LABELS)}.")
        model_label = self.predictor.predict_features(self.features(image, caption)).label
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


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas. The web server answers from a pool of threads, and glibc gives
    busy threads arenas of their own (up to eight per core), each keeping the memory it once
    held: under load the app's resident memory grew more without the cap (`benchmarks.soak`,
    numbers in README). Elsewhere than glibc (no `mallopt`) nothing
    changes."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def _digest(image: ImageInput | None) -> str:
    """A digest of the picture as it came: the file's bytes, or an in-memory image's pixels.
    A missing or unreadable input gets its `InputError` from `open_meme`."""
    if isinstance(image, Image.Image):
        data = f"{image.mode}{image.size}".encode() + image.tobytes()
    else:
        try:
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
        needs = {"tesseract": "Tesseract", "ppocr": "PP-OCR (rapidocr-onnxruntime)"}[engine]
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
