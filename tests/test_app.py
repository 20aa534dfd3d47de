"""The Gradio app through its API (`gradio_client` against `python app.py`), and its service.

One app is launched per module and shared by the tests; answers are checked against the same
`MemeService` run in this process on the same files. Every bad input must give a clear message,
and the app must answer a normal request right after it.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import bomb_png
from PIL import Image

from memesent import LABELS, LABELS3
from webapp import inputs, service, wording
from webapp.server import ROOT, AppServer

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

EXAMPLES_DIR = ROOT / "assets" / "examples"
EXAMPLES = json.loads((EXAMPLES_DIR / "examples.json").read_text())
ROCKET = EXAMPLES_DIR / "rocket.jpg"
ROCKET_CAPTION = "FINALLY PASSED MY EXAM TO THE MOON"
PROB_TOL, SCORE_TOL = 1e-4, 2e-3  # the app and this process may sum in different orders
BASE_RATES = json.loads((ROOT / "assets" / "model" / "config.json").read_text())["base_rates"]


@pytest.fixture(scope="module")
def app() -> Iterator[AppServer]:
    with AppServer() as server:
        yield server


@pytest.fixture(scope="module")
def client(app: AppServer) -> Iterator[Client]:
    c = Client(app.url, verbose=False)
    yield c
    c.close()


@pytest.fixture(scope="module")
def memes(predictor) -> service.MemeService:
    """The service the app runs, in this process, for the expected answers."""
    return service.MemeService(predictor)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Awkward and broken pictures."""
    out = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8))
    for fmt, suffix in (("PNG", "png"), ("JPEG", "jpg")):
        data = io.BytesIO()
        noise.save(data, fmt)
        (out / f"truncated.{suffix}").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    (out / "not_an_image.png").write_bytes(b"this is a text file, not a picture\n" * 20)
    (out / "empty.png").write_bytes(b"")
    Image.new("RGB", (1, 1), "blue").save(out / "one_pixel.png")
    (out / "bomb.png").write_bytes(bomb_png(30_000, 30_000))
    (out / "bomb_below_2x.png").write_bytes(bomb_png(10_000, 10_000))  # warns only, in plain Pillow
    frames = [Image.new("RGB", (200, 160), c) for c in ("red", "green", "blue")]
    frames[0].save(out / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    photo = Image.open(ROCKET)
    photo.convert("RGBA").save(out / "rgba.png")
    photo.convert("CMYK").save(out / "cmyk.jpg")
    photo.convert("L").save(out / "grey.png")
    grey16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype("<u2")
    Image.frombytes("I;16", photo.size, grey16.tobytes()).save(out / "grey16.png")
    (out / "too_big.png").write_bytes(rng.integers(0, 255, 11 * 2**20, dtype=np.uint8).tobytes())
    return out


def confidences(label_output: dict) -> dict[str, float]:
    """A `gr.Label` output as {label: probability}."""
    return {c["label"]: c["confidence"] for c in label_output["confidences"]}


def assert_close(got: dict[str, float], want: dict[str, float], tol: float) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=tol), key


def predict(client: Client, image: Path, caption: str) -> tuple[dict, dict]:
    levels, summary, typical = client.predict(handle_file(str(image)), caption, api_name="/predict")
    assert confidences(typical) == pytest.approx(BASE_RATES, abs=1e-4)
    return confidences(levels), confidences(summary)


def assert_serving(client: Client) -> None:
    """A normal request right after a bad one still gets a proper answer."""
    levels, summary = predict(client, ROCKET, ROCKET_CAPTION)
    assert set(levels) == set(LABELS) and sum(levels.values()) == pytest.approx(1, abs=1e-4)
    assert set(summary) == set(LABELS3)


# --- the API, with real outputs -------------------------------------------------------------


def test_named_endpoints(client: Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/ocr", "/analyze", "/predict", "/explain"}
    for name, info in endpoints.items():
        assert info["parameters"][0]["parameter_name"] == "image", name


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_ocr_reads_the_caption(client: Client) -> None:
    caption = client.predict(handle_file(str(ROCKET)), api_name="/ocr")
    assert isinstance(caption, str)
    assert {"FINALLY", "PASSED", "EXAM"} <= set(caption.upper().split())


def test_predict_matches_the_library(client: Client, memes: service.MemeService) -> None:
    for example in EXAMPLES[:3]:
        path = EXAMPLES_DIR / example["file"]
        levels, summary = predict(client, path, example["caption"])
        want = memes.predict(str(path), example["caption"])
        assert_close(levels, want.levels, PROB_TOL)
        assert_close(summary, want.summary, PROB_TOL)


def test_analyze_gives_both_answers_in_one_call(client: Client, memes: service.MemeService) -> None:
    levels, summary, typical, note, overlay, words, shares = client.predict(
        handle_file(str(ROCKET)), ROCKET_CAPTION, api_name="/analyze"
    )
    want = memes.predict(str(ROCKET), ROCKET_CAPTION)
    assert_close(confidences(levels), want.levels, PROB_TOL)
    assert_close(confidences(summary), want.summary, PROB_TOL)
    assert confidences(typical) == pytest.approx(BASE_RATES, abs=1e-4)
    assert note == want.shift_note
    explained = memes.explain(str(ROCKET), ROCKET_CAPTION)
    assert [w["token"] for w in words] == ROCKET_CAPTION.split()
    assert [w["class_or_confidence"] for w in words] == pytest.approx(
        [s for _, s in explained.words], abs=SCORE_TOL
    )
    assert_close(confidences(shares), explained.modality, SCORE_TOL)
    with Image.open(overlay) as picture:
        assert picture.size == explained.overlay.size


def test_explain_matches_the_library(client: Client, memes: service.MemeService) -> None:
    overlay, words, shares = client.predict(
        handle_file(str(ROCKET)), ROCKET_CAPTION, api_name="/explain"
    )
    want = memes.explain(str(ROCKET), ROCKET_CAPTION)
    with Image.open(overlay) as picture:
        assert picture.size == Image.open(ROCKET).size == want.overlay.size
        diff = np.abs(np.asarray(picture.convert("RGB"), float) - np.asarray(want.overlay, float))
        assert diff.mean() < 4  # the page gets a JPEG of the same overlay
    assert [w["token"] for w in words] == ROCKET_CAPTION.split()
    scores = [w["class_or_confidence"] for w in words]
    assert scores == pytest.approx([s for _, s in want.words], abs=SCORE_TOL)
    assert all(-1 <= s <= 1 for s in scores)
    assert_close(confidences(shares), want.modality, SCORE_TOL)
    assert sum(confidences(shares).values()) == pytest.approx(1)


# --- bad input: a clear message, and the app keeps serving ---------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not_an_image.png", "not a picture memesent can read"),
        ("empty.png", "not a picture memesent can read"),
        ("truncated.png", "damaged or incomplete"),
        ("truncated.jpg", "damaged or incomplete"),
        ("one_pixel.png", "only 1×1 pixels"),
        ("bomb.png", "too large to open safely"),
        ("bomb_below_2x.png", "too large to open safely"),
    ],
)
def test_bad_picture(client: Client, files: Path, name: str, message: str) -> None:
    for endpoint, args in (
        ("/predict", ("a caption",)),
        ("/explain", ("a caption",)),
        ("/ocr", ()),
    ):
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(files / name)), *args, api_name=endpoint)
    assert_serving(client)


@pytest.mark.parametrize("name", ["animated.gif", "rgba.png", "cmyk.jpg", "grey.png", "grey16.png"])
def test_unusual_modes_are_read(
    client: Client, memes: service.MemeService, files: Path, name: str
) -> None:
    levels, summary = predict(client, files / name, ROCKET_CAPTION)
    want = memes.predict(str(files / name), ROCKET_CAPTION)
    assert_close(levels, want.levels, PROB_TOL)
    assert_close(summary, want.summary, PROB_TOL)


def test_no_picture(client: Client) -> None:
    with pytest.raises(AppError, match="Add a meme first"):
        client.predict(None, "a caption", api_name="/predict")
    assert_serving(client)


def test_upload_size_is_limited(app: AppServer, client: Client, files: Path) -> None:
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        predict(client, files / "too_big.png", "a caption")
    with (files / "too_big.png").open("rb") as data:
        response = httpx.post(f"{app.url}gradio_api/upload", files={"files": data}, timeout=60)
    assert response.status_code == 413
    assert_serving(client)


def test_empty_caption_judges_the_picture(client: Client, memes: service.MemeService) -> None:
    levels, _ = predict(client, ROCKET, "   ")
    assert_close(levels, memes.predict(str(ROCKET), "").levels, PROB_TOL)
    _, words, shares = client.predict(handle_file(str(ROCKET)), "", api_name="/explain")
    assert words == []
    assert sum(confidences(shares).values()) == pytest.approx(1)


def test_ten_thousand_character_caption(client: Client) -> None:
    caption = ("very long caption " * 600)[:9_999] + "."
    for endpoint in ("/predict", "/explain"):
        with pytest.raises(AppError, match="10,000 characters; memesent reads at most 1,000"):
            client.predict(handle_file(str(ROCKET)), caption, api_name=endpoint)
    assert_serving(client)


def test_emoji_only_caption(client: Client, memes: service.MemeService) -> None:
    caption = "😂😂 🔥💀"
    levels, _ = predict(client, ROCKET, caption)
    assert_close(levels, memes.predict(str(ROCKET), caption).levels, PROB_TOL)
    _, words, _ = client.predict(handle_file(str(ROCKET)), caption, api_name="/explain")
    assert [w["token"] for w in words] == ["😂😂", "🔥💀"]


def test_twenty_concurrent_clients(app: AppServer, memes: service.MemeService) -> None:
    jobs = [
        (EXAMPLES_DIR / e["file"], e["caption"] if i < 5 else "what a great day")
        for i, e in enumerate(EXAMPLES * 4)
    ]
    expected = {job: memes.predict(str(job[0]), job[1]) for job in set(jobs)}
    expected_words = {job: memes.explain(str(job[0]), job[1]).words for job in set(jobs)}

    def analyse(job: tuple[Path, str]) -> tuple[dict, list]:
        c = Client(app.url, verbose=False)
        try:
            levels, _ = predict(c, *job)
            _, words, _ = c.predict(handle_file(str(job[0])), job[1], api_name="/explain")
        finally:
            c.close()
        return levels, words

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(analyse, jobs))
    for job, (levels, words) in zip(jobs, answers, strict=True):
        assert_close(levels, expected[job].levels, PROB_TOL)
        want = [score for _, score in expected_words[job]]
        assert [w["class_or_confidence"] for w in words] == pytest.approx(want, abs=SCORE_TOL)
    assert_serving(Client(app.url, verbose=False))


def test_tesseract_missing(tmp_path: Path) -> None:
    """Without tesseract, OCR gives an empty caption (the page shows a note); scoring works."""
    no_tesseract = tmp_path / "bin"
    no_tesseract.mkdir()
    with AppServer("--ocr-engine", "tesseract", env={"PATH": str(no_tesseract)}) as server:
        c = Client(server.url, verbose=False)
        assert c.predict(handle_file(str(ROCKET)), api_name="/ocr") == ""
        assert_serving(c)
        c.close()


# --- the service, in this process -----------------------------------------------------------


def test_read_caption_without_tesseract_leaves_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    guess = service.read_caption(ROCKET, engine="tesseract")
    assert guess.caption == ""
    assert "Tesseract" in guess.note and "type the caption" in guess.note


def test_large_pictures_are_scaled_down() -> None:
    picture = inputs.open_meme(Image.new("RGB", (3000, 1500), "white"))
    assert picture.size == (inputs.ANALYSIS_SIDE, inputs.ANALYSIS_SIDE // 2)
    picture = inputs.open_meme(Image.new("RGB", (3000, 1500), "white"), inputs.OCR_SIDE)
    assert picture.size == (inputs.OCR_SIDE, inputs.OCR_SIDE // 2)


def test_one_backbone_pass_per_analysis(predictor, monkeypatch, tmp_path: Path) -> None:
    """Predict, then explain, the same meme: the image backbone runs once, and the answers are
    the library's own; the cache keeps at most `cache_size` memes."""
    memes = service.MemeService(predictor, cache_size=3)
    passes = []
    real = predictor.image_encoder.feature_map
    monkeypatch.setattr(
        predictor.image_encoder, "feature_map", lambda x: passes.append(1) or real(x)
    )
    view = memes.predict(str(ROCKET), ROCKET_CAPTION)
    explained = memes.explain(str(ROCKET), ROCKET_CAPTION)
    assert len(passes) == 1
    picture = inputs.open_meme(str(ROCKET))
    assert view.levels == pytest.approx(predictor.predict(picture, ROCKET_CAPTION).probs, abs=1e-6)
    want = predictor.explain(picture, ROCKET_CAPTION)
    assert [s for _, s in explained.words] == pytest.approx([s for _, s in want.words], abs=1e-4)
    assert explained.overlay.size == picture.size and max(picture.size) <= inputs.ANALYSIS_SIDE
    before = len(passes)
    memes.predict(str(ROCKET), "another caption")  # another key: another pass
    assert len(passes) == before + 1
    for i in range(4):
        copy = tmp_path / f"meme{i}.png"
        Image.open(ROCKET).rotate(i + 1).save(copy)
        memes.predict(str(copy), ROCKET_CAPTION)
    assert len(memes._cache) == 3


def test_model_summary_is_worded_from_the_models_own_metrics(tmp_path: Path) -> None:
    assert "no held-out measurements" in wording.model_summary(tmp_path)
    shipped = json.loads((ROOT / "assets" / "model" / "metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps(shipped))
    summary = wording.model_summary(tmp_path)
    test = shipped["test"]
    assert f"On {test['n']:,} memes it never saw" in summary
    assert f"log-loss {test['log_loss_3']:.3f} against {test['log_loss_base_3']:.3f}" in summary
    assert f"{shipped['data']['memes']:,} labelled memes" in summary and "#model-card" in summary

    better = json.loads(json.dumps(shipped))
    better["test"]["auroc_3"]["negative"] = 0.83
    better["test"]["ci"]["auroc_3_negative"] = [0.78, 0.88]
    (tmp_path / "metrics.json").write_text(json.dumps(better))
    changed = wording.model_summary(tmp_path)
    assert "negative memes well (AUROC 0.83, 95 % interval 0.78–0.88)" in changed
    assert changed != summary


def test_model_card(tmp_path: Path) -> None:
    assert "no model card yet" in wording.model_card(tmp_path)
    (tmp_path / "MODEL_CARD.md").write_text("# The card\n")
    assert wording.model_card(tmp_path) == "# The card\n"
