"""Each data set adapter on a small folder the test writes, and on the real one when it is
beside the repository: what it reads, which levels each label allows, its parts."""

from __future__ import annotations

import importlib
import json
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from datasets import (
    CAPTIONS,
    _picture,
    make_memes,
    make_metmeme,
    make_semeval,
    make_sst5,
    make_twitter_images,
)
from helpers import draw_meme

from memesent.labels import LABELS, level_set
from train.config import RECIPES
from train.data import DataError
from train.loop import fit_head
from train.sources import SOURCES, Splitting, describe_mapping, load_source
from train.sources.metmeme import allowed_levels, signed_intensity
from train.sources.semeval import clean


def levels(row: np.ndarray) -> set[str]:
    return {LABELS[k] for k in np.flatnonzero(row)}


def test_metmeme_maps_emotion_and_intensity_onto_allowed_levels(tmp_path):
    ex = load_source("metmeme", make_metmeme(tmp_path / "m"))
    assert len(ex) == 50 and ex.has_image.all()
    by_name = dict(zip(ex.names, range(len(ex)), strict=True))
    rows = {
        ("happiness", "slightly"): {"positive"},
        ("love", "moderately"): {"positive", "very_positive"},
        ("hate", "very"): {"very_negative"},
        ("sorrow", "moderately"): {"negative", "very_negative"},
        ("surprise", "slightly"): set(LABELS),
    }
    for (emotion, intensity), want in rows.items():
        assert set(allowed_levels(emotion, intensity)) == want
    assert signed_intensity("love", "very") == 3 and signed_intensity("anger", "moderately") == -2
    assert np.isnan(signed_intensity("surprise", "very"))
    assert ex.captions[by_name["image_2.jpg"]] is None  # an empty caption is no caption
    assert np.isnan(ex.extra["signed_intensity"]).sum() == 2  # the two surprise memes
    assert not ex.allowed[:, LABELS.index("neutral")][~np.isnan(ex.extra["signed_intensity"])].any()
    assert "surprise, any intensity → any level" in describe_mapping(SOURCES["metmeme"])


def test_metmemes_other_labels_are_kept_as_auxiliary_targets_and_may_be_absent(tmp_path):
    root = make_metmeme(tmp_path / "m")
    ex = load_source("metmeme", root)
    table = pd.read_csv(root / "labels.csv", dtype=str).set_index("image_name")
    assert list(ex.extra["emotion"]) == list(table.loc[ex.names, "emotion"])
    assert set(ex.extra["intention"]) == {"expressive"}
    for name, classes in SOURCES["metmeme"].aux.items():
        assert set(ex.extra[name]) <= set(classes), name
    table.drop(columns=["intention", "metaphor"]).to_csv(root / "labels.csv")
    bare = load_source("metmeme", root)  # a copy without those columns still loads
    assert set(bare.extra["intention"]) == {""} and set(bare.extra["metaphor"]) == {""}
    assert list(bare.extra["emotion"]) == list(ex.extra["emotion"])


def test_parts_are_seeded_and_cover_every_example_once(tmp_path):
    root = make_metmeme(tmp_path / "m")
    a, b = load_source("metmeme", root), load_source("metmeme", root)
    assert (a.parts == b.parts).all() and set(a.parts) == {"train", "val", "calib", "test"}
    other = load_source("metmeme", root, Splitting(seed=1))
    assert not (other.parts == a.parts).all()


def test_sst5_keeps_its_own_split_and_exact_levels(tmp_path):
    ex = load_source("sst5", make_sst5(tmp_path / "s"))
    assert {p: int((ex.parts == p).sum()) for p in ("train", "val", "test")} == {
        "train": 40,
        "val": 10,
        "test": 10,
    }
    assert (ex.allowed.sum(1) == 1).all() and not ex.has_image.any()
    assert (ex.allowed.argmax(1) == ex.extra["level"]).all()


def test_semeval_never_trains_on_test_tweets_and_cleans_them(tmp_path):
    ex = load_source("semeval", make_semeval(tmp_path / "t"))
    test = set(ex.part("test"))
    trained = [ex.captions[i] for i in range(len(ex)) if i not in test]
    assert "so happy for you" not in trained  # the 2013 copy of a test tweet is dropped
    assert len(ex.names) == len(set(ex.names))  # a tweet in two files is kept once
    assert levels(ex.allowed[ex.names.index("20")]) == {"positive", "very_positive"}
    assert levels(ex.allowed[ex.names.index("10")]) == {"neutral"}
    assert clean('"so \\u2019good\\u2019 @bob http://t.co/a &amp; more"') == (
        "so \u2019good\u2019 @user http & more"
    )


def test_twitter_images_are_pictures_with_a_side(tmp_path):
    ex = load_source("twitter-images", make_twitter_images(tmp_path / "p"))
    assert not ex.has_text.any() and ex.has_image.all()
    assert levels(ex.allowed[ex.extra["positive"]][0]) == {"positive", "very_positive"}
    assert set(ex.extra["agreement"]) == {"5/5", "4/5"}


def test_memotion_labels_are_exact_levels(tmp_path):
    ex = load_source("memotion", make_memes(tmp_path / "mm"))
    assert len(ex) == 72 and (ex.allowed.sum(1) == 1).all()
    assert (ex.allowed == np.array([level_set(LABELS[k]) for k in ex.extra["level"]])).all()


def test_bad_folders_say_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match="unknown data set 'tweets'"):
        load_source("tweets", tmp_path)
    with pytest.raises(DataError, match=r"has no labels\.csv"):
        load_source("metmeme", tmp_path)
    with pytest.raises(DataError, match=r"no twitter-2017test\.tsv"):
        load_source("semeval", tmp_path)
    bad = make_metmeme(tmp_path / "m")
    text = (bad / "labels.csv").read_text().replace("happiness", "glee", 1)
    (bad / "labels.csv").write_text(text)
    with pytest.raises(DataError, match=r"unknown emotion or intensity value.*glee"):
        load_source("metmeme", bad)


REAL = {"metmeme": 2989, "sst5": 11855, "twitter-images": 1269}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_data_sets_load_whole(name):
    n = REAL[name]
    root = SHARED_DATA / SOURCES[name].folder
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (../shared/data beside the repository)")
    ex = load_source(name, root)
    assert len(ex) + len(ex.skipped) == n and not ex.skipped
    assert ex.allowed.any(1).all()


def test_real_semeval_test_is_tweeteval_and_never_trained_on():
    root = SHARED_DATA / SOURCES["semeval"].folder
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (../shared/data beside the repository)")
    ex = load_source("semeval", root)
    test = ex.part("test")
    assert len(test) == 12284
    test_texts = {ex.captions[i].lower() for i in test}
    assert not any(ex.captions[i].lower() in test_texts for i in ex.part("train"))


def test_the_shipped_model_was_trained_by_the_recipe_its_sources_declare():
    """The shipped recipe's data sets, in order, and the head and tuning weights and the
    calibrating source their adapters declare are what `assets/model` was trained with."""
    model = Path(__file__).resolve().parents[1] / "assets" / "model"
    config = json.loads((model / "config.json").read_text())
    metrics = json.loads((model / "metrics.json").read_text())
    recipe = RECIPES["memesent"].sources
    assert list(config["sources"]) == list(recipe)
    assert {n: s["weight"] for n, s in config["sources"].items()} == {
        n: SOURCES[n].head_weight for n in recipe
    }
    tuned = metrics["text_tuning"]["weights"]
    assert tuned == {n: SOURCES[n].tuning_weight for n in tuned}
    able = [n for n in recipe if SOURCES[n].calibration_priority is not None]
    assert metrics["calibrated_on"] == max(able, key=lambda n: SOURCES[n].calibration_priority)
    assert RECIPES["writeup"].sources == ("memotion",) and SOURCES["memotion"].bare_folders


# A data set that no module of `train` knows: its adapter is a module the test writes, whose
# `Source` declares its own policy (no part of the head, a tuning share, the highest calibration
# priority, a published score). Training and evaluating with it must follow that policy.
TOY_MODULE = '''
"""Drawn memes, positive or negative: `labels.csv` (`image_name, caption, mood`), `images/`."""

import numpy as np
import pandas as pd
import pandas as pd

from memesent.labels import level_set
from train.metrics import valence_measures
from train.plots import plot_valence
from train.sources import Examples, Source, register

SIDES = {"positive": ("positive", "very_positive"), "negative": ("very_negative", "negative")}


def load(root, splitting):
    df = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    moods = df["mood"].tolist()
    return Examples(
        source="toy",
        names=df["image_name"].tolist(),
        captions=[c or None for c in df["caption"]],
        images=[root / "images" / n for n in df["image_name"]],
        allowed=np.array([level_set(*SIDES[m]) for m in moods]),
        parts=splitting.parts(np.array(moods)),
        extra={"signed_intensity": np.array([1.0 if m == "positive" else -1.0 for m in moods])},
    )


def plot(ex, probs, measures, path, title):
    plot_valence(ex.extra["signed_intensity"], probs, path, title)


register(
    Source(
        name="toy",
        description="drawn memes, positive or negative",
        modalities=("text", "image"),
        load=load,
        mapping=SIDES,
        score=lambda ex, probs, rates, intervals: valence_measures(
            ex.extra["signed_intensity"], ex.allowed, probs, rates, intervals
        ),
        headline="auroc_valence",
        measure="AUROC, positive against negative",
        folder="toy",
        published=(("a toy baseline", 0.123),),
        plots={"valence": plot},
        head_weight=0.0,
        tuning_weight=0.7,
        calibration_priority=99,
    )
)
'''


def _toy_memes(root: Path, per_side: int = 20) -> Path:
    rng = random.Random(1)
    (root / "images").mkdir(parents=True)
    rows = ["image_name,caption,mood"]
    for side in ("negative", "positive"):
        for i in range(per_side):
            caption = rng.choice(CAPTIONS[side])
            draw_meme(_picture(side, rng), caption.upper()).save(root / "images" / f"{side}{i}.png")
            rows.append(f"{side}{i}.png,{caption.replace(',', '')},{side}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def toy_source(tmp_path, monkeypatch):
    """The toy adapter, imported from a module in `tmp_path`; unregistered afterwards."""
    (tmp_path / "toy_source.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("toy_source")
    yield SOURCES["toy"]
    SOURCES.pop("toy", None)
    sys.modules.pop("toy_source", None)


@pytest.mark.slow
def test_a_new_data_set_is_one_module_and_its_policy_is_followed(toy_source, tmp_path, monkeypatch):
    from train.__main__ import main as train_main
    from train.evaluate import main as evaluate_main

    toy = _toy_memes(tmp_path / "toy")
    memes = make_metmeme(tmp_path / "metmeme")
    trained: dict = {}

    def spy(config, pool, train_idx, shares, *args, **kwargs):
        trained.update(shares)
        return fit_head(config, pool, train_idx, shares, *args, **kwargs)

    monkeypatch.setattr("train.run.fit_head", spy)
    out = tmp_path / "model"
    args = ["--data", f"metmeme={memes}", "--data", f"toy={toy}", "--out", str(out)]
    fast = ["--epochs", "3", "--hidden", "32", "--tuning-steps", "2", "--lora-rank", "2"]
    assert train_main([*args, "--cache", str(tmp_path / "cache"), *fast]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["calibrated_on"] == "toy"  # its calibration priority is the highest
    assert trained == {"metmeme": 1.0}  # weight 0: no part of the head
    assert metrics["data"]["toy"]["weight"] == 0
    assert metrics["text_tuning"]["weights"] == {"metmeme": 0.2, "toy": 0.7}
    assert "auroc_valence" in metrics["sources"]["toy"]["test"]  # scored as it says
    assert "a toy baseline 0.123" in (out / "MODEL_CARD.md").read_text()
    assert {"confusion.png", "reliability.png"} <= {p.name for p in out.iterdir()}

    report = tmp_path / "toy.json"
    split = ["--split", str(out / "split.json")]
    assert (
        evaluate_main(["--model", str(out), "--data", f"toy={toy}", "--json", str(report), *split])
        == 0
    )
    evaluated, test = json.loads(report.read_text()), metrics["sources"]["toy"]["test"]
    assert evaluated["source"] == "toy" and evaluated["n"] == test["n"]
    assert evaluated["auroc_valence"] == pytest.approx(test["auroc_valence"], abs=1e-5)
    assert report.with_suffix(".valence.png").is_file()
