"""`python -m memesent predict|ocr` from a shell, as users run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import draw_meme, photo, run_memesent

from memesent.ocr import DEFAULT_ENGINE, engine_available

pytestmark = pytest.mark.slow  # the command line, in subprocesses and in this process

ROOT = Path(__file__).resolve().parents[1]


run = run_memesent


def test_predict_json_lines_match_the_library(tmp_path, shipped_model, predictor):
    paths = []
    for name in ("chelsea", "coffee"):
        paths.append(tmp_path / f"{name}.png")
        draw_meme(photo(name), "top text", "bottom text").save(paths[-1])
    bad = tmp_path / "bad.png"
    bad.write_text("no picture here")
    caption = "top text bottom text"
    proc = run(
        "predict",
        *map(str, paths),
        str(bad),
        "--caption",
        caption,
        "--json",
        "--model",
        str(shipped_model),
    )
    assert proc.returncode == 1, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in rows] == [*map(str, paths), str(bad)]
    for path, row in zip(paths, rows, strict=False):
        want = predictor.predict(path, caption)
        assert row["label"] == want.label and row["caption"] == caption
        assert row["probs"] == pytest.approx(want.probs, abs=1e-6)
        assert row["base_rates"] == pytest.approx(want.base_rates)
        assert row["population"] == want.population
        assert row["population"].startswith("the 416 MET-Meme memes the model was calibrated on")
        for reading in ("text", "image", "both"):
            assert row["readings"][reading] == pytest.approx(want.readings[reading], abs=1e-6)
    assert "not an image" in rows[2]["error"] and "bad.png" in proc.stderr


def test_caption_changes_the_answer(memesent_cli, tmp_path, shipped_model):
    path = tmp_path / "m.png"
    photo("coffee").save(path)
    answers = [
        json.loads(
            memesent_cli(
                "predict", str(path), "--caption", c, "--json", "--model", str(shipped_model)
            ).stdout
        )
        for c in ("best day of my life, so happy", "worst day ever, I hate everything")
    ]
    assert answers[0]["probs"] != pytest.approx(answers[1]["probs"], abs=1e-3)


def test_predict_plain_text(memesent_cli, tmp_path, predictor):
    path = tmp_path / "m.jpg"
    photo().save(path)
    proc = memesent_cli("predict", str(path), "--no-ocr")
    assert proc.returncode == 0, proc.stderr
    want = predictor.predict(path, "")
    assert proc.stdout.startswith(f"{path}: level {want.label}, class {want.label3} |")
    assert f"very_negative={want.probs['very_negative']:.3f}" in proc.stdout


def test_label_shares_shift_every_answer_and_say_so(memesent_cli, tmp_path, predictor):
    path = tmp_path / "m.png"
    draw_meme(photo("coffee"), "first coffee", "of the day").save(path)
    shares = "negative=0.09,neutral=0.31,positive=0.6"
    proc = memesent_cli(
        "predict",
        str(path),
        "--caption",
        "first coffee of the day",
        "--json",
        "--label-shares",
        shares,
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    shifted = predictor.with_label_shares({"negative": 0.09, "neutral": 0.31, "positive": 0.6})
    want = shifted.predict(path, "first coffee of the day")
    assert row["probs"] == pytest.approx(want.probs, abs=1e-6)
    assert row["readings"]["image"] == pytest.approx(want.readings["image"], abs=1e-6)
    assert row["base_rates"]["neutral"] == pytest.approx(0.31)
    assert row["population"] == want.population
    assert row["population"].endswith(
        "shifted to the label shares you gave: negative=0.09, neutral=0.31, positive=0.6"
    )


def test_shifted_answers_never_join_a_results_file_of_unshifted_ones(memesent_cli, tmp_path):
    path, out = tmp_path / "m.png", tmp_path / "results.csv"
    photo().save(path)
    assert memesent_cli("predict", str(path), "--out", str(out), "--quiet").returncode == 0
    before = out.read_text()
    shares = "negative=0.09,neutral=0.31,positive=0.6"
    proc = memesent_cli(
        "predict", str(path), "--out", str(out), "--quiet", "--label-shares", shares
    )
    assert proc.returncode == 2 and "holds answers of another model" in proc.stderr
    assert out.read_text() == before


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ("negative=0.5,positive=0.6", "name the five levels"),
        ("negative=0.2,neutral=0.3,positive=0.6", "must sum to 1, not 1.100"),
        ("negative:0.5", "LEVEL=SHARE"),
    ],
)
def test_bad_label_shares_stop_with_a_message(memesent_cli, tmp_path, shares, message):
    path = tmp_path / "m.png"
    photo().save(path)
    proc = memesent_cli("predict", str(path), "--label-shares", shares)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("memesent: --label-shares: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_model_folder_is_a_message_not_a_traceback(tmp_path):
    path = tmp_path / "m.png"
    photo().save(path)
    proc = run("predict", str(path), "--model", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "not a memesent model folder" in proc.stderr and "Traceback" not in proc.stderr


def test_predict_ocr_without_its_engine_stops_once_with_the_install_hint(
    monkeypatch, tmp_path, capsys
):
    """`predict --ocr` reads with the default engine (PP-OCR): without it, one message and
    status 2 before any meme is scored, rather than an error per meme."""
    from memesent.cli import main
    from memesent.ocr import paddle

    monkeypatch.setattr(paddle, "PACKAGE", "no_such_ocr_package")
    code = main(["predict", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--ocr"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("memesent:") == 1 and "pip install rapidocr" in err


needs_ocr = pytest.mark.skipif(
    not engine_available(DEFAULT_ENGINE),
    reason=f"the default OCR engine, {DEFAULT_ENGINE}, is not installed",
)


def test_the_ocr_option_says_which_engine_reads(capsys):
    from memesent.cli import main

    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    start = usage.index("--ocr read")
    ocr_help = usage[start : usage.index("--out OUT", start)]
    assert f"engine: {DEFAULT_ENGINE}" in ocr_help, ocr_help


@needs_ocr
def test_ocr_command_reads_captions(tmp_path):
    path = tmp_path / "meme.png"
    draw_meme(photo("rocket"), "FINALLY FRIDAY", "WEEKEND MODE").save(path)
    proc = run("ocr", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["image"] == str(path) and 0 < row["confidence"] <= 1
    assert {"FINALLY", "FRIDAY", "WEEKEND", "MODE"} <= set(row["text"].upper().split())
    plain = run("ocr", str(path))
    assert plain.stdout.startswith(f"== {path} (confidence ") and "FRIDAY" in plain.stdout


@needs_ocr
def test_predict_with_ocr_scores_the_caption_it_read(
    memesent_cli, tmp_path, shipped_model, predictor
):
    path = tmp_path / "meme.png"
    draw_meme(photo("rocket"), "FINALLY FRIDAY", "WEEKEND MODE").save(path)
    proc = memesent_cli("predict", str(path), "--ocr", "--json", "--model", str(shipped_model))
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert {"FINALLY", "FRIDAY", "WEEKEND", "MODE"} <= set(row["caption"].upper().split())
    want = predictor.predict(path, row["caption"])
    assert row["probs"] == pytest.approx(want.probs, abs=1e-6)
    assert row["probs"] != pytest.approx(predictor.predict(path, "").probs, abs=1e-4)
