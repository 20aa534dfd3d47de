"""End-to-end training on small drawn data sets: memes whose caption or picture carries the
mood, sentences, tweets and photos; the text encoder tuned for a few steps."""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from datasets import (
    _picture,
    make_memes,
    make_metmeme,
    make_sst5,
    make_twitter_images,
)
from helpers import draw_meme, photo
from PIL import Image
from safetensors.torch import load_file

from memesent import LABELS, LABELS3, Predictor
from memesent.labels import positive_share
from train.__main__ import main as train_main
from train.__main__ import parse_args
from train.config import DEFAULT_CACHE, DataSpec, data_specs
from train.data import DataError, stratified_split
from train.evaluate import main as evaluate_main
from train.run import run
from train.sources.memotion import load_memes

pytestmark = pytest.mark.slow  # training runs

FAST = [
    "--epochs",
    "40",
    "--patience",
    "40",
    "--hidden",
    "64",
    "--batch-size",
    "32",
    "--tuning-steps",
    "8",
    "--lora-rank",
    "4",
    "--test-fraction",
    "0.3",
    "--val-fraction",
    "0.2",
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {
        "metmeme": make_metmeme(root / "metmeme", per_side=40),
        "sst5": make_sst5(root / "sst5"),
        "twitter-images": make_twitter_images(root / "photos"),
    }


@pytest.fixture(scope="module")
def memotion_dir(tmp_path_factory) -> Path:
    return make_memes(tmp_path_factory.mktemp("memotion") / "memes")


def _data(folders: dict[str, Path]) -> list[str]:
    return [arg for name, root in folders.items() for arg in ("--data", f"{name}={root}")]


@pytest.fixture(scope="module")
def trained(folders, tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("run")
    out, cache = work / "model", work / "cache"
    code = train_main([*_data(folders), "--out", str(out), "--cache", str(cache), *FAST])
    assert code == 0
    return out, cache


def test_training_writes_the_model_folder(trained, folders):
    out, _ = trained
    expected = {
        "config.json",
        "model.safetensors",
        "metrics.json",
        "confusion.png",
        "reliability.png",
        "training_curve.png",
        "tuning_curve.png",
        "MODEL_CARD.md",
        "split.json",
    }
    assert expected <= {p.name for p in out.iterdir()}
    split = json.loads((out / "split.json").read_text())
    assert set(split) == {"metmeme", "sst5", "twitter-images"}
    parts = [set(split["metmeme"][k]) for k in ("train", "val", "calib", "test")]
    assert sum(map(len, parts)) == len(set().union(*parts)) == 82  # every meme in one part
    config = json.loads((out / "config.json").read_text())
    assert config["text_tuning"]["rank"] == 4 and config["calibration"] == "valence"
    assert config["text_backbone"]["tuning"].startswith("lora-")
    assert config["sources"]["metmeme"]["mapping"]["surprise, any intensity"] == list(LABELS)
    card = (out / "MODEL_CARD.md").read_text()
    assert "surprise, any intensity → any level" in card and "LoRA adapters (rank 4" in card
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["calibrated_on"] == "metmeme" and metrics["text_tuning"]["best_step"] >= 0
    assert set(metrics["sources"]["metmeme"]["test_readings"]) == {"text", "image"}
    rates = metrics["base_rates"]
    assert sum(rates.values()) == pytest.approx(1.0)
    calibrated_on = metrics["base_rates_of"]  # the folder is named as MET-Meme's usually is
    assert re.fullmatch(
        r"the \d+ MET-Meme memes the model was calibrated on \(labelled \d+% negative, "
        r"none neutral, \d+% positive\)",
        calibrated_on,
    )
    assert config["base_rates_of"] == calibrated_on
    assert f"Memes like {calibrated_on}." in " ".join(card.split())


def test_the_model_learns_the_drawn_sentiment(trained):
    metrics = json.loads((trained[0] / "metrics.json").read_text())
    memes = metrics["sources"]["metmeme"]["test"]
    assert memes["auroc_valence"] >= 0.9, memes
    assert memes["log_loss_5"] < memes["log_loss_base_5"] - 0.2
    photos = metrics["sources"]["twitter-images"]["test"]
    assert photos["accuracy_all"] >= 0.8


def test_captions_decide_the_side_when_they_carry_the_mood(trained):
    p = Predictor.load(trained[0])
    rocket = photo("rocket", (160, 120))  # a photo the captions of both sides came on
    for reading in ("both", "text"):
        good = p.predict(rocket, "best day ever, i love this so much").readings[reading]
        bad = p.predict(rocket, "everything is terrible and i am angry").readings[reading]
        share = [positive_share(np.array([r[k] for k in LABELS])) for r in (good, bad)]
        assert share[0] > 0.6 and share[1] < 0.4, (reading, share)
    words = p.predict(None, "so happy and proud of my friends")
    assert words.readings["image"] is None and words.label3 == "positive"
    rng = random.Random(7)
    shares = {}
    for side in ("negative", "positive"):  # the picture alone, when it carries the mood
        probs = p.predict(draw_meme(_picture(side, rng), "ME ON A TUESDAY"), "").probs
        shares[side] = positive_share(np.array([probs[k] for k in LABELS]))
    # calibrated on memes whose picture is often a random photo, the picture alone is modest
    assert shares["positive"] > shares["negative"], shares
    readings = json.loads((trained[0] / "metrics.json").read_text())["sources"]["metmeme"]
    assert readings["test_readings"]["image"]["auroc_valence"] > 0.7
    assert readings["test_readings"]["text"]["auroc_valence"] > 0.7


def test_evaluate_json_is_complete_and_consistent(trained, folders, tmp_path, capfd):
    out, _ = trained
    target = tmp_path / "eval.json"
    args = ["--model", str(out), "--data", f"metmeme={folders['metmeme']}", "--json", str(target)]
    assert evaluate_main([*args, "--split", str(out / "split.json")]) == 0
    assert "evaluating:" not in capfd.readouterr().err  # no progress bar off a terminal
    m = json.loads(target.read_text())
    for key in (
        "auroc_valence",
        "spearman_intensity",
        "valence_ece",
        "log_loss_5",
        "log_loss_base_5",
        "shift_mean",
        "ci",
        "readings",
    ):
        assert key in m, key
    split = json.loads((out / "split.json").read_text())["metmeme"]["test"]
    trained_test = json.loads((out / "metrics.json").read_text())["sources"]["metmeme"]["test"]
    assert m["n"] + m["n_without_side"] == len(split)
    for key in ("auroc_valence", "spearman_intensity", "valence_ece", "log_loss_5", "shift_mean"):
        assert m[key] == pytest.approx(trained_test[key], abs=1e-5), key
    assert set(m["readings"]) == {"text", "image"}
    assert target.with_suffix(".valence.png").is_file()


def test_evaluate_names_split_examples_it_cannot_find(trained, folders, tmp_path, capsys):
    out, _ = trained
    test_names = json.loads((out / "split.json").read_text())["metmeme"]["test"]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"metmeme": {"test": [*test_names, "ghost.png"]}}))
    target = tmp_path / "eval.json"
    args = ["--model", str(out), "--data", f"metmeme={folders['metmeme']}", "--json", str(target)]
    assert evaluate_main([*args, "--split", str(split)]) == 0
    m = json.loads(target.read_text())
    assert m["missing"] == ["ghost.png"]
    assert "1 listed examples not in the data set" in capsys.readouterr().err
    assert evaluate_main([*args, "--split", str(split), "--part", "val"]) == 2
    assert "has no 'val' part" in capsys.readouterr().err


def test_cache_is_reused_and_same_seed_same_weights(trained, folders, tmp_path, monkeypatch):
    out, cache = trained
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert sum(p.startswith("lora-") for p in before) == 2  # the tuned adapters and their log

    def no_work(*args, **kwargs):
        raise AssertionError("features or tuning were recomputed instead of read from the cache")

    monkeypatch.setattr("train.features.load_image", no_work)
    monkeypatch.setattr("train.text_tuning._train", no_work)
    again = tmp_path / "again"
    run(parse_args([*_data(folders), "--out", str(again), "--cache", str(cache), *FAST]))
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    a, b = load_file(str(out / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    # how long the tuning took when it ran comes with the cached adapters
    first, cached = (json.loads((d / "metrics.json").read_text()) for d in (out, again))
    assert first["text_tuning"]["seconds"] > 0
    assert cached["text_tuning"]["seconds"] == first["text_tuning"]["seconds"]

    # a data set of weight 0 trains no part of the head (not even its feature statistics), and
    # is still evaluated
    args = [*_data(folders), "--out", str(tmp_path / "w0"), "--cache", str(cache), *FAST]
    run(parse_args([*args, "--weight", "sst5=0"]))
    c = load_file(str(tmp_path / "w0" / "model.safetensors"))
    assert not (c["text_mean"] == a["text_mean"]).all()
    metrics = json.loads((tmp_path / "w0" / "metrics.json").read_text())
    assert (
        metrics["data"]["sst5"]["weight"] == 0
        and "accuracy_5" in metrics["sources"]["sst5"]["test"]
    )


def test_the_writeup_recipe_trains_the_writeups_network(memotion_dir, tmp_path):
    out = tmp_path / "writeup"
    args = ["--data", str(memotion_dir), "--out", str(out), "--cache", str(tmp_path / "c")]
    assert train_main([*args, "--recipe", "writeup"]) == 0  # its own 60 epochs (early stopping)
    config = json.loads((out / "config.json").read_text())
    assert config["fusion"]["kind"] == "concat" and config["calibration"] == "none"
    assert config["text_tuning"] is None and config["text_backbone"]["tuning"] == ""
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["calibrated_on"] == "memotion" and "macro_f1_3" in metrics["test"]
    target = tmp_path / "eval.json"
    code = evaluate_main(
        [
            "--model",
            str(out),
            "--data",
            str(memotion_dir),
            "--json",
            str(target),
            "--split",
            str(out / "split.json"),
        ]
    )
    assert code == 0
    m = json.loads(target.read_text())
    for key in (
        "n",
        "accuracy_5",
        "macro_f1_5",
        "weighted_f1_5",
        "accuracy_3",
        "macro_f1_3",
        "weighted_f1_3",
        "per_class_3",
        "per_class_5",
        "confusion_3",
        "confusion_5",
        "auroc_3",
        "spearman_5",
        "log_loss_3",
        "log_loss_base_3",
        "brier_3",
        "ece_3",
        "macro_f1_3_balanced",
        "ci",
    ):
        assert key in m, key
    assert m["n"] == len(json.loads((out / "split.json").read_text())["memotion"]["test"])
    conf = np.array(m["confusion_3"])
    assert conf.sum() == m["n"] and np.isclose(np.trace(conf) / m["n"], m["accuracy_3"])
    assert m["population"] == config["base_rates_of"]
    assert re.fullmatch(
        r"the \d+ examples in memotion's layout from memes the model was calibrated on "
        r"\(labelled \d+% negative, \d+% neutral, \d+% positive\)",
        m["population"],
    )
    with pytest.raises(SystemExit):
        parse_args(["--data", f"sst5={tmp_path}", "--out", str(out), "--recipe", "writeup"])

    model = ["--model", str(out), "--data", str(memotion_dir)]
    bad = tmp_path / "bad.json"
    assert evaluate_main([*model, "--json", str(bad), "--label-shares", "negative=1"]) == 2
    assert not bad.exists()
    shares = "negative=0.2,neutral=0.3,positive=0.5"
    assert evaluate_main([*model, "--json", str(target), "--label-shares", shares]) == 0
    shifted = json.loads(target.read_text())
    assert shifted["population"].endswith(
        "shifted to the label shares you gave: negative=0.2, neutral=0.3, positive=0.5"
    )
    support = np.array([shifted["per_class_3"][c]["support"] for c in LABELS3])
    base = -(support * np.log([0.2, 0.3, 0.5])).sum() / support.sum()
    assert shifted["log_loss_base_3"] == pytest.approx(base)  # the shares are its base rates


def test_data_arguments_name_their_adapter(tmp_path):
    specs = data_specs([f"metmeme={tmp_path}", str(tmp_path / "memotion"), "corrections/"])
    assert specs[0] == DataSpec("metmeme", [tmp_path])
    assert specs[1] == DataSpec("memotion", [tmp_path / "memotion", Path("corrections/")])
    with pytest.raises(ValueError, match="unknown data set 'tweets'"):
        data_specs([f"tweets={tmp_path}"])
    with pytest.raises(ValueError, match="given twice"):
        data_specs([f"sst5={tmp_path}", f"sst5={tmp_path}"])
    with pytest.raises(SystemExit):
        parse_args(["--data", f"sst5={tmp_path}", "--out", "x", "--weight", "metmeme=2"])
    for weight in ("sst5=-1", "sst5=0"):  # negative; no data set left to train the head
        with pytest.raises(SystemExit):
            parse_args(["--data", f"sst5={tmp_path}", "--out", "x", "--weight", weight])
    memes = ["--data", f"metmeme={tmp_path}", "--out", "x"]
    assert parse_args([*memes, "--aux", "emotion", "--aux", "metaphor"]).head.aux == (
        "emotion",
        "metaphor",
    )
    with pytest.raises(SystemExit):  # SST-5's sentences have no emotion label
        parse_args(["--data", f"sst5={tmp_path}", "--out", "x", "--aux", "emotion"])
    with pytest.raises(SystemExit):
        parse_args([*memes, "--aux", "emotion", "--aux-weight", "0"])


def test_missing_and_broken_images_are_skipped(memotion_dir, tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    rows = (memotion_dir / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(rows[:8]) + "\n")
    for line in rows[1:5]:
        name = line.split(",")[0]
        (root / "images" / name).write_bytes((memotion_dir / "images" / name).read_bytes())
    (root / "images" / rows[5].split(",")[0]).write_text("not a picture")
    truncated = root / "images" / rows[7].split(",")[0]
    jpeg = io.BytesIO()
    Image.open(memotion_dir / "images" / truncated.name).convert("RGB").save(jpeg, "JPEG")
    truncated.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    with Image.open(truncated) as header:
        header.verify()  # a header check alone would let this one through
    memes = load_memes(root)
    assert len(memes) == 4
    reasons = dict(memes.skipped)
    assert reasons[rows[5].split(",")[0]].startswith("unreadable image")
    assert reasons[rows[6].split(",")[0]] == "image file missing"
    assert reasons[truncated.name].startswith("unreadable image")


def _folder(tmp_path: Path, header: str, *lines: str) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "labels.csv").write_text("\n".join([header, *lines]) + "\n")
    return tmp_path


def test_unknown_label_is_named(tmp_path):
    root = _folder(tmp_path, "image_name,text_corrected,overall_sentiment", "a.png,hi,meh")
    with pytest.raises(DataError, match=r"unknown overall_sentiment value.*'meh'"):
        load_memes(root)


def test_missing_column_is_named(tmp_path):
    root = _folder(tmp_path, "image_name,text_corrected", "a.png,hi")
    with pytest.raises(DataError, match=r"lacks the column.*overall_sentiment"):
        load_memes(root)


def test_empty_folder_stops_cleanly(tmp_path, capsys):
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "has no labels.csv" in capsys.readouterr().err
    root = _folder(tmp_path, "image_name,text_corrected,overall_sentiment")
    with pytest.raises(DataError, match="has no rows"):
        load_memes(root)


def test_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(5), [10, 20, 60, 90, 30])
    a, b = stratified_split(labels, 0.15, 0.15, 0), stratified_split(labels, 0.15, 0.15, 0)
    assert all((getattr(a, k) == getattr(b, k)).all() for k in ("train", "val", "test"))
    share = np.bincount(labels) * len(a.test) / len(labels)
    assert (np.abs(np.bincount(labels[a.test], minlength=5) - share) <= 1).all()
    c = stratified_split(labels, 0.15, 0.15, 1)
    assert not (a.test == c.test).all()


def test_split_of_few_memes_falls_back_or_says_why():
    few = stratified_split(np.repeat(np.arange(5), 3), 0.15, 0.15, 0)  # 3 test memes, 5 levels
    parts = (few.train, few.val, few.calib, few.test)
    assert sorted(np.concatenate(parts)) == list(range(15)) and min(map(len, parts)) > 0
    with pytest.raises(DataError, match="too few"):
        stratified_split(np.array([2]), 0.15, 0.15, 0)


def test_feature_cache_recomputes_damaged_files_and_leaves_no_temporary_names(tmp_path):
    import torch as torch_

    from train.features import _cached

    path = tmp_path / "cache" / "text-x.safetensors"
    calls = []

    def compute(a: int, b: int) -> torch_.Tensor:
        calls.append((a, b))
        return torch_.arange(a, b, dtype=torch_.float32).unsqueeze(1)

    first = _cached(path, 5, 2, compute, "test")
    assert first[:, 0].tolist() == [0, 1, 2, 3, 4] and len(calls) == 3
    assert _cached(path, 5, 2, compute, "test").equal(first) and len(calls) == 3  # from the cache
    path.write_bytes(b"half a file")
    assert _cached(path, 5, 2, compute, "test").equal(first) and len(calls) == 6  # recomputed
    assert _cached(path, 7, 2, compute, "test")[:, 0].tolist() == list(range(7))  # wrong rows
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files


def test_a_model_folder_is_not_written_over_unless_asked(tmp_path, capsys, shipped_model):
    data = make_metmeme(tmp_path / "metmeme", per_side=8)
    with pytest.raises(SystemExit) as stop:
        parse_args(["--data", f"metmeme={data}", "--out", str(shipped_model)])
    assert stop.value.code == 2
    said = capsys.readouterr().err
    assert "holds a model already" in said and "--overwrite" in said
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert str(DEFAULT_CACHE) in " ".join(capsys.readouterr().out.split())  # where the cache is
    cfg = parse_args(["--data", f"metmeme={data}", "--out", str(shipped_model), "--overwrite"])
    assert cfg.out == shipped_model


def test_a_recipe_and_a_flag_that_disagree_are_refused(memotion_dir, capsys):
    args = ["--data", str(memotion_dir), "--recipe", "writeup", "--out", "x"]
    with pytest.raises(SystemExit) as stop:
        parse_args([*args, "--epochs", "5", "--fusion", "gated"])
    said = capsys.readouterr().err
    assert stop.value.code == 2
    assert "--recipe writeup sets --epochs 60, and the command gives --epochs 5" in said
    assert "--fusion concat, and the command gives --fusion gated" in said
    kept = parse_args([*args, "--lr", "0.01", "--epochs", "60"])  # agrees, or is not the recipe's
    assert kept.head.lr == 0.01 and kept.head.epochs == 60 and kept.fusion == "concat"
    assert kept.head.batch_size == 64 and kept.head.flip is False and kept.tuning is None
