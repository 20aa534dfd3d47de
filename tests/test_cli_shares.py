"""`memesent shares RESULTS` and `memesent predict --label-shares estimate`: a collection's
shares from the command line, as programs read them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import draw_meme, photo

from memesent import Predictor
from memesent.labels import LABELS
from memesent.population import prior_shift
from memesent.results import read_rows, shifted_row

pytestmark = pytest.mark.slow  # the model on a dozen memes

CAPTIONS = [
    "BEST DAY OF MY LIFE",
    "I HATE MONDAYS",
    "MY DOG DIED TODAY",
    "FINALLY FRIDAY",
    "NOBODY CAME TO MY PARTY",
    "I LOVE YOU ALL",
]


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve captioned memes and their manifest."""
    folder = tmp_path_factory.mktemp("collection")
    lines = ["image,caption"]
    for i in range(12):
        name = f"meme{i}.jpg"
        draw_meme(photo(["chelsea", "coffee", "astronaut"][i % 3], (200, 200))).save(folder / name)
        lines.append(f"{name},{CAPTIONS[i % len(CAPTIONS)]}")
    (folder / "memes.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def results(collection: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from memesent.cli import main

    out = tmp_path_factory.mktemp("results") / "results.csv"
    assert (
        main(["predict", "--manifest", str(collection / "memes.csv"), "--out", str(out), "--quiet"])
        == 0
    )
    return out


def test_shares_json_has_the_contract_keys(memesent_cli, results):
    done = memesent_cli("shares", str(results), "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["memes"] == 12 and found["method"]
    assert set(found["shares"]) == set(found["interval"]) == {"negative", "neutral", "positive"}
    assert found["shares"]["negative"] + found["shares"]["positive"] == pytest.approx(1.0)
    low, high = found["interval"]["positive"]
    assert low <= found["shares"]["positive"] <= high
    assert found["shares"]["neutral"] is None and found["of"] == "memes with a side"
    assert isinstance(found["like_calibration"], bool | None)
    plain = memesent_cli("shares", str(results))
    assert "90 % interval" in plain.stdout and "Counting each meme" in plain.stdout


def test_labels_give_the_shares_of_all_memes(memesent_cli, results, tmp_path):
    labels = tmp_path / "labels.csv"
    rows = [f"meme{i}.jpg,{['positive', 'negative', 'neutral'][i % 3]}" for i in range(12)]
    labels.write_text("image,label\n" + "\n".join(rows) + "\n")
    found = json.loads(
        memesent_cli("shares", str(results), "--labels", str(labels), "--json").stdout
    )
    assert found["labelled"] == 12 and "PPI++" in found["method"] and found["of"] == "memes"
    assert found["shares"]["neutral"] == pytest.approx(1 / 3, abs=0.1)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("image,label\nelsewhere.jpg,positive\n")
    done = memesent_cli("shares", str(results), "--labels", str(wrong))
    assert done.returncode == 2 and "elsewhere.jpg" in done.stderr


def test_shifted_or_foreign_results_are_refused(memesent_cli, results, tmp_path):
    shifted = tmp_path / "shifted.csv"
    frame = pd.read_csv(results, dtype=str, keep_default_na=False)
    frame["model"] = frame["model"] + "+12345678"
    frame.to_csv(shifted, index=False)
    done = memesent_cli("shares", str(shifted))
    assert done.returncode == 2 and "without --label-shares" in done.stderr
    done = memesent_cli("shares", str(tmp_path / "missing.csv"))
    assert done.returncode == 2 and "no such results file" in done.stderr


def test_estimate_shifts_every_answer_to_the_estimated_shares(
    memesent_cli, collection, results, tmp_path, predictor
):
    out = tmp_path / "estimated.csv"
    done = memesent_cli(
        "predict",
        "--manifest",
        str(collection / "memes.csv"),
        "--label-shares",
        "estimate",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "answers shifted to negative=" in done.stderr and "90 % interval" in done.stderr
    given = done.stderr.split("answers shifted to ")[1].split("\n")[0]
    shares = {k: float(v) for k, v in (item.split("=") for item in given.split(", "))}
    # the same numbers as the library's prior shift, for every reading
    moved = predictor.with_label_shares(shares)
    plain = {row["image"]: row for row in read_rows(results)}
    rows = read_rows(out)
    assert (
        len({row["model"] for row in rows}) == 1 and rows[0]["model"] != plain["meme0.jpg"]["model"]
    )
    for row in rows:
        want = moved.predict(collection / row["image"], plain[row["image"]]["caption"])
        assert row["label"] == want.label
        got = np.array([row[f"prob_{k}"] for k in LABELS])
        np.testing.assert_allclose(
            got, [want.probs[k] for k in LABELS], atol=2e-3
        )  # shares rounded
    rerun = memesent_cli(
        "predict",
        "--manifest",
        str(collection / "memes.csv"),
        "--label-shares",
        "estimate",
        "--out",
        str(out),
    )
    assert rerun.returncode == 2 and "whole collection in one run" in rerun.stderr


def test_a_shifted_row_is_the_shifted_predictors_answer(predictor, collection):
    shares = {"negative": 0.2, "neutral": 0.1, "positive": 0.7}
    weights = prior_shift(shares, np.array(predictor.head.config.base_rates))
    plain = predictor.predict(collection / "meme0.jpg", CAPTIONS[0])
    row = {"image": "m", "caption": "", "error": "", "model": "x", "label": "", "label3": ""}
    for prefix, reading in (("prob_", "both"), ("text_prob_", "text"), ("image_prob_", "image")):
        row |= {f"{prefix}{k}": plain.readings[reading][k] for k in LABELS}
    moved = shifted_row(row, weights, "x+s")
    want = Predictor.with_label_shares(predictor, shares).predict(
        collection / "meme0.jpg", CAPTIONS[0]
    )
    for prefix, reading in (("prob_", "both"), ("text_prob_", "text"), ("image_prob_", "image")):
        got = [moved[f"{prefix}{k}"] for k in LABELS]
        np.testing.assert_allclose(got, [want.readings[reading][k] for k in LABELS], atol=1e-9)
    assert moved["label"] == want.label and moved["label3"] == want.label3
