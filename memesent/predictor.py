"""`Predictor`: the backbones and a trained head, loaded once, scoring memes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from .checkpoint import DEFAULT_MODEL_DIR, check_backbones, load_model_weights
from .encoded import MemeFeatures
from .errors import NothingToScoreError
from .images import ImageInput, load_image
from .labels import LABELS, LABELS3, collapse
from .model import READINGS, MemeHead, ModelConfig
from .tuning import merge_lora

if TYPE_CHECKING:
    from .explain import Explanation

Distribution = dict[str, float]


@dataclass(frozen=True)
class Prediction:
    """One meme's sentiment: the most likely level, the calibrated distribution over levels,
    the base rates (what a typical meme gets: the mean answer over the memes the model is
    calibrated on), the three `readings`: the words alone, the picture alone and both
    together (`probs`), and `population`: which memes the probabilities are for (those the
    model was calibrated on, or the label shares it was shifted to). A reading of a modality
    the meme lacks is None; a meme with one modality is read by the one it has."""

    label: str
    probs: Distribution
    probs3: Distribution
    base_rates: Distribution
    readings: dict[str, Distribution | None]
    population: str

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
            "readings": self.readings,
            "population": self.population,
        }


def population_of(config: ModelConfig) -> str:
    """Which memes a model's probabilities are for: what its config records, or a sentence
    saying that it records nothing."""
    return config.base_rates_of or "not recorded in this model's folder"


class Predictor:
    """Scores memes with a trained head on top of its text and image backbones (the text
    backbone with the model's tuned adapters merged in, when it has them)."""

    def __init__(
        self, head: MemeHead, text_encoder: TextEncoder, image_encoder: ImageEncoder
    ) -> None:
        check_backbones(head.config, text_encoder.spec, image_encoder.spec)
        self.head = head.eval()
        self.text_encoder = text_encoder.eval()
        self.image_encoder = image_encoder.eval()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Predictor:
        """Load a model folder (default: the shipped `assets/model/`) and the backbones it names.

        A model whose backbones or preprocessing differ from this memesent's raises
        `CheckpointError` before any backbone loads; an unknown backbone, `BackboneError`.
        """
        head, adapter = load_model_weights(path or DEFAULT_MODEL_DIR)
        config = head.config
        text_name, image_name = config.text.name, config.image.name
        if text_name in TEXT_SPECS and image_name in IMAGE_SPECS:
            text_spec = replace(TEXT_SPECS[text_name], tuning=config.text.tuning)
            check_backbones(config, text_spec, IMAGE_SPECS[image_name])
        text_encoder = load_text_encoder(text_name)
        if adapter is not None and config.text_tuning is not None:
            merge_lora(text_encoder, config.text_tuning, adapter)
        return cls(head, text_encoder, load_image_encoder(image_name))

    @property
    def base_rates(self) -> Distribution:
        """What a typical meme gets: the mean answer over the memes the model is calibrated on
        (or the label shares it was shifted to)."""
        return dict(zip(LABELS, self.head.config.base_rates, strict=True))

    @property
    def population(self) -> str:
        """Which memes the probabilities are for, in words (`Prediction.population`)."""
        return population_of(self.head.config)

    def with_label_shares(self, shares: Mapping[str, float]) -> Predictor:
        """This model for a collection whose label shares you know, such as
        `{"negative": 0.09, "neutral": 0.31, "positive": 0.6}` (three classes) or one share per
        level: every reading and every explanation shifted to them (`memesent.population`),
        and `base_rates` and `population` say so. Unchanged itself; the two share the
        backbones. `ValueError` says what is wrong with the shares."""
        return Predictor(self.head.with_label_shares(shares), self.text_encoder, self.image_encoder)

    @torch.inference_mode()
    def predict_batch(
        self,
        images: Sequence[ImageInput | None],
        captions: Sequence[str],
        batch_size: int = 32,
    ) -> list[Prediction]:
        """Score many memes; the same numbers as `predict` on each, computed in batches of
        `batch_size` (captions of similar length together, pictures decoded a batch at a time).
        An image may be None (words only) and a caption "" (the picture only), not both."""
        if len(images) != len(captions):
            raise ValueError(f"got {len(images)} images but {len(captions)} captions")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        texts = [clean_caption(c) for c in captions]
        for i, (given, words) in enumerate(zip(images, texts, strict=True)):
            if given is None and not words:
                raise NothingToScoreError(f"meme {i} has neither a picture nor a caption")
        worded = [i for i, t in enumerate(texts) if t]
        text = torch.zeros(len(texts), self.text_encoder.dim)
        if worded:
            text[worded] = self.text_encoder.encode([texts[i] for i in worded], batch_size)
        out: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            part = range(start, min(start + batch_size, len(images)))
            pictured = {i: meme for i in part if (meme := images[i]) is not None}
            image = torch.zeros(len(part), self.image_encoder.dim)
            if pictured:
                pics = [load_image(meme) for meme in pictured.values()]
                image[[i - start for i in pictured]] = self.image_encoder.encode(pics)
            has_text = torch.tensor([bool(texts[i]) for i in part])
            has_image = torch.tensor([images[i] is not None for i in part])
            out += self._score(text[start : part.stop], image, has_text, has_image)
        return out

    def _score(
        self,
        text: torch.Tensor,
        image: torch.Tensor,
        has_text: torch.Tensor,
        has_image: torch.Tensor,
    ) -> list[Prediction]:
        readings = self.head.readings(text, image, has_text, has_image)
        probs = {r: logp.exp() for r, logp in readings.items()}
        return [self._prediction({r: probs[r][row] for r in READINGS}) for row in range(len(text))]

    def _prediction(self, readings: dict[str, torch.Tensor]) -> Prediction:
        def dist(p: torch.Tensor) -> Distribution | None:
            if torch.isnan(p).any():
                return None
            return {label: float(v) for label, v in zip(LABELS, p.tolist(), strict=True)}

        both = readings["both"]
        p = dist(both)
        assert p is not None
        p3 = dict(zip(LABELS3, collapse(both.numpy()).tolist(), strict=True))
        return Prediction(
            label=max(LABELS, key=p.__getitem__),
            probs=p,
            probs3=p3,
            base_rates=self.base_rates,
            readings={r: dist(readings[r]) for r in READINGS},
            population=self.population,
        )

    def predict(self, image: ImageInput | None, caption: str = "") -> Prediction:
        """Score one meme: `image` is a PIL image, a path, bytes or None (the words alone);
        `caption` may be empty (the picture alone), not both."""
        if image is None and not clean_caption(caption):
            raise NothingToScoreError("a meme needs a picture or a caption: both are empty")
        return self.predict_batch([image], [caption])[0]

    @torch.inference_mode()
    def encode(self, image: ImageInput | None, caption: str = "") -> MemeFeatures:
        """One meme through both backbones, once: what `predict_features` and
        `explain_features` take (the app scores and explains a meme from one pass)."""
        text = clean_caption(caption)
        if image is None and not text:
            raise NothingToScoreError("a meme needs a picture or a caption")
        picture = None if image is None else load_image(image)
        feature_map = None
        if picture is not None:
            pixels = self.image_encoder.preprocess(picture).unsqueeze(0)
            feature_map = self.image_encoder.feature_map(pixels)
        return MemeFeatures(
            picture=picture,
            caption=text,
            text=self.text_encoder.encode([text]) if text else None,
            feature_map=feature_map,
        )

    @torch.inference_mode()
    def recaption(self, features: MemeFeatures, caption: str) -> MemeFeatures:
        """The same meme with another caption: only the words go through the text backbone
        (the picture's features are kept), which is what a live update while typing needs."""
        text = clean_caption(caption)
        if features.picture is None and not text:
            raise NothingToScoreError("a meme needs a picture or a caption")
        vector = self.text_encoder.encode([text]) if text else None
        return replace(features, caption=text, text=vector)

    @torch.inference_mode()
    def predict_features(self, features: MemeFeatures) -> Prediction:
        """`predict`'s answer from a meme's `encode`d features."""
        text, image = features.text, features.image
        return self._score(
            torch.zeros(1, self.text_encoder.dim) if text is None else text,
            torch.zeros(1, self.image_encoder.dim) if image is None else image,
            torch.tensor([text is not None]),
            torch.tensor([image is not None]),
        )[0]

    def explain(
        self, image: ImageInput | None, caption: str = "", target: str | None = None
    ) -> Explanation:
        """Why the model answers as it does: picture heat map, word scores, modality shares.

        `target` is a level of `LABELS` to explain instead of the predicted one.
        """
        return self.explain_features(self.encode(image, caption), target)

    def explain_features(self, features: MemeFeatures, target: str | None = None) -> Explanation:
        """`explain` from a meme's `encode`d features: the image backbone does not run again
        (Grad-CAM follows the cached feature map through the head)."""
        from .explain import explain

        return explain(self.head, self.text_encoder, features, target)
