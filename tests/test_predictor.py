"""`Predictor` on the shipped model: the API in README, every image mode, bad files."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from helpers import draw_meme, photo
from PIL import Image

from memesent import LABELS, LABELS3, NothingToScoreError
from memesent.images import NotAnImageError
from memesent.labels import positive_share


def _check(result):
    assert result.label in LABELS
    assert set(result.probs) == set(LABELS) and set(result.probs3) == set(LABELS3)
    assert math.isclose(sum(result.probs.values()), 1.0, abs_tol=1e-5)
    assert math.isclose(sum(result.probs3.values()), 1.0, abs_tol=1e-5)
    assert result.label == max(result.probs, key=result.probs.get)
    assert all(0.0 <= p <= 1.0 for p in result.probs.values())


def test_predict_contract(predictor, tmp_path):
    meme = draw_meme(photo(), "when the wifi comes back", "best day ever")
    path = tmp_path / "meme.png"
    meme.save(path)
    from_pil = predictor.predict(meme, "when the wifi comes back best day ever")
    from_path = predictor.predict(path, "when the wifi comes back best day ever")
    from_str = predictor.predict(str(path), "when the wifi comes back best day ever")
    _check(from_pil)
    assert from_pil.probs == pytest.approx(from_path.probs, abs=1e-6)
    assert from_path.probs == from_str.probs
    _check(predictor.predict(meme, ""))


def test_caption_changes_the_answer_toward_its_side(predictor):
    # a photo that itself reads close to a typical meme (the coffee photo reads clearly
    # positive, and outweighs a negative caption: see assets/examples)
    meme = photo("chelsea")
    a = predictor.predict(meme, "I love this, best morning ever, so happy")
    b = predictor.predict(meme, "I hate everything, worst day, I want to die")
    side = [positive_share(np.array([r.probs[k] for k in LABELS])) for r in (a, b)]
    assert side[0] > 0.5 > side[1]
    assert a.label3 == "positive" and b.label3 == "negative"


def test_three_readings_from_one_pass(predictor):
    meme, caption = photo("chelsea"), "worst day of my life"
    r = predictor.predict(meme, caption)
    assert set(r.readings) == {"text", "image", "both"} and r.readings["both"] == r.probs
    words, picture = predictor.predict(None, caption), predictor.predict(meme, "")
    assert words.readings["image"] is None and words.probs == words.readings["text"]
    assert picture.readings["text"] is None and picture.probs == picture.readings["image"]
    assert r.readings["text"] == pytest.approx(words.probs, abs=1e-6)
    assert r.readings["image"] == pytest.approx(picture.probs, abs=1e-6)
    for reading in r.readings.values():
        assert math.isclose(sum(reading.values()), 1.0, abs_tol=1e-5)
    assert r.to_dict()["readings"] == r.readings
    with pytest.raises(NothingToScoreError, match="a meme needs a picture or a caption") as one:
        predictor.predict(None, "  ")
    assert "meme 0" not in str(one.value)  # one meme, not a batch
    with pytest.raises(NothingToScoreError, match="meme 1 has neither a picture nor a caption"):
        predictor.predict_batch([meme, None], ["a caption", ""])


def test_recaption_encodes_only_the_words_and_gives_predicts_answer(predictor, monkeypatch):
    meme = photo("rocket")
    features = predictor.encode(meme, "to the moon")

    def no_pictures(*args, **kwargs):
        raise AssertionError("the picture went through the image backbone again")

    monkeypatch.setattr(predictor.image_encoder, "feature_map", no_pictures)
    changed = predictor.recaption(features, "this ruined my whole week")
    assert changed.feature_map is features.feature_map
    monkeypatch.undo()
    want = predictor.predict(meme, "this ruined my whole week")
    assert predictor.predict_features(changed).probs == pytest.approx(want.probs, abs=1e-5)
    empty = predictor.recaption(features, "")
    assert predictor.predict_features(empty).readings["text"] is None


def test_batched_and_single_agree(predictor):
    names = ["chelsea", "coffee", "astronaut", "rocket", "camera"]
    images = [photo(n, (200 + 40 * i, 300)) for i, n in enumerate(names)]
    captions = [
        "",
        "short",
        "a much longer caption with many words to pad the batch out",
        "ok",
        "x y",
    ]
    batch = predictor.predict_batch(images, captions, batch_size=3)
    for image, caption, got in zip(images, captions, batch, strict=True):
        single = predictor.predict(image, caption)
        assert got.label == single.label
        assert got.probs == pytest.approx(single.probs, abs=1e-5)


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _modes() -> dict[str, bytes]:
    rgb = photo("chelsea", (120, 90))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    arr16 = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
    frames = [photo(n, (64, 64)) for n in ("chelsea", "coffee")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {
        "RGB": _encoded(rgb, "JPEG"),
        "RGBA": _encoded(rgba, "PNG"),
        "P": _encoded(rgb.convert("P"), "PNG"),
        "P+transparency": _encoded(rgb.convert("P"), "PNG", transparency=0),
        "L": _encoded(rgb.convert("L"), "PNG"),
        "LA": _encoded(rgb.convert("LA"), "PNG"),
        "1": _encoded(rgb.convert("1"), "PNG"),
        "CMYK": _encoded(rgb.convert("CMYK"), "JPEG"),
        "I;16": _encoded(Image.fromarray(arr16), "PNG"),
        "F": _encoded(Image.fromarray(arr16.astype(np.float32)), "TIFF"),
        "animated GIF": gif.getvalue(),
        "WebP": _encoded(rgb, "WEBP"),
        "BMP": _encoded(rgb, "BMP"),
    }


@pytest.mark.parametrize("mode", list(_modes()))
def test_every_image_mode(predictor, mode):
    _check(predictor.predict(_modes()[mode], "caption"))


def test_animated_gif_uses_first_frame(predictor):
    gif = Image.open(io.BytesIO(_modes()["animated GIF"]))
    frames = []
    for i in range(2):
        gif.seek(i)
        frames.append(gif.convert("RGB"))
    animated = predictor.predict(_modes()["animated GIF"], "x")
    assert animated.probs == pytest.approx(predictor.predict(frames[0], "x").probs, abs=1e-6)
    assert animated.probs != pytest.approx(predictor.predict(frames[1], "x").probs, abs=1e-3)


@pytest.mark.parametrize("size", [(1, 1), (2000, 40), (40, 2000)])
def test_odd_sizes(predictor, size):
    _check(predictor.predict(Image.new("RGB", size, "red"), "tiny"))


def test_not_an_image_is_a_clear_error(predictor, tmp_path):
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("this is text, not a picture")
    with pytest.raises(NotAnImageError, match="not an image"):
        predictor.predict(bogus, "caption")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_encoded(photo(), "PNG")[:2000])
    with pytest.raises(NotAnImageError):
        predictor.predict(truncated, "caption")
    with pytest.raises(FileNotFoundError):
        predictor.predict(tmp_path / "missing.png", "caption")


def test_caption_must_be_text(predictor):
    with pytest.raises(TypeError, match="caption must be a string"):
        predictor.predict(photo(), 42)


def test_threads_share_one_predictor(predictor):
    from concurrent.futures import ThreadPoolExecutor

    memes = [
        (draw_meme(photo(n), c), c)
        for n, c in (("coffee", "monday again"), ("rocket", "we did it yay"))
    ]
    expected = [predictor.predict(m, c).probs for m, c in memes]
    words = [dict(predictor.explain(m, c).words) for m, c in memes]
    with ThreadPoolExecutor(4) as pool:
        explained = [pool.submit(predictor.explain, *memes[k % 2]) for k in range(4)]
        scored = [pool.submit(predictor.predict, *memes[k % 2]) for k in range(16)]
        for k, job in enumerate(scored):
            assert job.result().probs == pytest.approx(expected[k % 2], abs=1e-5)
        for k, job in enumerate(explained):
            assert dict(job.result().words) == pytest.approx(words[k % 2], abs=1e-4)


def test_load_image_keeps_the_callers_frame_and_closes_its_file(tmp_path):
    import warnings

    from memesent.images import load_image

    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    path = tmp_path / "two.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        assert load_image(path).getpixel((5, 5))[0] > 200  # first frame: red
    with Image.open(path) as gif:
        gif.seek(1)
        assert load_image(gif).getpixel((5, 5))[0] > 200
        assert gif.tell() == 1
