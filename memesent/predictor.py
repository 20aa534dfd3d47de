"""`Predictor`: the backbones and a trained head, loaded once, scoring memes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .backbones import (
    IMAGE_SPECS,
    TEXT_SPECS,
    ImageEncoder,
    TextEncoder,
    load_image_encoder,
    load_text_encoder,
)
from .captions import clean_caption
from .checkpoint import DEFAULT_MODEL_DIR, check_backbones, load_checkpoint
from .encoded import MemeFeatures
from .images import ImageInput, load_image
from .labels import LABELS, LABELS3, collapse
from .model import MemeHead

if TYPE_CHECKING:
    from .explain import Explanation


@dataclass(frozen=True)
class Prediction:
    """One meme's sentiment: the most likely level, the calibrated distribution over levels, and
    the base rates (each level's share of the training memes: what a typical meme gets)."""

    label: str
    probs: dict[str, float]
    probs3: dict[str, float]
    base_rates: dict[str, float]

    @property
    def shift(self) -> float:
        """How far this meme's answer is from a typical meme's: the total variation distance
        between `probs` and `base_rates`, from 0 (the same) to 1 (no level in common)."""
        return 0.5 * sum(abs(self.probs[k] - self.base_rates[k]) for k in self.probs)

    @property
    def label3(self) -> str:
        """The most likely of negative / neutral / positive."""
        return max(LABELS3, key=self.probs3.__getitem__)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "label3": self.label3,
            "probs": self.probs,
            "probs3": self.probs3,
            "base_rates": self.base_rates,
            "shift": self.shift,
        }


class Predictor:
    """Scores memes with a trained head on top of its frozen text and image backbones."""

    def __init__(
        self, head: MemeHead, text_encoder: TextEncoder, image_encoder: ImageEncoder
    ) -> None:
        check_backbones(head.config, text_encoder.spec, image_encoder.spec)
        self.head = head.eval()
        self.text_encoder = text_encoder.eval()
        self.image_encoder = image_encoder.eval()
        # explain hooks into the backbones' layers and the tokenizer switches its settings, so
        # calls from several threads take turns
        self._lock = threading.RLock()

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        text_backbone: str | None = None,
        image_backbone: str | None = None,
    ) -> Predictor:
        """Load a model folder (default: the shipped `assets/model/`) and the backbones it names.

        Naming other backbones than the ones the model was trained on raises `CheckpointError`.
        """
        head = load_checkpoint(path or DEFAULT_MODEL_DIR)
        text_name = text_backbone or head.config.text.name
        image_name = image_backbone or head.config.image.name
        if text_name in TEXT_SPECS and image_name in IMAGE_SPECS:
            check_backbones(head.config, TEXT_SPECS[text_name], IMAGE_SPECS[image_name])
        return cls(head, load_text_encoder(text_name), load_image_encoder(image_name))

    @torch.inference_mode()
    def predict_batch(
        self, images: Sequence[ImageInput], captions: Sequence[str], batch_size: int = 32
    ) -> list[Prediction]:
        """Score many memes; the same numbers as `predict` on each, computed in batches of
        `batch_size` (captions of similar length together, pictures decoded a batch at a time)."""
        if len(images) != len(captions):
            raise ValueError(f"got {len(images)} images but {len(captions)} captions")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        texts = [clean_caption(c) for c in captions]
        with self._lock:
            text = self.text_encoder.encode(texts, batch_size) if texts else None
        out: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            pics = [load_image(im) for im in images[start : start + batch_size]]
            with self._lock:
                logp = self.head(text[start : start + batch_size], self.image_encoder.encode(pics))
            out.extend(self._prediction(row) for row in logp.exp())
        return out

    @property
    def base_rates(self) -> dict[str, float]:
        """Each level's share of the memes the model was trained on: a typical meme's answer."""
        return dict(zip(LABELS, self.head.config.base_rates, strict=True))

    def _prediction(self, probs: torch.Tensor) -> Prediction:
        p = {label: float(v) for label, v in zip(LABELS, probs.tolist(), strict=True)}
        p3 = dict(zip(LABELS3, collapse(probs.numpy()).tolist(), strict=True))
        return Prediction(
            label=max(LABELS, key=p.__getitem__), probs=p, probs3=p3, base_rates=self.base_rates
        )

    def predict(self, image: ImageInput, caption: str = "") -> Prediction:
        """Score one meme: `image` is a PIL image, a path or bytes; `caption` may be empty."""
        return self.predict_batch([image], [caption])[0]

    @torch.inference_mode()
    def encode(self, image: ImageInput, caption: str = "") -> MemeFeatures:
        """One meme through both backbones, once: what `predict_features` and
        `explain_features` take (the app scores and explains a meme from one pass)."""
        picture, text = load_image(image), clean_caption(caption)
        with self._lock:
            pixels = self.image_encoder.preprocess(picture).unsqueeze(0)
            return MemeFeatures(
                picture=picture,
                caption=text,
                text=self.text_encoder.encode([text]),
                feature_map=self.image_encoder.feature_map(pixels),
            )

    @torch.inference_mode()
    def predict_features(self, features: MemeFeatures) -> Prediction:
        """`predict`'s answer from a meme's `encode`d features."""
        with self._lock:
            logp = self.head(features.text, features.image)
        return self._prediction(logp.exp()[0])

    def explain(
        self, image: ImageInput, caption: str = "", target: str | None = None
    ) -> Explanation:
        """Why the model answers as it does: picture heat map, word scores, modality shares.

        `target` is a level of `LABELS` to explain instead of the predicted one.
        """
        return self.explain_features(self.encode(image, caption), target)

    def explain_features(self, features: MemeFeatures, target: str | None = None) -> Explanation:
        """`explain` from a meme's `encode`d features: the image backbone does not run again
        (Grad-CAM follows the cached feature map through the head)."""
        from .explain import explain

        with self._lock:
            return explain(self.head, self.text_encoder, features, target)
