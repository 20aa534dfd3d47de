"""What the app and its API do with an upload and a caption, as plain values.

The Gradio app (`app.py`) is a thin shell around this module: it reads a caption from a meme
(OCR), scores it and explains it, and turns the library's results into the plain values the
page's components show (label dicts, highlighted words, modality shares). Input the model cannot
use becomes an `InputError` whose message tells the person what to do; the app shows it as is.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .checkpoint import DEFAULT_MODEL_DIR
from .images import ImageInput, NotAnImageError, load_image
from .labels import LABELS
from .ocr import OCRError, OCRTimeoutError, TesseractNotFoundError, extract_caption
from .predictor import Predictor
from .quality import METRICS_FILE, HeldOutQuality, shift_sentence

MAX_CAPTION_CHARS = 1_000  # the text backbone reads 128 word pieces, about 500 characters
MIN_SIDE = 32  # pixels: below this a picture carries nothing the image backbone can see
MAX_SIDE = 1_024  # pixels: larger pictures are scaled down first, which keeps explain's maps small
OCR_TIMEOUT = 10.0  # seconds
MODEL_THREADS = 2  # torch threads; model calls run one at a time (see `MemeService`)
MODEL_CARD_FILE = "MODEL_CARD.md"

LabelDict = dict[str, float]


class InputError(ValueError):
    """Input the app cannot use; the message says what to do about it."""


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
    (`image`) shares of the decision. All explain the predicted level.
    """

    overlay: Image.Image
    words: list[tuple[str, float]]
    modality: LabelDict


class MemeService:
    """One loaded `Predictor` serving many requests.

    Model calls take a lock: explanations hook into the backbones' layers, so two requests must
    never run through the same model at once; with at most `MODEL_THREADS` torch threads each
    call still uses both cores of a small machine.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> MemeService:
        """Load the model in `model_dir` (default: the shipped one) and cap torch's threads."""
        torch.set_num_threads(min(MODEL_THREADS, torch.get_num_threads()))
        return cls(Predictor.load(model_dir))

    def warm_up(self) -> None:
        """Run one explanation on a blank meme, so that torch's one-time set-up is not paid by
        the first person's request."""
        self.explain(Image.new("RGB", (256, 256), "gray"), "warming up")

    def predict(self, image: ImageInput | None, caption: str | None) -> PredictionView:
        """The five levels' probabilities, the negative / neutral / positive summary, a typical
        meme's levels, and how far this meme moves the answer from it."""
        picture, text = open_meme(image), check_caption(caption)
        with self._lock:
            result = self.predictor.predict(picture, text)
        return PredictionView(
            levels=result.probs,
            summary=result.probs3,
            typical=result.base_rates,
            shift_note=shift_sentence(result.shift),
        )

    def explain(self, image: ImageInput | None, caption: str | None) -> ExplanationView:
        """Why the model predicts its level: heat map over the meme, word scores, modality."""
        picture, text = open_meme(image), check_caption(caption)
        with self._lock:
            found = self.predictor.explain(picture, text)
        return ExplanationView(
            overlay=found.overlay,
            words=[(word, round(score, 4)) for word, score in found.words],
            modality=dict(found.modality),
        )


def open_meme(image: ImageInput | None) -> Image.Image:
    """The meme as an RGB picture of at most `MAX_SIDE` pixels a side, or an `InputError`."""
    if image is None:
        raise InputError("Add a meme first: upload, drop or paste a picture.")
    _check_pixel_count(image)
    try:
        picture = load_image(image)
    except FileNotFoundError as err:
        raise InputError("The uploaded file is gone from the server; upload it again.") from err
    except NotAnImageError as err:
        if isinstance(err.__cause__, UnidentifiedImageError):
            raise InputError(
                "This file is not a picture memesent can read: "
                "use a PNG, JPEG, GIF, BMP, WebP or TIFF image."
            ) from err
        raise InputError(
            "This picture is damaged or incomplete (perhaps cut off while saving or uploading): "
            "open it in an image viewer, save it again and upload that."
        ) from err
    if min(picture.size) < MIN_SIDE:
        raise InputError(
            f"This picture is only {picture.width}×{picture.height} pixels; memesent needs at "
            f"least {MIN_SIDE}×{MIN_SIDE} to see anything in it."
        )
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    return picture


def _check_pixel_count(image: ImageInput) -> None:
    """Refuse pictures over Pillow's `MAX_IMAGE_PIXELS` before decoding them (decompression bombs
    would take minutes and gigabytes); unreadable files are left to `load_image` to report."""
    if isinstance(image, Image.Image):
        return
    too_large = InputError(
        f"This picture is too large to open safely (over {Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
        "million pixels): scale it down and upload it again."
    )
    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as header:
            pixels = header.width * header.height
    except Image.DecompressionBombError as err:
        raise too_large from err
    except (OSError, SyntaxError, ValueError):
        return
    if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:
        raise too_large


def check_caption(caption: str | None) -> str:
    """The caption without surrounding white space ("" allowed), or an `InputError` if too long."""
    text = (caption or "").strip()
    if len(text) > MAX_CAPTION_CHARS:
        raise InputError(
            f"The caption has {len(text):,} characters; memesent reads at most "
            f"{MAX_CAPTION_CHARS:,}. Keep the meme's own text and cut the rest."
        )
    return text


def read_caption(image: ImageInput | None) -> CaptionGuess:
    """OCR the meme's caption. OCR that is unavailable, too slow or finds nothing gives an empty
    caption and a note, never an error: the person types the caption instead."""
    picture = open_meme(image)
    try:
        found = extract_caption(picture, timeout=OCR_TIMEOUT)
    except TesseractNotFoundError:
        return CaptionGuess(
            "", "Reading captions needs Tesseract, which is not installed here: type the caption."
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


def model_summary(model_dir: str | Path | None = None) -> str:
    """One paragraph (Markdown) on what the model is and how far to trust it, every claim about
    this model taken from its folder's own `metrics.json`."""
    folder = Path(model_dir or DEFAULT_MODEL_DIR)
    intro = (
        "memesent guesses the overall sentiment of a meme from its picture and its caption, on "
        f"five levels ({', '.join(LABELS)}), and shows why."
    )
    quality = HeldOutQuality.load(folder)
    if quality is None:
        return (
            f"{intro} This model has no held-out measurements (`{METRICS_FILE}` in its folder), "
            "so nothing is known about how far to trust its answers."
        )
    return (
        f"{intro} {_training_data(folder)}\n\n**How far to trust it.** "
        f"{quality.trust_sentence()} See the [model card](#model-card) for its training and "
        "limits."
    )


def _training_data(folder: Path) -> str:
    try:
        data = json.loads((folder / METRICS_FILE).read_text())["data"]
        memes, folders = int(data["memes"]), ", ".join(data["folders"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"This model learnt from {memes:,} labelled memes ({folders})."


def model_card(model_dir: str | Path | None = None) -> str:
    """The model folder's `MODEL_CARD.md`, or a line saying it is not written yet."""
    path = Path(model_dir or DEFAULT_MODEL_DIR) / MODEL_CARD_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return f"This model has no model card yet (`{MODEL_CARD_FILE}` in its folder)."
