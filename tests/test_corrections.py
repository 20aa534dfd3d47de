"""Corrections: the store (training layout, replacing, the cap, names from content), `/correct`
under concurrent clients, and the folder training and evaluating like any other."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import draw_meme, photo

from memesent.labels import LABELS
from webapp.corrections import COLUMNS, CorrectionError, CorrectionStore
from webapp.server import AppServer

pytestmark = pytest.mark.slow  # the app and a training run

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    draw_meme(photo(("chelsea", "coffee", "rocket")[seed % 3], (120, 100)), f"MEME {seed}").save(
        buf, "PNG"
    )
    return buf.getvalue()


def _rows(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_store_writes_the_training_layout_and_replaces_a_meme_corrected_again(tmp_path):
    store = CorrectionStore(tmp_path / "corrections")
    picture = _png(0)
    first = store.save(picture, "monday again", "negative", "positive", "abc123")
    assert not first.replaced and first.count == 1
    name = hashlib.sha256(picture).hexdigest()[:24] + ".png"
    assert first.image_name == name
    assert (tmp_path / "corrections" / "images" / name).read_bytes() == picture
    again = store.save(picture, "monday again", "very_negative", "positive", "abc123")
    assert again.replaced and again.count == 1
    other_caption = store.save(picture, "friday!", "positive", "positive", "abc123")
    assert not other_caption.replaced and other_caption.count == 2
    rows = _rows(tmp_path / "corrections")
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["text_corrected"], r["overall_sentiment"]) for r in rows] == [
        ("monday again", "very_negative"),
        ("friday!", "positive"),
    ]
    assert rows[0]["model_label"] == "positive" and rows[0]["model_version"] == "abc123"
    assert list((tmp_path / "corrections" / "images").iterdir()) == [
        tmp_path / "corrections" / "images" / name
    ]  # one picture, stored once


def test_store_refuses_bad_levels_and_stops_at_its_limit(tmp_path):
    store = CorrectionStore(tmp_path / "c", limit=2)
    with pytest.raises(CorrectionError, match="Pick one of the five levels"):
        store.save(_png(0), "x", "ecstatic", "positive", "v")
    store.save(_png(0), "a", "neutral", "positive", "v")
    store.save(_png(1), "b", "neutral", "positive", "v")
    with pytest.raises(CorrectionError, match="at most 2 corrections and is full"):
        store.save(_png(2), "c", "neutral", "positive", "v")
    store.save(_png(1), "b", "positive", "positive", "v")  # replacing still works when full
    assert [r["overall_sentiment"] for r in _rows(tmp_path / "c")] == ["neutral", "positive"]


def test_store_takes_turns_across_threads(tmp_path):
    store = CorrectionStore(tmp_path / "c")
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: store.save(_png(i), f"meme {i}", LABELS[i % 5], "positive", "v"),
                range(24),
            )
        )
    rows = _rows(tmp_path / "c")
    assert sorted(r["text_corrected"] for r in rows) == sorted(f"meme {i}" for i in range(24))
    assert not list((tmp_path / "c").glob(".labels.csv.*"))  # no temporary file left behind


@pytest.fixture(scope="module")
def app_with_corrections(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrections")
    with AppServer("--corrections", str(folder), "--corrections-limit", "11") as server:
        yield server, folder


def test_correct_endpoint_under_ten_concurrent_clients(app_with_corrections, tmp_path):
    server, folder = app_with_corrections
    endpoints = Client(server.url, verbose=False).view_api(print_info=False, return_format="dict")
    assert set(endpoints["named_endpoints"]) == {
        "/ocr",
        "/rescore",
        "/analyze",
        "/predict",
        "/explain",
        "/collection",
        "/correct",
    }
    paths = []
    for i in range(10):
        paths.append(tmp_path / f"upload-{i}.png")
        paths[-1].write_bytes(_png(i))

    def send(i: int) -> str:
        client = Client(server.url, verbose=False)
        try:
            return client.predict(
                handle_file(str(paths[i])), f"caption {i}", LABELS[i % 5], api_name="/correct"
            )
        finally:
            client.close()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    assert all(a.startswith("Saved. You said ") for a in answers), answers
    rows = _rows(folder)
    assert sorted((r["text_corrected"], r["overall_sentiment"]) for r in rows) == sorted(
        (f"caption {i}", LABELS[i % 5]) for i in range(10)
    )
    for row in rows:  # each picture stored under the digest of what was uploaded
        stored = (folder / "images" / row["image_name"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest()[:24] == row["image_name"].split(".")[0]
        assert row["model_label"] in LABELS and len(row["model_version"]) == 12

    client = Client(server.url, verbose=False)
    replaced = client.predict(
        handle_file(str(paths[0])), "caption 0", "positive", api_name="/correct"
    )
    assert replaced.startswith("Replaced your earlier correction") and "holds 10" in replaced
    with pytest.raises(AppError, match="Pick the level you would give"):
        client.predict(handle_file(str(paths[1])), "x", "meh", api_name="/correct")
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(AppError, match="not a picture memesent can read"):
        client.predict(handle_file(str(bad)), "x", "neutral", api_name="/correct")
    extra = tmp_path / "extra.png"
    extra.write_bytes(_png(10))
    assert "holds 11" in client.predict(
        handle_file(str(extra)), "x", "neutral", api_name="/correct"
    )
    more = tmp_path / "more.png"
    more.write_bytes(_png(11))
    with pytest.raises(AppError, match="at most 11 corrections and is full"):
        client.predict(handle_file(str(more)), "x", "neutral", api_name="/correct")
    assert len(_rows(folder)) == 11


def test_the_corrections_folder_trains_and_evaluates(tmp_path):
    """Corrections of the drawn memes, stored by the store, then `python -m train` on two
    folders, `--init`, and `python -m train.evaluate` on the corrections folder."""
    from datasets import make_memes
    from test_train import FAST

    from train.__main__ import main as train_main
    from train.evaluate import main as evaluate_main

    memes = make_memes(tmp_path / "drawn", per_class=12)
    store = CorrectionStore(tmp_path / "corrections")
    with open(memes / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            picture = (memes / "images" / row["image_name"]).read_bytes()
            store.save(picture, row["text_corrected"], row["overall_sentiment"], "positive", "v")
    cache = tmp_path / "cache"
    both = tmp_path / "both"
    args = ["--data", str(memes), "--data", str(store.folder), "--cache", str(cache), *FAST]
    assert train_main([*args, "--out", str(both)]) == 0
    split = json.loads((both / "split.json").read_text())["memotion"]
    names = [n for part in split.values() for n in part]
    # identical drawn memes (same picture, same caption) are one correction
    assert len(names) == 36 + len(store.rows())
    assert {n.split("/")[0] for n in names} == {"drawn", "corrections"}
    metrics = json.loads((both / "metrics.json").read_text())
    assert metrics["data"]["memotion"]["examples"] == len(names)
    assert json.loads((both / "config.json").read_text())["text_tuning"] is not None

    fresh, updated = tmp_path / "fresh", tmp_path / "updated"
    one = ["--data", str(store.folder), "--cache", str(cache), *FAST]
    assert train_main([*one, "--out", str(fresh)]) == 0
    assert train_main([*one, "--out", str(updated), "--init", str(both)]) == 0
    started = json.loads((updated / "metrics.json").read_text())
    assert started["init"]["folder"] == "both"
    # the update keeps the text encoder the first model tuned
    tuned = json.loads((both / "config.json").read_text())
    kept = json.loads((updated / "config.json").read_text())
    assert kept["text_backbone"]["tuning"] == tuned["text_backbone"]["tuning"] != ""
    assert started["text_tuning"] is None
    # epoch 0 is the head before training: the one that had learnt these memes already does
    # far better than a fresh one
    before = [h["val_log_loss"][0] for h in started["history"]]
    fresh_before = [
        h["val_log_loss"][0] for h in json.loads((fresh / "metrics.json").read_text())["history"]
    ]
    assert max(before) < min(fresh_before) - 0.5
    assert (
        train_main([*one, "--out", str(tmp_path / "x"), "--init", str(both), "--hidden", "32"]) == 2
    )

    out = tmp_path / "eval.json"
    assert (
        evaluate_main(
            [
                "--model",
                str(updated),
                "--data",
                str(store.folder),
                "--json",
                str(out),
                "--split",
                str(both / "split.json"),
            ]
        )
        == 0
    )
    evaluated = json.loads(out.read_text())
    assert evaluated["n"] == len([n for n in split["test"] if n.startswith("corrections/")])
    assert evaluated["missing"] == []
