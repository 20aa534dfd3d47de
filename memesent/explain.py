"""Why the model answers as it does, for one meme.

- picture: Grad-CAM on the image backbone's last convolutional feature map, through the fusion
  head, toward the explained level's pre-softmax score (Captum `LayerGradCam`);
- caption: Integrated Gradients on the text backbone's word embeddings against a [PAD] caption,
  word pieces summed back into the words the user typed (Captum `LayerIntegratedGradients`);
- modality: exact Shapley values of the two feature vectors, an absent modality being replaced by
  its training-mean features (Captum `ShapleyValues`).

All explain one level: the predicted one unless another is asked; word scores and modality shares
follow its log-probability.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from captum.attr import LayerGradCam, LayerIntegratedGradients, ShapleyValues
from PIL import Image

from .captions import clean_caption
from .heatmap import heat_map, overlay
from .images import ImageInput, load_image
from .labels import LABELS

if TYPE_CHECKING:
    from .backbones import ImageEncoder, TextEncoder
    from .model import MemeHead

IG_STEPS = 16  # Integrated Gradients steps, all evaluated in one batch


@dataclass(frozen=True)
class Explanation:
    """One meme's explanation.

    `heatmap`: where the picture drove the explained level, in [0, 1], the input's (height, width).
    `overlay`: that heat map in colour over the meme, the input's size.
    `words`: the caption's whitespace-separated words in order, each with a score in [-1, 1]
    (positive: raises the explained level, negative: lowers it; scaled by the largest magnitude).
    `modality`: the caption's and the picture's shares of the decision, summing to 1.
    `target`: the level explained; `probs`: the predicted probability of each level.
    """

    target: str
    probs: dict[str, float]
    heatmap: np.ndarray
    overlay: Image.Image
    words: list[tuple[str, float]]
    modality: dict[str, float]


@torch.inference_mode(False)  # attributions need gradients, even when called under inference
def explain(
    head: MemeHead,
    text_encoder: TextEncoder,
    image_encoder: ImageEncoder,
    image: ImageInput,
    caption: str = "",
    target: str | None = None,
) -> Explanation:
    """Explain the model's answer on one meme, toward `target` (default: the predicted level).
    `Predictor.explain` calls this with its head and backbones."""
    if target is not None and target not in LABELS:
        raise ValueError(f"unknown target {target!r}; choose one of: {', '.join(LABELS)}")
    picture = load_image(image)
    text = clean_caption(caption)
    spans = _word_spans(text)
    ids, mask, word_of_token = _tokenize(text_encoder, text, spans)
    with torch.no_grad():
        text_vec = text_encoder(ids, mask)
    pixels = image_encoder.preprocess(picture).unsqueeze(0)
    index = None if target is None else LABELS.index(target)
    image_vec, logp, cam = _picture_pass(head, image_encoder, pixels, text_vec, index)
    index = int(logp.argmax()) if index is None else index
    heat = heat_map(cam, (picture.height, picture.width))
    token_scores = _token_scores(head, text_encoder, ids, mask, word_of_token, image_vec, index)
    word_scores = _word_scores(token_scores, word_of_token, len(spans))
    return Explanation(
        target=LABELS[index],
        probs={label: float(p) for label, p in zip(LABELS, logp.exp().tolist(), strict=True)},
        heatmap=heat,
        overlay=overlay(picture, heat),
        words=[(text[s:e], score) for (s, e), score in zip(spans, word_scores, strict=True)],
        modality=modality_shares(head, text_vec, image_vec, index),
    )


def _picture_pass(
    head: MemeHead,
    encoder: ImageEncoder,
    pixels: torch.Tensor,
    text_vec: torch.Tensor,
    index: int | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The picture's features, the log-probabilities and the coarse Grad-CAM map, from one pass
    through the image backbone.

    Grad-CAM looks at the backbone's `target_layer` (its last convolutional feature map) and, as
    in the original method, follows the level's score before the softmax (here averaged over the
    ensemble's members), whose gradient does not vanish when the prediction is confident; the
    calibration divides every level's score by the same temperature, so it does not change the
    map. The level is `index`, or the one this very pass predicts when `index` is None.
    """
    seen: dict[str, torch.Tensor] = {}

    def level_score(x: torch.Tensor) -> torch.Tensor:
        seen["image"] = encoder(x)
        members = head.members_logits(text_vec, seen["image"])
        seen["logp"] = head.calibrate(head.combine(members))
        logits = torch.stack(members).mean(0)
        level = seen["logp"].argmax(-1) if index is None else torch.full((len(x),), index)
        return logits.gather(1, level.unsqueeze(1)).squeeze(1)

    coarse = LayerGradCam(level_score, encoder.target_layer).attribute(
        pixels, relu_attributions=True
    )
    return seen["image"].detach(), seen["logp"].detach()[0], coarse.detach()


def modality_shares(
    head: MemeHead, text_vec: torch.Tensor, image_vec: torch.Tensor, index: int
) -> dict[str, float]:
    """Each modality's |Shapley value| for level `index`'s log-probability, normalised to sum to 1.

    The two-player game replaces an absent modality by its training-mean features, so the two
    values add up to how far this meme's log-probability is from an average meme's.
    """
    shapley = ShapleyValues(head)
    text_attr, image_attr = shapley.attribute(
        (text_vec, image_vec),
        baselines=(head.text_mean.unsqueeze(0), head.image_mean.unsqueeze(0)),
        target=index,
        feature_mask=(
            torch.zeros_like(text_vec, dtype=torch.long),
            torch.ones_like(image_vec, dtype=torch.long),
        ),
        perturbations_per_eval=4,
    )
    text_part, image_part = abs(float(text_attr[0, 0])), abs(float(image_attr[0, 0]))
    total = text_part + image_part
    if total == 0:
        return {"text": 0.5, "image": 0.5}
    return {"text": text_part / total, "image": image_part / total}


def _word_spans(caption: str) -> list[tuple[int, int]]:
    """(start, end) of each whitespace-separated word: `caption.split()`, with positions."""
    return [m.span() for m in re.finditer(r"\S+", caption)]


def _tokenize(
    encoder: TextEncoder, caption: str, spans: list[tuple[int, int]]
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Token ids and mask as `TextEncoder.tokenize` makes them, and for each token the index of
    the word span it comes from (-1 for [CLS] and [SEP])."""
    enc = encoder.tokenize([caption], offsets=True)
    starts = [s for s, _ in spans]
    offsets = enc["offset_mapping"][0].tolist()
    word_of_token = [bisect.bisect_right(starts, s) - 1 if e > s else -1 for s, e in offsets]
    return enc["input_ids"], enc["attention_mask"], word_of_token


def _token_scores(
    head: MemeHead,
    text_encoder: TextEncoder,
    ids: torch.Tensor,
    mask: torch.Tensor,
    word_of_token: list[int],
    image_vec: torch.Tensor,
    index: int,
) -> torch.Tensor:
    """Integrated Gradients of level `index` per token, word tokens against [PAD] tokens."""
    is_word = torch.tensor(word_of_token) >= 0
    if not is_word.any():
        return torch.zeros(len(word_of_token))
    baseline = torch.where(is_word, text_encoder.tokenizer.pad_token_id, ids)

    def level_logp(i: torch.Tensor, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        text = text_encoder(i, m)
        # `0 * text.sum()` keeps the caption in the graph for a head that ignores it, whose
        # words then score 0 instead of failing for want of a gradient
        return head(text, v) + 0 * text.sum()

    ig = LayerIntegratedGradients(level_logp, text_encoder.embeddings.word_embeddings)
    attr = ig.attribute(
        ids,
        baselines=baseline,
        additional_forward_args=(mask, image_vec),
        target=index,
        n_steps=IG_STEPS,
        internal_batch_size=IG_STEPS,
    )
    return attr.detach().sum(-1)[0]


def _word_scores(token_scores: torch.Tensor, word_of_token: list[int], n_words: int) -> list[float]:
    """Token scores summed per word (0 for words left without tokens), scaled into [-1, 1]."""
    scores = np.zeros(n_words)
    for score, word in zip(token_scores.tolist(), word_of_token, strict=True):
        if word >= 0:
            scores[word] += score
    peak = np.abs(scores).max(initial=0.0)
    return (scores / peak if peak > 0 else scores).tolist()
