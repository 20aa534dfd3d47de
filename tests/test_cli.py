"""`python -m memesent predict` from a shell, as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import draw_meme, photo

from memesent import LABELS

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memesent", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_predict_json_lines(tmp_path):
    paths = []
    for name in ("chelsea", "coffee"):
        paths.append(tmp_path / f"{name}.png")
        draw_meme(photo(name), "top text", "bottom text").save(paths[-1])
    bad = tmp_path / "bad.png"
    bad.write_text("no picture here")
    proc = run("predict", *map(str, paths), str(bad), "--caption", "top text bottom text", "--json")
    assert proc.returncode == 1, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in rows] == [*map(str, paths), str(bad)]
    for row in rows[:2]:
        assert row["label"] in LABELS
        assert abs(sum(row["probs"].values()) - 1) < 1e-5 and set(row["probs"]) == set(LABELS)
    assert "not an image" in rows[2]["error"] and "bad.png" in proc.stderr


def test_predict_plain_text(tmp_path):
    path = tmp_path / "m.jpg"
    photo().save(path)
    proc = run("predict", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{path}: ") and "very_negative=" in proc.stdout


def test_bad_model_folder_is_a_message_not_a_traceback(tmp_path):
    path = tmp_path / "m.png"
    photo().save(path)
    proc = run("predict", str(path), "--model", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "not a memesent model folder" in proc.stderr and "Traceback" not in proc.stderr


def test_ocr_without_tesseract_stops_once_with_the_install_hint(monkeypatch, tmp_path, capsys):
    import pytesseract

    from memesent.cli import main

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-tesseract"))
    code = main(["predict", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--ocr"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("memesent:") == 1 and "apt-get install tesseract-ocr" in err
