"""Each data set adapter on a small folder the test writes, and on the real one when it is
beside the repository: what it reads, which levels each label allows, its parts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_DATA
from datasets import make_memes, make_metmeme, make_semeval, make_sst5, make_twitter_images

from memesent.labels import LABELS, level_set
from train.data import DataError
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


REAL = {
    "metmeme": ("metmeme", 2989),
    "sst5": ("sst5", 11855),
    "twitter-images": ("twitter-images", 1269),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_data_sets_load_whole(name):
    folder, n = REAL[name]
    root = SHARED_DATA / folder
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (../shared/data beside the repository)")
    ex = load_source(name, root)
    assert len(ex) + len(ex.skipped) == n and not ex.skipped
    assert ex.allowed.any(1).all()


def test_real_semeval_test_is_tweeteval_and_never_trained_on():
    root = SHARED_DATA / "semeval-tweets"
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (../shared/data beside the repository)")
    ex = load_source("semeval", root)
    test = ex.part("test")
    assert len(test) == 12284
    test_texts = {ex.captions[i].lower() for i in test}
    assert not any(ex.captions[i].lower() in test_texts for i in ex.part("train"))
