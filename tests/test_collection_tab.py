"""The Collection tab's work without a server (`webapp.collection`, `webapp.collection_events`):
what a run gathers from uploads, that its rows are the command line's for the same files and
captions, that Stop keeps what is done, and the tab's views, shift and labelling."""

from __future__ import annotations

import csv
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import draw_meme, photo

from memesent.labels import LABELS
from webapp import collection_views, service
from webapp.collection import TURN, gather, score
from webapp.collection_events import CollectionEvents, CollectionState
from webapp.inputs import InputError
from webapp.workspace import Workspace

CAPTIONS = {
    "happy.jpg": "BEST DAY OF MY LIFE",
    "sad.jpg": "MY DOG DIED TODAY",
    "coffee.jpg": "FIRST COFFEE OF THE DAY",
    "monday.jpg": "MONDAY AGAIN",
}


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pictures as a person uploads them, a broken file and an empty one, and a captions CSV."""
    folder = tmp_path_factory.mktemp("uploads")
    for i, (name, caption) in enumerate(CAPTIONS.items()):
        draw_meme(photo(["chelsea", "coffee", "astronaut", "rocket"][i], (240, 240)), caption).save(
            folder / name
        )
    (folder / "notes.png").write_text("not a picture")
    (folder / "empty.jpg").write_bytes(b"")
    with open(folder / "captions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption", "source"])
        writer.writerows([[name, caption, "test"] for name, caption in CAPTIONS.items()])
        writer.writerow(["not-uploaded.jpg", "A CAPTION", "test"])
    return folder


def files(uploads: Path) -> list[str]:
    return [str(uploads / name) for name in [*CAPTIONS, "notes.png", "empty.jpg"]]


@pytest.fixture(scope="module")
def memes(predictor) -> service.MemeService:
    return service.MemeService(predictor, model_version="shipped")


def test_uploads_and_a_zip_become_jobs_with_the_manifests_captions(uploads: Path, tmp_path: Path):
    with zipfile.ZipFile(tmp_path / "more.zip", "w") as zipped:
        zipped.write(uploads / "happy.jpg", "more/happy.jpg")
        zipped.writestr("../evil.jpg", b"x")
    got = gather(
        [*files(uploads), str(tmp_path / "more.zip")], str(uploads / "captions.csv"), tmp_path
    )
    keys = [job.image for job in got.jobs]
    assert keys == [*CAPTIONS, "notes.png", "empty.jpg", "more/happy.jpg"]
    assert {job.image: job.caption for job in got.jobs}["sad.jpg"] == CAPTIONS["sad.jpg"]
    assert {job.image: job.caption for job in got.jobs}["more/happy.jpg"] == CAPTIONS["happy.jpg"]
    notes = " ".join(got.notes)
    assert "not-uploaded.jpg" in notes and "source" in notes and "../evil.jpg" in notes
    assert not (tmp_path.parent / "evil.jpg").exists()


def test_too_many_memes_name_the_command_line_and_ray(uploads: Path, tmp_path: Path):
    with pytest.raises(InputError, match=r"at most 3 a run.*memesent predict.*--engine ray"):
        gather(files(uploads), None, tmp_path, limit=3)


def test_nothing_to_score_says_why(tmp_path: Path):
    (tmp_path / "fake.zip").write_bytes(b"")
    with pytest.raises(InputError, match=r"No memes to score.*could not be read as a zip"):
        gather([str(tmp_path / "fake.zip")], None, tmp_path)


def test_a_captions_file_without_its_columns_is_refused(uploads: Path, tmp_path: Path):
    (tmp_path / "bad.csv").write_text("file,text\na.jpg,hello\n")
    with pytest.raises(InputError, match="lacks an image column"):
        gather(files(uploads), str(tmp_path / "bad.csv"), tmp_path)


def run_all(gathered, memes, folder: Path, stop: threading.Event | None = None) -> list:
    return list(score(gathered, memes, folder, False, stop or threading.Event()))


@pytest.mark.slow  # worker processes and the model on six memes
def test_the_rows_are_the_command_lines_for_the_same_files(uploads, memes, tmp_path, memesent_cli):
    gathered = gather(files(uploads), str(uploads / "captions.csv"), tmp_path)
    steps = run_all(gathered, memes, tmp_path)
    final = steps[-1]
    assert final.finished and not final.stopped and len(final.rows) == 6
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "image,caption\n"
        + "".join(f"{n},{CAPTIONS.get(n, '')}\n" for n in [*CAPTIONS, "notes.png", "empty.jpg"])
    )
    for name in [*CAPTIONS, "notes.png", "empty.jpg"]:
        (tmp_path / name).write_bytes((uploads / name).read_bytes())
    done = memesent_cli("predict", "--manifest", str(manifest), "--out", str(tmp_path / "cli.csv"))
    assert done.returncode == 1, done.stderr  # two memes cannot be scored
    cli = pd.read_csv(tmp_path / "cli.csv", keep_default_na=False).set_index("image")
    tab = pd.read_csv(final.results, keep_default_na=False).set_index("image")
    assert list(tab.columns) == list(cli.columns)
    assert tab.index.tolist() == cli.index.tolist()
    assert (tab["label"] == cli["label"]).all() and (tab["caption"] == cli["caption"]).all()
    probs = [f"prob_{k}" for k in LABELS]
    scored = tab["error"] == ""
    np.testing.assert_allclose(
        tab.loc[scored, probs].astype(float), cli.loc[scored, probs].astype(float), atol=1e-6
    )
    assert set(tab.index[~scored]) == {"notes.png", "empty.jpg"}
    assert str(uploads) not in " ".join(
        tab["error"]
    )  # the error names the meme, not the server's path


@pytest.mark.slow
def test_stop_keeps_what_is_done(uploads, memes, tmp_path, monkeypatch):
    monkeypatch.setattr("memesent.batch.WINDOW_BATCHES", 1)  # rows written turn by turn
    names = [str(uploads / n) for n in CAPTIONS] * 6  # twenty-four memes: three turns
    gathered = gather(names, str(uploads / "captions.csv"), tmp_path)
    stop = threading.Event()
    scored_once = memes.predictor.predict_batch

    def then_stop(*args, **kwargs):  # Stop pressed once the first turn is scored
        found = scored_once(*args, **kwargs)
        stop.set()
        return found

    monkeypatch.setattr(memes.predictor, "predict_batch", then_stop)
    steps = list(score(gathered, memes, tmp_path, False, stop))
    final = steps[-1]
    assert final.finished and final.stopped
    assert len(final.rows) == TURN
    assert len(pd.read_csv(final.results)) == len(final.rows)


@pytest.mark.slow
def test_the_tab_shows_shares_shifts_and_takes_labels(uploads, memes, tmp_path, shipped_model):
    events = CollectionEvents(memes, Workspace(3600, 3600, tmp_path / "work"), shipped_model)
    outputs = list(events.run(files(uploads), str(uploads / "captions.csv"), False))[-1]
    results, table, plot, shares, status, positive, negative, state = outputs
    assert Path(results).is_file() and "Done: 6 of 6" in status
    assert table["meme"].str.startswith("![meme](data:image/jpeg;base64,").sum() == 4
    assert plot is not None and len(positive) == len(negative) == 4
    assert "memes with a side" in shares and "Counting each meme" in shares
    assert "not-uploaded.jpg" in shares  # the notes are shown
    _, table2, _, shares2, state = events.shift(state, "negative=0.5,neutral=0.01,positive=0.49")
    assert "shifted to the label shares you gave" in shares2
    assert (table2["positive"] != table["positive"]).any()
    image, _, count, state = events.sample(state)
    assert image is not None and "Meme 1 of 4" in count
    for choice in ("positive", "negative", "skip", "neutral"):
        image, _, count, _, state = events.label(state, choice)
    assert len(state.labels) == 3 and "All 4 shown" in count and image is None


def test_the_table_and_the_figure_of_rows():
    base = np.full(5, 0.2)
    row = {"image": "a.jpg", "caption": "hi", "label": "positive", "error": ""}
    row |= {f"prob_{k}": p for k, p in zip(LABELS, [0.1, 0.1, 0.1, 0.4, 0.3], strict=True)}
    row |= {f"text_prob_{k}": 0.2 for k in LABELS} | {f"image_prob_{k}": None for k in LABELS}
    broken = {"image": "b.jpg", "caption": "", "label": "", "error": "not a picture"}
    broken |= {f"{p}prob_{k}": None for p in ("", "text_", "image_") for k in LABELS}
    table = collection_views.table([row, broken], {"a.jpg": "![meme](x)"}, base)
    assert list(table.columns) == list(collection_views.COLUMNS)
    assert table.loc[0, "positive"] == pytest.approx(0.7) and table.loc[0, "picture alone"] == "–"
    assert table.loc[0, "from a typical meme"] == pytest.approx(0.3)
    assert table.loc[1, "error"] == "not a picture" and np.isnan(table.loc[1, "positive"])
    assert collection_views.figure([broken], base) is None
    assert collection_views.figure([row, broken], base) is not None


def test_a_new_state_is_empty():
    assert CollectionState().rows == [] and CollectionState().labels == {}
