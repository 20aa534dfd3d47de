"""`memesent.explain`: the contract's fields, words mapped back, odd inputs, every backbone, and
toy models whose answer hangs on one word or on one half of the picture (so wrong attributions
fail)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from conftest import MEMOTION, require
from helpers import draw_meme, font, photo
from PIL import Image, ImageDraw

from memesent import LABELS, Predictor
from memesent.backbones import IMAGE_SPECS, TEXT_SPECS, load_image_encoder, load_text_encoder
from memesent.explain import Explanation, _tokenize, _word_spans, overlay
from memesent.fusion import FusionConfig
from memesent.images import load_image
from memesent.model import MemeHead, ModelConfig

ODD_CAPTION = "lol lol, 🤣 can't... LOL 😂😂 #relatable café \u200b 👍🏽 ---"


def _check(e: Explanation, size: tuple[int, int], caption: str) -> None:
    width, height = size
    assert e.heatmap.shape == (height, width) and e.heatmap.dtype.kind == "f"
    assert np.isfinite(e.heatmap).all() and 0 <= e.heatmap.min() <= e.heatmap.max() <= 1
    assert e.overlay.size == (width, height) and e.overlay.mode == "RGB"
    assert [w for w, _ in e.words] == caption.split()
    scores = np.array([s for _, s in e.words])
    assert np.all(np.abs(scores) <= 1)
    assert scores.size == 0 or np.abs(scores).max() in (0.0, pytest.approx(1.0))
    assert set(e.modality) == {"text", "image"} and min(e.modality.values()) >= 0
    assert math.isclose(sum(e.modality.values()), 1.0)
    assert e.target in LABELS and math.isclose(sum(e.probs.values()), 1.0, abs_tol=1e-5)


def _same_words(a: Explanation, b: Explanation) -> bool:
    return [w for w, _ in a.words] == [w for w, _ in b.words] and np.allclose(
        [s for _, s in a.words], [s for _, s in b.words], atol=1e-4
    )


def test_contract(predictor, tmp_path):
    meme = draw_meme(photo("chelsea", (320, 200)), "when the wifi", "comes back")
    caption = "when the wifi comes back, best day ever"
    e = predictor.explain(meme, caption)
    _check(e, meme.size, caption)
    prediction = predictor.predict(meme, caption)
    assert e.target == prediction.label
    assert e.probs == pytest.approx(prediction.probs, abs=1e-5)
    meme.save(tmp_path / "meme.png")
    with torch.inference_mode():  # as an app might call it
        from_path = predictor.explain(tmp_path / "meme.png", caption)
    assert _same_words(from_path, e)


def test_other_target(predictor):
    meme, caption = photo("coffee", (200, 200)), "monday again, no coffee left"
    other = next(label for label in LABELS if label != predictor.predict(meme, caption).label)
    e = predictor.explain(meme, caption, target=other)
    _check(e, meme.size, caption)
    assert e.target == other
    with pytest.raises(ValueError, match="unknown target"):
        predictor.explain(meme, caption, target="ecstatic")


def test_heat_map_is_grad_cam_on_the_target_layer(predictor):
    meme, caption = photo("astronaut", (224, 224)), "one small step"
    e = predictor.explain(meme, caption)
    pixels = predictor.image_encoder.preprocess(meme)[None]
    text = predictor.text_encoder.encode([caption])
    encoder = predictor.image_encoder
    cam = LayerGradCam(
        lambda x: torch.stack(predictor.head.members_logits(text, encoder(x))).mean(0),
        encoder.target_layer,
    )
    coarse = cam.attribute(pixels, target=LABELS.index(e.target), relu_attributions=True)[0, 0]
    reference = torch.nn.functional.interpolate(
        coarse[None, None].detach(), size=(224, 224), mode="bilinear"
    )[0, 0]
    peak = reference.max()
    expected = reference / peak if peak > 0 else reference
    assert e.heatmap == pytest.approx(expected.numpy(), abs=1e-4)


def test_words_map_back_to_the_caption(text_encoder, predictor):
    spans = _word_spans(ODD_CAPTION)
    assert [ODD_CAPTION[s:e] for s, e in spans] == ODD_CAPTION.split()
    ids, _, word_of_token = _tokenize(text_encoder, ODD_CAPTION, spans)
    assert torch.equal(ids, text_encoder.tokenize([ODD_CAPTION])["input_ids"])
    enc = text_encoder.tokenizer(ODD_CAPTION, return_offsets_mapping=True)
    pieces: dict[int, list[str]] = {}
    for token, (start, end), word in zip(
        enc["input_ids"], enc["offset_mapping"], word_of_token, strict=True
    ):
        assert (word == -1) == (start == end)  # only [CLS] and [SEP] belong to no word
        if word >= 0:
            assert spans[word][0] <= start < end <= spans[word][1]
            pieces.setdefault(word, []).append(text_encoder.tokenizer.convert_ids_to_tokens(token))
    words = ODD_CAPTION.split()
    assert pieces[words.index("🤣")] == ["[UNK]"]
    assert "".join(p.removeprefix("##") for p in pieces[words.index("#relatable")]) == "#relatable"
    assert words.index("\u200b") not in pieces  # dropped by the tokenizer: no pieces
    e = predictor.explain(photo(), ODD_CAPTION)
    _check(e, (500, 500), ODD_CAPTION)
    assert dict(e.words)["\u200b"] == 0.0
    assert e.words[0][1] != 0 and e.words[1][1] != 0 and e.words[2][1] != 0  # lol, lol, and 🤣


@pytest.mark.parametrize("caption", ["", "   "])
def test_empty_caption(predictor, caption):
    meme = photo("rocket", (150, 300))
    e = predictor.explain(meme, caption)
    _check(e, meme.size, caption)
    assert e.words == []


def test_words_without_a_picture(predictor):
    e = predictor.explain(None, "i hate mondays so much")
    assert e.heatmap is None and e.overlay is None
    assert [w for w, _ in e.words] == "i hate mondays so much".split()
    assert e.modality == {"text": 1.0, "image": 0.0}
    assert e.probs == pytest.approx(predictor.predict(None, "i hate mondays so much").probs)
    assert dict(e.words)["hate"] < 0  # toward the negative side


@pytest.mark.parametrize("size", [(1, 1), (1500, 12)])
def test_tiny_and_wide_pictures(predictor, size):
    e = predictor.explain(Image.new("RGB", size, "orange"), "so wide")
    _check(e, size, "so wide")


def test_words_past_the_token_limit_score_zero(predictor):
    caption = " ".join(f"word{i % 7}" for i in range(200))
    e = predictor.explain(photo(), caption)
    _check(e, (500, 500), caption)
    scores = [s for _, s in e.words]
    assert any(scores[:20]) and not any(scores[-100:])


def test_model_state_is_left_alone(predictor):
    head_grads = [p.requires_grad for p in predictor.head.parameters()]
    first = predictor.explain(photo(), "nothing changes")
    modules = [predictor.head, predictor.text_encoder, predictor.image_encoder]
    assert not any(m.training for module in modules for m in module.modules())
    assert not any(p.requires_grad for m in modules[1:] for p in m.parameters())
    assert [p.requires_grad for p in predictor.head.parameters()] == head_grads
    assert not any(m._forward_hooks or m._backward_hooks for mod in modules for m in mod.modules())
    second = predictor.explain(photo(), "nothing changes")
    assert _same_words(second, first) and second.modality == pytest.approx(first.modality)
    assert np.array_equal(second.heatmap, first.heatmap)


def test_resnet18_and_bert_base_paths():
    """The write-up's backbones, with random weights (their pretrained ones need a download)."""
    torch.manual_seed(0)
    text, image = TEXT_SPECS["bert-base-uncased"], IMAGE_SPECS["resnet18"]
    head = MemeHead(
        ModelConfig(
            text=text, image=image, fusion=FusionConfig(text_dim=text.dim, image_dim=image.dim)
        )
    )
    image_encoder = load_image_encoder("resnet18", pretrained=False)
    assert image_encoder.target_layer is image_encoder.net.layer4
    p = Predictor(head, load_text_encoder("bert-base-uncased", pretrained=False), image_encoder)
    meme = photo("chelsea", (240, 160))
    _check(p.explain(meme, "random weights"), meme.size, "random weights")


def test_overlay_keeps_captions_readable():
    for ink, paper in (("black", "white"), ("white", "black")):
        meme = Image.new("RGB", (240, 80), paper)
        ImageDraw.Draw(meme).text((10, 10), "READ ME", font=font(40), fill=ink)
        grey = np.asarray(meme.convert("L"), dtype=float)
        ink_px, paper_px = grey < 128, grey >= 128
        for heat in (0.0, 0.5, 1.0):
            out = np.asarray(overlay(meme, np.full((80, 240), heat)).convert("L"), dtype=float)
            assert out.shape == grey.shape
            contrast = abs(out[ink_px].mean() - out[paper_px].mean())
            assert contrast >= 0.5 * abs(grey[ink_px].mean() - grey[paper_px].mean())


FILLER = (
    "the my a cat dog car house tree went saw today big small red blue ran sat on under "
    "over friend mom phone work school happy rain"
).split()


def _train_head(text: torch.Tensor, image: torch.Tensor, labels: list[int]) -> MemeHead:
    torch.manual_seed(0)
    head = MemeHead(ModelConfig(fusion=FusionConfig(kind="concat", hidden=32, dropout=0.0)))
    head.set_feature_stats(text, image)
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-2)
    target = torch.tensor(labels)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(head.members_logits(text, image)[0], target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return head.eval()


@pytest.mark.slow
def test_toy_model_credits_its_one_word(text_encoder, image_encoder):
    """Captions are very_positive exactly when they hold "banana"; the pictures say nothing."""
    rng = random.Random(0)
    captions, labels = [], []
    for i in range(160):
        words = rng.sample(FILLER, rng.randint(4, 9))
        if i % 2:
            words.insert(rng.randrange(len(words) + 1), "banana")
        captions.append(" ".join(words))
        labels.append(4 if i % 2 else 0)
    # the memes' own pictures, at the size explained below, so that the picture it is asked
    # about is one it was trained on
    pictures = [photo(name, (300, 300)) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    image = image_encoder.encode(pictures)[(torch.arange(len(captions)) // 2) % len(pictures)]
    head = _train_head(text_encoder.encode(captions), image, labels)
    p = Predictor(head, text_encoder, image_encoder)
    meme = photo("coffee", (300, 300))
    caption = "my friend saw a banana under the big tree today"
    assert p.predict(meme, caption.replace("banana", "")).label == "very_negative"
    e = p.explain(meme, caption)
    assert e.target == "very_positive"
    assert max(e.words, key=lambda ws: ws[1]) == ("banana", 1.0)  # toward the positive side
    assert sorted(abs(s) for _, s in e.words)[-2] < 0.5  # no other word comes close
    # words say which way they push whatever level the heat map explains
    against = p.explain(meme, caption, target="very_negative")
    assert [w for w, _ in against.words] == [w for w, _ in e.words]
    assert [s for _, s in against.words] == pytest.approx([s for _, s in e.words])


def _pair(first: str, second: str, wide: bool, offset: int = 0) -> Image.Image:
    """Two 128x128 photos side by side (`wide`) or one above the other, on grey."""
    canvas = Image.new("RGB", (256, 128) if wide else (128, 256), (128, 128, 128))
    for name, at in ((first, offset), (second, 128)):
        if name:
            canvas.paste(photo(name, (128, 128)), (at, 0) if wide else (0, at))
    return canvas


class _DirectionHead(MemeHead):
    """Scores very_positive by the picture's features along `direction`, very_negative by the
    opposite, and ignores the caption: a linear read-out, where Grad-CAM is exactly CAM."""

    def __init__(self, direction: torch.Tensor, centre: torch.Tensor) -> None:
        super().__init__(ModelConfig())
        self.image_mean.copy_(centre)
        self.register_buffer("direction", direction)

    def members_logits(self, text, image, has_text=None, has_image=None) -> list[torch.Tensor]:
        score = (image - self.image_mean) @ self.direction
        if has_image is not None:
            score = score * has_image  # a picture left out says nothing
        zero = torch.zeros_like(score)
        return [torch.stack([-score, zero, zero, zero, score], dim=-1)]


def test_toy_model_heats_the_right_place(image_encoder, text_encoder):
    """very_positive means the cat, very_negative the coffee cup: each heats its own half."""
    cats, cups = (
        image_encoder.encode([_pair(name, "", True, x) for x in (0, 64, 128)])
        for name in ("chelsea", "coffee")
    )
    direction = cats.mean(0) - cups.mean(0)
    head = _DirectionHead(direction / direction.norm() ** 2, (cats.mean(0) + cups.mean(0)) / 2)
    p = Predictor(head, text_encoder, image_encoder)
    for wide in (True, False):
        meme = _pair("chelsea", "coffee", wide)
        halves = (np.s_[:, :128], np.s_[:, 128:]) if wide else (np.s_[:128], np.s_[128:])
        for target, hot in (("very_positive", 0), ("very_negative", 1)):
            heat = p.explain(meme, "", target=target).heatmap
            assert heat[halves[hot]].mean() > 2 * heat[halves[1 - hot]].mean(), (wide, target)


def test_real_meme(predictor):
    import csv

    data = require(MEMOTION)
    with open(data / "labels.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    path = data / "images" / row["image_name"]
    e = predictor.explain(path, row["text_corrected"])
    picture = load_image(path)
    _check(e, picture.size, row["text_corrected"])


def test_an_image_only_head_gives_the_caption_no_share(image_encoder, text_encoder):
    cats, cups = (image_encoder.encode([_pair(n, "", True)]) for n in ("chelsea", "coffee"))
    direction = (cats - cups)[0]
    head = _DirectionHead(direction / direction.norm() ** 2, ((cats + cups) / 2)[0])
    p = Predictor(head, text_encoder, image_encoder)
    e = p.explain(_pair("chelsea", "coffee", True), "words the head never reads")
    assert e.modality == {"text": 0.0, "image": 1.0}
    assert [s for _, s in e.words] == [0.0] * 5


DEAF = torch.tensor([[0.0, 1.0, 2.0, 1.0, 0.0]])


class _DeafHead(MemeHead):
    """A head whose answer depends on nothing (its base rates are that answer, as a trained
    model's mean answer would be): both Shapley values are 0."""

    def __init__(self) -> None:
        super().__init__(ModelConfig(base_rates=tuple(DEAF.softmax(-1)[0].tolist())))

    def members_logits(self, text, image, has_text=None, has_image=None) -> list[torch.Tensor]:
        return [DEAF.expand(len(text), 5) + 0 * text[:, :1]]


def test_modality_is_undetermined_when_nothing_moves_the_answer(text_encoder, image_encoder):
    from webapp.service import UNDETERMINED, MemeService

    p = Predictor(_DeafHead(), text_encoder, image_encoder)
    e = p.explain(photo("coffee", (120, 120)), "a caption nobody reads")
    assert e.modality is None  # not a made-up half and half
    assert not e.heatmap.any() and [s for _, s in e.words] == [0.0] * 4
    view = MemeService(p).explain(photo("coffee", (120, 120)), "a caption nobody reads")
    assert view.modality == UNDETERMINED
