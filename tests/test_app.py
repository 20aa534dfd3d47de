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
from memesent.quality import ReadingMargins
from webapp import inputs, service, wording
from webapp.server import ROOT, AppServer

pytestmark = pytest.mark.slow  # the app in a subprocess

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

EXAMPLES_DIR = ROOT / "assets" / "examples"
EXAMPLES = json.loads((EXAMPLES_DIR / "examples.json").read_text())
ROCKET = EXAMPLES_DIR / "rocket.jpg"
ROCKET_CAPTION = "FINALLY PASSED MY EXAM TO THE MOON"
PROB_TOL, SCORE_TOL = 1e-4, 2e-3  # the app and this process may sum in different orders
CONFIG = json.loads((ROOT / "assets" / "model" / "config.json").read_text())
BASE_RATES, POPULATION = CONFIG["base_rates"], CONFIG["base_rates_of"]


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
def memes(predictor, shipped_model) -> service.MemeService:
    """The service the app runs, in this process, for the expected answers (with the margins
    that say when words and picture disagree, as `MemeService.load` reads them)."""
    return service.MemeService(predictor, margins=ReadingMargins.load(shipped_model))


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
    levels, summary, typical, readings, population = client.predict(
        handle_file(str(image)), caption, api_name="/predict"
    )
    assert confidences(typical) == pytest.approx(BASE_RATES, abs=1e-4)
    assert population == POPULATION
    assert set(readings) == {"text", "image", "both"}
    assert readings["both"] == pytest.approx(confidences(levels), abs=1e-4)
    return confidences(levels), confidences(summary)


def assert_serving(client: Client) -> None:
    """A normal request right after a bad one still gets a proper answer."""
    levels, summary = predict(client, ROCKET, ROCKET_CAPTION)
    assert set(levels) == set(LABELS) and sum(levels.values()) == pytest.approx(1, abs=1e-4)
    assert set(summary) == set(LABELS3)


# --- the API, with real outputs -------------------------------------------------------------


def test_named_endpoints(client: Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/ocr", "/analyze", "/rescore", "/predict", "/explain", "/collection"}
    for name, info in endpoints.items():
        first = "files" if name == "/collection" else "image"
        assert info["parameters"][0]["parameter_name"] == first, name
        unnamed = [r["label"] for r in info["returns"] if r["label"].startswith("value_")]
        assert not unnamed, f"{name} returns outputs without names: {unnamed}"


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


def test_predict_gives_the_three_readings(client: Client, memes: service.MemeService) -> None:
    *_, readings, _ = client.predict(handle_file(str(ROCKET)), ROCKET_CAPTION, api_name="/predict")
    want = memes.predict(str(ROCKET), ROCKET_CAPTION).readings
    for reading in ("text", "image", "both"):
        assert_close(readings[reading], want[reading], PROB_TOL)
    *_, words_only, _ = client.predict(None, ROCKET_CAPTION, api_name="/predict")
    assert words_only["image"] is None
    assert_close(words_only["text"], want["text"], PROB_TOL)


def test_analyze_gives_the_answer_the_explanation_and_the_card(
    client: Client, memes: service.MemeService
) -> None:
    answer, readings, note, overlay, words, shares, card = client.predict(
        handle_file(str(ROCKET)), ROCKET_CAPTION, api_name="/analyze"
    )
    want = memes.predict(str(ROCKET), ROCKET_CAPTION)
    assert answer == want.answer_html and readings == want.readings_html
    assert note == want.shift_note
    explained = memes.explain(str(ROCKET), ROCKET_CAPTION)
    assert words == explained.words_html
    assert_close(confidences(shares), explained.modality, SCORE_TOL)
    assert overlay["label"] == f"Where the picture drove “{explained.target.replace('_', ' ')}”"
    with Image.open(overlay["value"]) as picture:  # updates: the label names the level
        assert picture.size == explained.overlay.size
    with Image.open(card["value"]) as png:
        assert png.format == "PNG" and png.size == (1200, 675)


def test_rescore_follows_the_caption(client: Client, memes: service.MemeService) -> None:
    meme = handle_file(str(ROCKET))
    for caption in ("best day of my life, i love it", "worst day of my life, i hate it"):
        answer, readings, note, *stale = client.predict(meme, caption, api_name="/rescore")
        want = memes.predict(str(ROCKET), caption)
        assert answer == want.answer_html and readings == want.readings_html
        assert note == want.shift_note
        assert "Press Analyze" in stale[1]  # the explanation waits for Analyze


def _call(http: httpx.Client, api: str, data: list, session: str) -> list:
    """One event through Gradio's HTTP API in the page session `session`; its last outputs."""
    event = http.post(f"gradio_api/call/{api}", json={"data": data, "session_hash": session})
    kind = None
    with http.stream("GET", f"gradio_api/call/{api}/{event.json()['event_id']}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                assert kind == "complete", line
                return json.loads(line.removeprefix("data:"))
    raise AssertionError(f"/{api} ended without an answer")


def test_a_late_live_update_keeps_the_explanation_of_its_caption(app: AppServer) -> None:
    """A live update queued behind Analyze, for the caption Analyze explained, leaves the
    explanation on the page; one for another caption, or from another page, clears it."""
    with httpx.Client(base_url=app.url, timeout=120) as http:
        with ROCKET.open("rb") as picture:
            path = http.post("gradio_api/upload", files={"files": picture}).json()[0]
        meme = {"path": path, "meta": {"_type": "gradio.FileData"}}
        explained = _call(http, "analyze", [meme, ROCKET_CAPTION], "page")
        assert "Press Analyze" not in explained[4]
        late = _call(http, "rescore", [meme, ROCKET_CAPTION], "page")
        assert late[:3] == explained[:3]
        assert all(out["__type__"] == "update" and "value" not in out for out in late[3:])
        for caption, page in ((ROCKET_CAPTION + "!", "page"), (ROCKET_CAPTION, "another page")):
            fresh = _call(http, "rescore", [meme, caption], page)
            assert "Press Analyze" in fresh[4] and fresh[3]["value"] is None


def test_the_app_lets_go_of_the_least_recently_used_sessions() -> None:
    """`--max-sessions 3`: the page's explanation outlives two newer sessions, not three (each
    raw API call opens a session, and Gradio keeps each one's copy of the page's settings)."""
    with (
        AppServer("--max-sessions", "3") as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        with ROCKET.open("rb") as picture:
            path = http.post("gradio_api/upload", files={"files": picture}).json()[0]
        meme = {"path": path, "meta": {"_type": "gradio.FileData"}}
        try:  # a first call on a cold app once ended in an error without a message: its log
            _call(http, "predict", [meme, ROCKET_CAPTION], "warming up")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{server.tail()}") from err
        _call(http, "analyze", [meme, ROCKET_CAPTION], "page")
        _call(http, "predict", [meme, ROCKET_CAPTION], "a")
        kept = _call(http, "rescore", [meme, ROCKET_CAPTION], "page")  # all three held
        assert all(out["__type__"] == "update" and "value" not in out for out in kept[3:])
        for newer in ("b", "c", "d"):  # "warming up" goes, then a, then the page
            _call(http, "predict", [meme, ROCKET_CAPTION], newer)
        fresh = _call(http, "rescore", [meme, ROCKET_CAPTION], "page")
    assert "Press Analyze" in fresh[4] and fresh[3]["value"] is None


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


def test_no_picture_and_no_caption(client: Client) -> None:
    with pytest.raises(AppError, match="Add a meme first"):
        client.predict(None, "  ", api_name="/predict")
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


def test_one_backbone_pass_per_picture(predictor, monkeypatch, tmp_path: Path) -> None:
    """Predict, explain and re-caption the same picture: the image backbone runs once, every
    caption only goes through the text backbone, and the answers are the library's own; the
    cache keeps at most `cache_size` pictures."""
    memes = service.MemeService(predictor, cache_size=3)
    passes, words = [], []
    real_map, real_text = predictor.image_encoder.feature_map, predictor.text_encoder.encode
    monkeypatch.setattr(
        predictor.image_encoder, "feature_map", lambda x: passes.append(1) or real_map(x)
    )
    monkeypatch.setattr(
        predictor.text_encoder, "encode", lambda *a, **k: words.append(1) or real_text(*a, **k)
    )
    view = memes.predict(str(ROCKET), ROCKET_CAPTION)
    explained = memes.explain(str(ROCKET), ROCKET_CAPTION)
    assert len(passes) == 1 and len(words) == 1
    picture = inputs.open_meme(str(ROCKET))
    want = predictor.predict(picture, ROCKET_CAPTION)
    assert view.levels == pytest.approx(want.probs, abs=1e-6)
    assert view.readings["image"] == pytest.approx(want.readings["image"], abs=1e-6)
    want_words = predictor.explain(picture, ROCKET_CAPTION).words
    assert [s for _, s in explained.words] == pytest.approx([s for _, s in want_words], abs=1e-4)
    assert explained.overlay.size == picture.size and max(picture.size) <= inputs.ANALYSIS_SIDE
    before = len(passes), len(words)
    for caption in ("another caption", "and one more", ""):  # typing: words only
        typed = memes.predict(str(ROCKET), caption)
        expected = predictor.predict(picture, caption)
        assert typed.levels == pytest.approx(expected.probs, abs=1e-6)
    assert len(passes) == before[0] + 3  # only `predictor.predict` above ran the picture again
    for i in range(4):
        copy = tmp_path / f"meme{i}.png"
        Image.open(ROCKET).rotate(i + 1).save(copy)
        memes.predict(str(copy), ROCKET_CAPTION)
    assert len(memes._pictures) == 3


def test_model_summary_is_worded_from_the_models_own_metrics(tmp_path: Path) -> None:
    assert "no held-out measurements" in wording.model_summary(tmp_path)
    shipped = json.loads((ROOT / "assets" / "model" / "metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps(shipped))
    summary = wording.model_summary(tmp_path)
    test = shipped["test"]
    assert f"On {test['n']:,} {shipped['calibrated_on']} memes it never saw" in summary
    assert f"AUROC {test['auroc_valence']:.2f}" in summary
    assert f"log-loss {test['log_loss_5']:.3f} against {test['log_loss_base_5']:.3f}" in summary
    examples = sum(d["examples"] for d in shipped["data"].values())
    assert f"{examples:,} labelled examples" in summary and "#model-card" in summary

    better = json.loads(json.dumps(shipped))
    better["test"]["auroc_valence"] = 0.93
    better["test"]["ci"]["auroc_valence"] = [0.9, 0.95]
    (tmp_path / "metrics.json").write_text(json.dumps(better))
    changed = wording.model_summary(tmp_path)
    assert "well (AUROC 0.93, 95 % interval 0.90–0.95" in changed
    assert changed != summary


def test_model_card(tmp_path: Path) -> None:
    assert "no model card yet" in wording.model_card(tmp_path)
    (tmp_path / "MODEL_CARD.md").write_text("# The card\n")
    assert wording.model_card(tmp_path) == "# The card\n"


def test_the_app_leaves_no_file_behind(tmp_path: Path) -> None:
    """Every file the app writes (uploads, result cards, collection runs) goes on the uploads'
    schedule: with a maximum age of 2 s, nothing older is left after a few analyses."""
    import time

    meme = tmp_path / "upload.png"  # not an example meme: Gradio keeps those for the app's life
    Image.open(ROCKET).convert("L").save(meme)
    with AppServer("--delete-uploads-after", "2") as server:
        c = Client(server.url, verbose=False, download_files=False)  # its files go in 2 s
        for caption in ("one", "two", "three"):
            *_, card = c.predict(handle_file(str(meme)), caption, api_name="/analyze")
            assert Path(card["value"]["path"]).is_relative_to(server.folder), card  # the app's own
        c.predict([handle_file(str(meme))], None, False, "csv", api_name="/collection")
        time.sleep(7)  # the sweep runs every 2 s and takes what is 2 s old
        now = time.time()
        # the app's own files, and the uploads of this test (Gradio keeps the example memes'
        # copies for the app's life)
        ours = [*server.folder.glob("memesent-app-*/**/*"), *server.folder.rglob("upload.png")]
        left = [p for p in ours if p.is_file() and now - p.stat().st_mtime > 5]
        c.close()
    assert left == [], left
