"""What a newcomer meets on the command line: captions read unless told otherwise (and a line
for the memes without one), output that says which answer is which, reruns that retry
failures, a caption read alone, and errors that name the flag or the file once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import draw_meme, photo

from memesent.collection import WORDS_ALONE

pytestmark = pytest.mark.slow  # the model, and OCR, on a few memes

ROOT = Path(__file__).resolve().parents[1]
COFFEE = ROOT / "assets" / "examples" / "coffee.jpg"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two memes with a caption drawn on them and one plain photo with no text at all."""
    root = tmp_path_factory.mktemp("memes")
    draw_meme(photo("chelsea", (300, 300)), "BEST DAY EVER").save(root / "cat.png")
    draw_meme(photo("coffee", (300, 300)), "MONDAY AGAIN").save(root / "coffee.png")
    photo("astronaut", (300, 300)).save(root / "plain.png")
    return root


def read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_folder_has_its_captions_read_and_the_uncaptioned_named(memesent_cli, folder, tmp_path):
    done = memesent_cli("predict", str(folder), "--out", str(tmp_path / "r.csv"))
    assert done.returncode == 0, done.stderr
    captions = {Path(r["image"]).name: r["caption"] for r in read(tmp_path / "r.csv")}
    assert "BEST" in captions["cat.png"].upper() and captions["plain.png"] == ""
    assert "1 memes had no caption (OCR found no text" in done.stderr and "plain.png" in done.stderr
    quiet = memesent_cli("predict", str(folder), "--no-ocr", "--out", str(tmp_path / "n.csv"))
    assert all(r["caption"] == "" for r in read(tmp_path / "n.csv"))
    assert "3 memes had no caption (--no-ocr" in quiet.stderr


def test_a_manifest_with_only_pictures_has_its_captions_read(memesent_cli, folder, tmp_path):
    manifest = folder / "only-images.csv"
    manifest.write_text("image\ncat.png\n")
    done = memesent_cli("predict", "--manifest", str(manifest), "--json")
    assert done.returncode == 0, done.stderr
    assert "BEST" in json.loads(done.stdout)["caption"].upper()


def test_plain_output_says_which_answer_is_which(memesent_cli):
    done = memesent_cli("predict", str(COFFEE), "--caption", "FIRST COFFEE OF THE DAY")
    line = done.stdout.strip()
    assert line.startswith(f"{COFFEE}: level ") and ", class " in line and "very_negative=" in line


def test_a_caption_alone_is_read_as_words(memesent_cli):
    done = memesent_cli("predict", "--caption", "worst day of my life", "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["image"] == WORDS_ALONE and row["readings"]["image"] is None
    assert row["label3"] == "negative"


def test_a_rerun_retries_the_memes_that_failed(memesent_cli, folder, tmp_path):
    missing = tmp_path / "later.png"
    out = tmp_path / "r.csv"
    first = memesent_cli(
        "predict", str(folder / "cat.png"), str(missing), "--no-ocr", "--out", str(out)
    )
    assert first.returncode == 1 and [bool(r["error"]) for r in read(out)] == [False, True]
    photo("rocket", (200, 200)).save(missing)
    again = memesent_cli(
        "predict", str(folder / "cat.png"), str(missing), "--no-ocr", "--out", str(out)
    )
    assert again.returncode == 0, again.stderr
    assert "retrying 1 memes that could not be scored before" in again.stderr
    rows = read(out)
    assert len(rows) == 2 and not any(r["error"] for r in rows)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--batch-size", "0"], "--batch-size must be 1 to 256, not 0"),
        (["--batch-size", "1000000"], "--batch-size must be 1 to 256, not 1000000"),
        (["--workers", "-1"], "--workers must be at least 0"),
    ],
)
def test_a_bad_option_is_named(memesent_cli, args, says):
    done = memesent_cli("predict", str(COFFEE), "--caption", "x", *args)
    assert done.returncode == 2 and says in done.stderr


def test_a_missing_file_is_named_once(memesent_cli):
    done = memesent_cli("predict", "nosuch.jpg", "--caption", "x")
    assert done.returncode == 1
    assert done.stderr.count("nosuch.jpg") == 1 and "no such file or folder" in done.stderr
