"""Caption OCR from the outside: `memesent ocr --engine` and the app's `read_caption`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import draw_meme, photo, run_memesent

from memesent.ocr import DEFAULT_ENGINE, ENGINES, paddle, tesseract

ROOT = Path(__file__).resolve().parents[1]
WORDS = {"FINALLY", "FRIDAY", "WEEKEND", "MODE"}


def installed(engine: str) -> bool:
    return paddle.available() if engine == "ppocr" else tesseract.available()


EACH_ENGINE = [
    pytest.param(e, marks=pytest.mark.skipif(not installed(e), reason=f"{e} not installed"))
    for e in ENGINES
]


run = run_memesent


@pytest.fixture(scope="module")
def meme(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ocr") / "meme.png"
    draw_meme(photo("rocket"), "FINALLY FRIDAY", "WEEKEND MODE").save(path)
    return path


@pytest.mark.parametrize("engine", EACH_ENGINE)
def test_ocr_command_reads_with_the_engine_asked_for(meme, engine):
    proc = run("ocr", str(meme), "--engine", engine, "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["engine"] == engine and 0 < row["confidence"] <= 1
    assert WORDS <= set(row["text"].upper().split()), row["text"]


@pytest.mark.skipif(not installed(DEFAULT_ENGINE), reason="the default engine is not installed")
def test_ocr_command_defaults_to_the_default_engine(meme):
    proc = run("ocr", str(meme), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["engine"] == DEFAULT_ENGINE


def test_ocr_command_refuses_an_unknown_engine(meme):
    proc = run("ocr", str(meme), "--engine", "easyocr")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_ocr_command_without_ppocr_stops_once_with_the_install_hint(monkeypatch, tmp_path, capsys):
    from memesent.cli import main

    monkeypatch.setattr(paddle, "PACKAGE", "no_such_ocr_package")
    for name in ("a.png", "b.png"):
        draw_meme(photo("coffee"), "TOP").save(tmp_path / name)
    code = main(["ocr", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--engine", "ppocr"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("memesent:") == 1 and "pip install rapidocr==3.7.0" in err


def test_read_caption_says_which_engine_is_missing(monkeypatch, tmp_path):
    from webapp import service

    monkeypatch.setattr(paddle, "PACKAGE", "no_such_ocr_package")
    monkeypatch.setattr(tesseract.pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no"))
    picture = draw_meme(photo("coffee"), "TOP")
    for engine, name in (("ppocr", "PP-OCR"), ("tesseract", "Tesseract")):
        guess = service.read_caption(picture, engine=engine)
        assert guess.caption == "" and name in guess.note and "type the caption" in guess.note


@pytest.mark.parametrize("engine", EACH_ENGINE)
def test_read_caption_gives_the_engines_caption(meme, engine):
    from webapp import service

    guess = service.read_caption(meme, engine=engine)
    assert WORDS <= set(guess.caption.upper().split()) and guess.note == ""
