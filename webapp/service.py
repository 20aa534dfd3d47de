"""What the app's events and API endpoints do, as plain values.

`app.py` wires the page to these functions: OCR a caption (`read_caption`), score a meme and
explain it (`MemeService`), turning the library's results into what the page's components show
(label dicts, highlighted words, modality shares, notes). Input the model cannot use becomes an
`InputError` (see `webapp.inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from memesent.images import ImageInput
from memesent.ocr import OCRError, OCRTimeoutError, TesseractNotFoundError, extract_caption
from memesent.predictor import Predictor
from memesent.quality import shift_sentence

from .inputs import MAX_CAPTION_CHARS, check_caption, open_meme

OCR_TIMEOUT = 10.0  # seconds
MODEL_THREADS = 2  # torch threads for each model call (calls take turns inside `Predictor`)

LabelDict = dict[str, float]


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
    """One loaded `Predictor` serving many requests (its calls take turns: explanations hook
    into the backbones' layers); each call uses at most `MODEL_THREADS` torch threads, both
    cores of a small machine."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

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
        result = self.predictor.predict(open_meme(image), check_caption(caption))
        return PredictionView(
            levels=result.probs,
            summary=result.probs3,
            typical=result.base_rates,
            shift_note=shift_sentence(result.shift),
        )

    def explain(self, image: ImageInput | None, caption: str | None) -> ExplanationView:
        """Why the model predicts its level: heat map over the meme, word scores, modality."""
        found = self.predictor.explain(open_meme(image), check_caption(caption))
        return ExplanationView(
            overlay=found.overlay,
            words=[(word, round(score, 4)) for word, score in found.words],
            modality=dict(found.modality),
        )


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
