"""Why the model answers as it does, for one meme.

- picture: Grad-CAM on the image backbone's last convolutional feature map, through the fusion
  head, toward the explained level's pre-softmax score (Captum `LayerGradCam`);
- caption: Integrated Gradients on the text backbone's word embeddings against a [PAD] caption,
  word pieces summed back into the words the user typed (Captum `IntegratedGradients` on the
  embeddings, fed to the backbone as `inputs_embeds`), of the answer's valence: the log-odds of
  the positive side against the negative side, so that a word's sign says which way it pushes;
- modality: exact Shapley values of the caption and the picture in the game whose players are
  the two modalities and whose value is the explained level's log-probability: the model's own
  readings of the words alone, the picture alone and both, and the base rates when it knows
  neither.

The heat map and the modality shares explain one level, the predicted one unless another is
asked. They start from a meme's `MemeFeatures` (`Predictor.encode`), so the image backbone is
not run again: Grad-CAM follows the cached feature map through the head. Drawing the heat map
over the meme is `memesent.heatmap`'s.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerGradCam
from PIL import Image

from .heatmap import heat_map, overlay
from .labels import LABELS, VALENCE

if TYPE_CHECKING:
    from .backbones import TextEncoder
    from .encoded import MemeFeatures
    from .model import MemeHead

IG_STEPS = 16  # Integrated Gradients steps, all evaluated in one batch
# Modality shares below this many nats in all are float32 rounding (the head's log-probabilities
# against the base rates stored in config.json), not an effect: undetermined, not 50/50.
NO_EFFECT = 1e-6


@dataclass(frozen=True)
class Explanation:
    """One meme's explanation.

    `heatmap`: where the picture drove the explained level, in [0, 1], the input's (height, width);
    None for a meme without a picture. `overlay`: that heat map in colour over the meme.
    `words`: the caption's whitespace-separated words in order, each with a score in [-1, 1]:
    positive pushes the answer toward the positive side, negative toward the negative side
    (scaled by the largest magnitude); empty without a caption.
    `modality`: the caption's and the picture's shares of the explained level, summing to 1;
    None when neither moves it at all (both Shapley values 0): undetermined, not half and half.
    `target`: the level explained; `probs`: the predicted probability of each level.
    """

    target: str
    probs: dict[str, float]
    heatmap: np.ndarray | None
    overlay: Image.Image | None
    words: list[tuple[str, float]]
    modality: dict[str, float] | None


@torch.inference_mode(False)  # attributions need gradients, even when called under inference
def explain(
    head: MemeHead,
    text_encoder: TextEncoder,
    features: MemeFeatures,
    target: str | None = None,
) -> Explanation:
    """Explain the model's answer on one meme from its `encode`d features, toward `target`
    (default: the predicted level). `Predictor.explain_features` calls this; the image backbone
    does not run again, the text backbone runs for the word scores only."""
    if target is not None and target not in LABELS:
        raise ValueError(f"unknown target {target!r}; choose one of: {', '.join(LABELS)}")
    picture, text = features.picture, features.caption
    has_text = torch.tensor([features.text is not None])
    has_image = torch.tensor([features.feature_map is not None])
    # clones: tensors made under inference mode cannot take part in gradients
    text_vec = (
        features.text.clone() if features.text is not None else torch.zeros(1, text_encoder.dim)
    )
    index = None if target is None else LABELS.index(target)
    heat = None
    if features.feature_map is not None and picture is not None:
        feature_map = features.feature_map.clone()
        logp, cam = _picture_pass(head, feature_map, text_vec, has_text, index)
        index = int(logp.argmax()) if index is None else index
        heat = heat_map(cam, (picture.height, picture.width))
        image_vec = feature_map.mean(dim=(2, 3))
    else:
        image_vec = torch.zeros(1, head.config.fusion.image_dim)
        with torch.no_grad():
            logp = head(text_vec, image_vec, has_text, has_image)[0]
        index = int(logp.argmax()) if index is None else index
    spans = _word_spans(text)
    words: list[tuple[str, float]] = []
    if features.text is not None:
        ids, mask, word_of_token = _tokenize(text_encoder, text, spans)
        token_scores = _token_scores(
            head, text_encoder, ids, mask, word_of_token, image_vec, has_image
        )
        scores = _word_scores(token_scores, word_of_token, len(spans))
        words = [(text[s:e], score) for (s, e), score in zip(spans, scores, strict=True)]
    return Explanation(
        target=LABELS[index],
        probs={label: float(p) for label, p in zip(LABELS, logp.exp().tolist(), strict=True)},
        heatmap=heat,
        overlay=None if heat is None or picture is None else overlay(picture, heat),
        words=words,
        modality=modality_shares(head, text_vec, image_vec, has_text, has_image, index),
    )


def _picture_pass(
    head: MemeHead,
    feature_map: torch.Tensor,
    text_vec: torch.Tensor,
    has_text: torch.Tensor,
    index: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-probabilities and the coarse Grad-CAM map from the image backbone's last feature
    map (Captum `LayerGradCam` on it: the gradient of the level's score with respect to each
    channel, averaged over the map, weights the channels).

    As in the original method, Grad-CAM follows the level's score before the softmax (here
    averaged over the ensemble's members), whose gradient does not vanish when the prediction
    is confident. The level is `index`, or the predicted one when `index` is None.
    """
    seen: dict[str, torch.Tensor] = {}
    last_map = torch.nn.Identity()  # where Captum reads the feature map and its gradient
    has_image = torch.ones(1, dtype=torch.bool)

    def level_score(x: torch.Tensor) -> torch.Tensor:
        mapped = last_map(x)
        n = len(x)
        args = (
            text_vec.expand(n, -1),
            mapped.mean(dim=(2, 3)),
            has_text.expand(n),
            has_image.expand(n),
        )
        members = head.members_logits(*args)
        seen["logp"] = head.calibrate(head.combine(members), 2)
        logits = torch.stack(members).mean(0)
        level = seen["logp"].argmax(-1) if index is None else torch.full((n,), index)
        # `0 * mapped.sum()`: a head that ignores the picture gets an all-zero map, not an error
        return logits.gather(1, level.unsqueeze(1)).squeeze(1) + 0 * mapped.sum()

    coarse = LayerGradCam(level_score, last_map).attribute(feature_map, relu_attributions=True)
    return seen["logp"].detach()[0], coarse.detach()


@torch.no_grad()
def modality_shares(
    head: MemeHead,
    text_vec: torch.Tensor,
    image_vec: torch.Tensor,
    has_text: torch.Tensor,
    has_image: torch.Tensor,
    index: int,
) -> dict[str, float] | None:
    """Each modality's |Shapley value| for level `index`'s log-probability, normalised to sum to
    1; None when both are 0, to float precision (`NO_EFFECT`): neither modality moves the
    answer, so the shares are undetermined.

    The game's value of a set of modalities is the log-probability the model gives the level
    reading just those (the words alone, the picture alone, both), and the base rates' when it
    reads neither; so the two values add up to how far this meme's answer is from a typical
    meme's. A modality the meme lacks is a player that changes nothing: its share is 0.
    """
    none = torch.zeros(1, dtype=torch.bool)

    def value(t: torch.Tensor, i: torch.Tensor) -> float:
        if not (t.any() or i.any()):
            return float(np.log(max(head.config.base_rates[index], 1e-300)))
        return float(head(text_vec, image_vec, t, i)[0, index])

    empty, both = value(none, none), value(has_text, has_image)
    words, picture = value(has_text, none), value(none, has_image)
    text_part = abs(0.5 * ((words - empty) + (both - picture)))
    image_part = abs(0.5 * ((picture - empty) + (both - words)))
    total = text_part + image_part
    if total < NO_EFFECT:
        return None
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
    has_image: torch.Tensor,
) -> torch.Tensor:
    """Integrated Gradients of the answer's valence per token, word tokens against [PAD] tokens,
    on the word embeddings (what the text backbone's embedding layer gives for each token id)."""
    is_word = torch.tensor(word_of_token) >= 0
    if not is_word.any():
        return torch.zeros(len(word_of_token))
    baseline = torch.where(is_word, text_encoder.tokenizer.pad_token_id, ids)
    word_embeddings = text_encoder.embeddings.word_embeddings
    assert isinstance(word_embeddings, torch.nn.Module)
    with torch.no_grad():
        inputs, baselines = word_embeddings(ids), word_embeddings(baseline)
    positive = torch.as_tensor(VALENCE > 0)
    negative = torch.as_tensor(VALENCE < 0)

    def valence(e: torch.Tensor, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        text = text_encoder(None, m, inputs_embeds=e)
        n = len(e)
        logp = head(text, v, torch.ones(n, dtype=torch.bool), has_image.expand(n))
        # `0 * text.sum()` keeps the caption in the graph for a head that ignores it, whose
        # words then score 0 instead of failing for want of a gradient
        odds = logp[:, positive].logsumexp(-1) - logp[:, negative].logsumexp(-1)
        return odds + 0 * text.sum()

    attr = IntegratedGradients(valence).attribute(
        inputs,
        baselines=baselines,
        additional_forward_args=(mask, image_vec),
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
