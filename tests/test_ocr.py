"""Caption OCR: rendered memes are read back, failures are typed, real memes keep their recall."""

from __future__ import annotations

import shutil
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from memesent import ocr
from memesent.ocr import (
    Caption,
    OCRTimeoutError,
    TesseractNotFoundError,
    extract_caption,
    tesseract_available,
)
from memesent.ocr_metrics import normalise_words, overlap, read_transcriptions

MULTIOFF = Path(__file__).resolve().parents[2] / "shared" / "data" / "multioff-ocr"
FONTS = Path("/usr/share/fonts/truetype/dejavu")

needs_tesseract = pytest.mark.skipif(
    not tesseract_available(), reason="the tesseract program is not installed"
)


def font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (fonts-dejavu-core), else Pillow's own scalable font."""
    path = FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default(size)


def fitting_font(draw: ImageDraw.ImageDraw, text: str, size: int, width: float):
    """The font at `size`, or smaller until `text` fits in `width`."""
    while size > 8 and draw.textlength(text, font=font(size)) > width:
        size -= 2
    return font(size)


def busy_background(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Colourful blobs, stripes and noise: the kind of picture that fools page segmentation."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width] / max(size)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(2, 12), rng.uniform(2, 12), rng.uniform(0, 6)
        wave = np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        channels.append(127 + 90 * wave + rng.normal(0, 25, (height, width)))
    img = Image.fromarray(np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(10, max(11, width // 6)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=colour)
    return img


def classic_meme(
    top: str, bottom: str, size: tuple[int, int] = (600, 500), seed: int = 0
) -> Image.Image:
    """White bold caption with a black outline at the top and the bottom of a busy picture."""
    img = busy_background(size, seed)
    draw = ImageDraw.Draw(img)
    stroke = max(2, size[1] // 120)
    for text, y in ((top, size[1] // 25), (bottom, size[1] - size[1] // 6)):
        f = fitting_font(draw, text, size[1] // 11, 0.92 * size[0])
        x = (size[0] - draw.textlength(text, font=f)) / 2
        draw.text((x, y), text, font=f, fill="white", stroke_width=stroke, stroke_fill="black")
    return img


def panel_meme(lines: list[str], width: int = 700) -> Image.Image:
    """Dark text on a light panel above a picture, as in screenshots of posts."""
    f = font(width // 28, bold=False)
    line_height = int(width // 28 * 1.5)
    panel = 20 + line_height * len(lines)
    img = Image.new("RGB", (width, panel + width // 2), (250, 250, 248))
    img.paste(busy_background((width, width // 2), seed=7), (0, panel))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((20, 12 + i * line_height), line, font=f, fill=(20, 20, 30))
    return img


def recall(expected: str, got: str) -> float:
    reference = normalise_words(expected)
    return overlap(reference, normalise_words(got)) / len(reference)


def precision(expected: str, got: str) -> float:
    hypothesis = normalise_words(got)
    return overlap(normalise_words(expected), hypothesis) / max(1, len(hypothesis))


CLASSIC = [
    ("WHEN THE WIFI COMES BACK", "AFTER FIVE MINUTES", 0),
    ("NOBODY:", "ABSOLUTELY NO ONE AT ALL:", 1),
    ("ME EXPLAINING MY CODE", "TO THE RUBBER DUCK", 2),
]
PANEL = [
    "When you finally understand the homework",
    "but the teacher already moved on to the",
    "next chapter and nobody told you about it",
]


def read_all(images: list, expected: list[str]) -> tuple[float, float, list[str]]:
    """Micro-averaged word recall and precision of extract_caption over several memes."""
    matched = reference_words = hypothesis_words = 0
    texts = []
    for image, text in zip(images, expected, strict=True):
        got = extract_caption(image).text
        texts.append(got)
        reference, hypothesis = normalise_words(text), normalise_words(got)
        matched += overlap(reference, hypothesis)
        reference_words += len(reference)
        hypothesis_words += len(hypothesis)
    return matched / reference_words, matched / max(1, hypothesis_words), texts


@needs_tesseract
def test_classic_white_outlined_captions_are_read_top_first():
    memes = [classic_meme(top, bottom, seed=seed) for top, bottom, seed in CLASSIC]
    expected = [f"{top} {bottom}" for top, bottom, _ in CLASSIC]
    got_recall, got_precision, texts = read_all(memes, expected)
    assert got_recall >= 0.9, texts
    assert got_precision >= 0.9, texts
    for (top, bottom, _), text in zip(CLASSIC, texts, strict=True):
        only_top = set(normalise_words(top)) - set(normalise_words(bottom))
        only_bottom = set(normalise_words(bottom)) - set(normalise_words(top))
        lines = [set(normalise_words(line)) for line in text.split("\n")]
        first_top = min(i for i, line in enumerate(lines) if line & only_top)
        first_bottom = min(i for i, line in enumerate(lines) if line & only_bottom)
        assert first_top < first_bottom, text


@needs_tesseract
def test_caption_fields():
    top, bottom, seed = CLASSIC[0]
    cap = extract_caption(classic_meme(top, bottom, seed=seed))
    assert isinstance(cap, Caption)
    assert cap.lines == cap.text.split("\n")
    assert all(line.strip() == line and line for line in cap.lines)
    assert 0.5 < cap.confidence <= 1.0


@needs_tesseract
def test_dark_text_on_light_panel_is_read_line_by_line():
    cap = extract_caption(panel_meme(PANEL))
    expected = " ".join(PANEL)
    assert recall(expected, cap.text) >= 0.9, cap.text
    assert precision(expected, cap.text) >= 0.8, cap.text
    assert len(cap.lines) >= len(PANEL)
    assert "homework" in cap.lines[0]


@needs_tesseract
def test_small_images_are_upscaled_and_read():
    memes = [classic_meme(top, bottom, (300, 250), seed) for top, bottom, seed in CLASSIC]
    got_recall, _, texts = read_all(memes, [f"{top} {bottom}" for top, bottom, _ in CLASSIC])
    assert got_recall >= 0.85, texts


@needs_tesseract
def test_noisy_jpegs_from_paths(tmp_path):
    paths = []
    for top, bottom, seed in CLASSIC:
        path = tmp_path / f"meme{seed}.jpg"
        classic_meme(top, bottom, seed=seed).save(path, format="JPEG", quality=35)
        paths.append(str(path) if seed % 2 else path)
    got_recall, _, texts = read_all(paths, [f"{top} {bottom}" for top, bottom, _ in CLASSIC])
    assert got_recall >= 0.85, texts


PHOTOS = [
    ("astronaut", "ONE DOES NOT SIMPLY", "WALK INTO MORDOR"),
    ("coffee", "BUT FIRST", "LET ME FINISH THIS COFFEE"),
    ("chelsea", "I CAN HAS", "CHEEZBURGER NOW PLEASE"),
]


@needs_tesseract
def test_captions_over_sample_photos():
    data = pytest.importorskip("skimage.data")
    memes = []
    for name, top, bottom in PHOTOS:
        picture = Image.fromarray(getattr(data, name)()).convert("RGB")
        draw = ImageDraw.Draw(picture)
        height = picture.height
        for text, y in ((top, height // 30), (bottom, height - height // 7)):
            f = fitting_font(draw, text, height // 11, 0.92 * picture.width)
            x = (picture.width - draw.textlength(text, font=f)) / 2
            draw.text((x, y), text, font=f, fill="white", stroke_width=3, stroke_fill="black")
        memes.append(picture)
    expected = [f"{top} {bottom}" for _, top, bottom in PHOTOS]
    got_recall, got_precision, texts = read_all(memes, expected)
    assert got_recall >= 0.75, texts  # 0.80 measured; plain image_to_string reads almost none
    assert got_precision >= 0.8, texts


@needs_tesseract
@pytest.mark.parametrize("colour", ["white", "black", (128, 128, 128)])
def test_blank_image_gives_empty_caption(colour):
    cap = extract_caption(Image.new("RGB", (640, 480), colour))
    assert cap == Caption(text="", confidence=0.0, lines=[])


@needs_tesseract
def test_busy_picture_without_text_gives_little_or_nothing():
    cap = extract_caption(busy_background((600, 500), seed=3))
    assert len(normalise_words(cap.text)) <= 2, cap.text


def test_missing_tesseract_is_a_typed_error(monkeypatch, tmp_path):
    monkeypatch.setattr(ocr.pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "nope"))
    assert tesseract_available() is False
    with pytest.raises(TesseractNotFoundError, match="apt-get install tesseract-ocr"):
        extract_caption(Image.new("RGB", (200, 100), "white"))
    monkeypatch.undo()
    assert tesseract_available() is (shutil.which("tesseract") is not None)


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in tesseract is a shell script")
def test_slow_tesseract_times_out(monkeypatch, tmp_path):
    fake = tmp_path / "tesseract"  # answers --version, then hangs on any page
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "tesseract 5.3.0"; exit 0; fi\n'
        "exec sleep 20\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(ocr.pytesseract.pytesseract, "tesseract_cmd", str(fake))
    start = time.monotonic()
    with pytest.raises(OCRTimeoutError):
        extract_caption(Image.new("RGB", (200, 100), "white"), timeout=1.0)
    assert time.monotonic() - start < 5


def test_time_out_before_tesseract_starts():
    with pytest.raises(OCRTimeoutError):
        extract_caption(classic_meme(*CLASSIC[0][:2]), timeout=0.0)


def test_not_an_image_is_rejected(tmp_path):
    from memesent.images import NotAnImageError

    path = tmp_path / "notes.txt"
    path.write_text("not a picture")
    with pytest.raises(NotAnImageError):
        extract_caption(path)


def test_watermarks_are_dropped():
    words = [
        ocr._Word(t, 90.0, 10 * i, 0, 8, 10) for i, t in enumerate(["BAD", "made", "on", "imgur"])
    ]
    assert [w.text for w in ocr._without_watermarks(words)] == ["BAD"]
    words = [ocr._Word(t, 90.0, 10 * i, 0, 8, 10) for i, t in enumerate(["GOOD", "imgflip.com"])]
    assert [w.text for w in ocr._without_watermarks(words)] == ["GOOD"]


def test_benchmark_normalisation():
    assert normalise_words("I do n't know , it 's FINE !") == normalise_words(
        "i don't know it's fine"
    )
    assert normalise_words("Don’t") == ["dont"]
    assert overlap(["a", "a", "b"], ["a", "b", "b", "c"]) == 2


# Every fifth meme of ../shared/data/multioff-ocr (30 memes): extract_caption measured word
# recall 0.85 and precision 0.92 there, plain image_to_string 0.75 and 0.90. The floors leave
# room for other tesseract builds while still failing a fall back to plain OCR quality.
REAL_RECALL_FLOOR = 0.80
REAL_PRECISION_FLOOR = 0.85


@needs_tesseract
@pytest.mark.skipif(
    not (MULTIOFF / "labels.csv").is_file(),
    reason=f"real memes not found at {MULTIOFF} (../shared/data/multioff-ocr beside the repo)",
)
def test_real_memes_keep_their_recall(monkeypatch):
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    labels = read_transcriptions(MULTIOFF)[::5]
    images = [MULTIOFF / "images" / name for name, _ in labels]
    got_recall, got_precision, _ = read_all(images, [sentence for _, sentence in labels])
    assert got_recall >= REAL_RECALL_FLOOR
    assert got_precision >= REAL_PRECISION_FLOOR
