"""End-to-end training on a small drawn data set: the caption or the picture carries the mood."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import draw_meme, photo
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from memesent import LABELS, Predictor
from memesent.backbones import load_text_encoder
from train.__main__ import main as train_main
from train.__main__ import parse_args
from train.data import DataError, load_memes, stratified_split
from train.evaluate import main as evaluate_main
from train.run import run

CAPTIONS = {
    "negative": [
        "i hate mondays so much, worst day ever",
        "this is awful and sad, i want to cry",
        "everything is terrible and i am angry",
        "so depressing, nobody loves me",
    ],
    "neutral": [
        "the meeting is moved to room four",
        "bus schedule for the spring term",
        "a table with two chairs and a lamp",
        "the report has twelve pages",
    ],
    "positive": [
        "best day ever, i love this so much",
        "so happy and proud of my friends",
        "this is wonderful, amazing news",
        "great vibes, pure joy and fun",
    ],
}
PLAIN = ["me on a tuesday", "when you see it", "my face when", "nobody:"]
PICTURES = {"negative": (40, 20, 60), "neutral": (128, 128, 128), "positive": (250, 210, 40)}


def _picture(sentiment: str, rng: random.Random) -> Image.Image:
    """A flat colour with a face whose mouth follows the sentiment, plus a little noise."""
    img = Image.new("RGB", (160, 160), PICTURES[sentiment])
    d = ImageDraw.Draw(img)
    d.ellipse((40, 30, 120, 110), outline="black", width=4)
    d.ellipse((60, 55, 68, 63), fill="black")
    d.ellipse((92, 55, 100, 63), fill="black")
    if sentiment == "positive":
        d.arc((58, 60, 102, 100), 20, 160, fill="black", width=4)
    elif sentiment == "negative":
        d.arc((58, 85, 102, 125), 200, 340, fill="black", width=4)
    else:
        d.line((62, 90, 98, 90), fill="black", width=4)
    arr = np.asarray(img, dtype=np.int16) + rng.randint(-20, 20)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_memes(root: Path, per_class: int = 24, seed: int = 0) -> Path:
    """A Memotion-layout folder: half the memes say it in the caption, half in the picture."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    photos = [photo(n, (160, 160)) for n in ("coffee", "astronaut", "rocket", "chelsea")]
    for sentiment in ("negative", "neutral", "positive"):
        for i in range(per_class):
            name = f"{sentiment}_{i}.png"
            if i % 2:
                caption = rng.choice(CAPTIONS[sentiment])
                picture = rng.choice(photos)
            else:
                caption = rng.choice(PLAIN)
                picture = _picture(sentiment, rng)
            draw_meme(picture, caption.upper()).save(root / "images" / name)
            rows.append(
                {
                    "image_name": name,
                    "text_ocr": caption,
                    "text_corrected": caption,
                    "overall_sentiment": sentiment,
                    "humour": "funny",
                    "sarcasm": "general",
                    "offensive": "not_offensive",
                    "motivational": "",
                }
            )
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


FAST = [
    "--members",
    "2",
    "--epochs",
    "40",
    "--patience",
    "40",
    "--hidden",
    "64",
    "--test-fraction",
    "0.3",
    "--val-fraction",
    "0.2",
]


@pytest.fixture(scope="module")
def memes_dir(tmp_path_factory) -> Path:
    return make_memes(tmp_path_factory.mktemp("memes"))


@pytest.fixture(scope="module")
def trained(memes_dir, tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("run")
    out, cache = work / "model", work / "cache"
    code = train_main(["--data", str(memes_dir), "--out", str(out), "--cache", str(cache), *FAST])
    assert code == 0
    return out, cache


def test_training_writes_the_model_folder(trained):
    out, _ = trained
    expected = {
        "config.json",
        "model.safetensors",
        "metrics.json",
        "confusion.png",
        "reliability.png",
        "training_curve.png",
        "MODEL_CARD.md",
        "split.json",
    }
    assert expected <= {p.name for p in out.iterdir()}
    split = json.loads((out / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    parts = [set(split[k]) for k in ("train", "val", "calibration", "test")]
    assert sum(map(len, parts)) == len(set().union(*parts)) == 72  # every meme in one part
    assert "test split" in (out / "MODEL_CARD.md").read_text()


def test_the_model_learns_the_drawn_sentiment(trained):
    metrics = json.loads((trained[0] / "metrics.json").read_text())
    assert metrics["test"]["accuracy_3"] >= 0.8, metrics["test"]["confusion_3"]
    assert min(metrics["test"]["auroc_3"].values()) > 0.8
    assert metrics["test"]["log_loss_3"] < metrics["test"]["log_loss_base_3"] - 0.3


def test_shipped_style_predictor_reads_captions_and_pictures(trained, text_encoder, image_encoder):
    from memesent.checkpoint import load_checkpoint

    p = Predictor(load_checkpoint(trained[0]), text_encoder, image_encoder)
    rng = random.Random(7)
    for sentiment in ("negative", "positive"):
        meme = draw_meme(_picture(sentiment, rng), "ME ON A TUESDAY")
        assert p.predict(meme, "me on a tuesday").label3 == sentiment
    caption = "worst day ever, i hate it"
    assert p.predict(draw_meme(photo("coffee", (160, 160)), caption.upper()), caption).label3 == (
        "negative"
    )


def test_evaluate_json_is_complete_and_consistent(trained, memes_dir, tmp_path):
    out, _ = trained
    target = tmp_path / "eval.json"
    code = evaluate_main(
        [
            "--model",
            str(out),
            "--data",
            str(memes_dir),
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
        "classwise_ece_3",
        "macro_f1_3_balanced",
        "ci",
    ):
        assert key in m, key
    n = m["n"]
    assert n == len(json.loads((out / "split.json").read_text())["test"])
    for k, names in (("3", ("negative", "neutral", "positive")), ("5", LABELS)):
        conf = np.array(m[f"confusion_{k}"])
        assert conf.sum() == n
        assert np.isclose(np.trace(conf) / n, m[f"accuracy_{k}"])
        assert sum(m[f"per_class_{k}"][c]["support"] for c in names) == n
        f1s = [m[f"per_class_{k}"][c]["f1"] for c in names]
        assert np.isclose(np.mean(f1s), m[f"macro_f1_{k}"])
    trained_metrics = json.loads((out / "metrics.json").read_text())["test"]
    for key in ("accuracy_3", "log_loss_3", "log_loss_base_3", "brier_3", "ece_3"):
        assert m[key] == pytest.approx(trained_metrics[key], abs=1e-6), key
    assert m["auroc_3"] == pytest.approx(trained_metrics["auroc_3"], abs=1e-6)
    assert target.with_suffix(".confusion.png").is_file()
    assert target.with_suffix(".reliability.png").is_file()


def test_evaluate_names_split_memes_it_cannot_find(trained, memes_dir, tmp_path, capsys):
    out, _ = trained
    test_names = json.loads((out / "split.json").read_text())["test"]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [*test_names, "ghost.png"]}))
    target = tmp_path / "eval.json"
    args = ["--model", str(out), "--data", str(memes_dir), "--json", str(target)]
    assert evaluate_main([*args, "--split", str(split)]) == 0
    m = json.loads(target.read_text())
    assert m["missing"] == ["ghost.png"] and m["n"] == len(test_names)
    assert "1 listed memes not in labels.csv" in capsys.readouterr().err
    assert evaluate_main([*args, "--split", str(split), "--part", "val"]) == 2
    assert "has no 'val' part" in capsys.readouterr().err


def test_cache_is_reused_and_same_seed_same_weights(trained, memes_dir, tmp_path, monkeypatch):
    out, cache = trained
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(before) == 3  # text, image, mirrored image

    def no_decoding(*args, **kwargs):
        raise AssertionError("features were recomputed instead of read from the cache")

    monkeypatch.setattr("train.features.load_image", no_decoding)
    again = tmp_path / "again"
    run(parse_args(["--data", str(memes_dir), "--out", str(again), "--cache", str(cache), *FAST]))
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    a, b = load_file(str(out / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)

    other = tmp_path / "other"
    run(
        parse_args(
            [
                "--data",
                str(memes_dir),
                "--out",
                str(other),
                "--cache",
                str(cache),
                *FAST,
                "--hidden",
                "32",
                "--seed",
                "1",
            ]
        )
    )
    c = load_file(str(other / "model.safetensors"))
    assert c["members.0.out.1.weight"].shape[1] == 32


def test_missing_and_broken_images_are_skipped(memes_dir, tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    rows = (memes_dir / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(rows[:8]) + "\n")
    for line in rows[1:5]:
        name = line.split(",")[0]
        (root / "images" / name).write_bytes((memes_dir / "images" / name).read_bytes())
    (root / "images" / rows[5].split(",")[0]).write_text("not a picture")
    truncated = root / "images" / rows[7].split(",")[0]
    jpeg = io.BytesIO()
    Image.open(memes_dir / "images" / truncated.name).convert("RGB").save(jpeg, "JPEG")
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


# Captions the fine-tuning never saw, in other words than the training captions
UNSEEN_CAPTIONS = [
    ("such a miserable rotten afternoon, i feel awful", "negative"),
    ("everyone ignores me and it hurts", "negative"),
    ("the library opens at nine on weekdays", "neutral"),
    ("a grey box sits on the shelf", "neutral"),
    ("we won the final, what a fantastic night", "positive"),
    ("my puppy makes me smile every morning", "positive"),
]


def outside_test_of(memes) -> list:
    from train.ablation import outside_test
    from train.run import TrainConfig

    return list(outside_test(TrainConfig(Path(), Path()), memes.labels))


def test_finetune_trains_only_the_top_layers_and_learns_captions(memes_dir, tmp_path):
    from train.finetune import FinetuneSettings, finetune_fold
    from train.finetune import main as finetune_main

    memes = load_memes(memes_dir)
    worded = np.array(
        [i for i, n in enumerate(memes.names) if int(n.split("_")[1].split(".")[0]) % 2]
    )
    settings = FinetuneSettings(layers=1, epochs=4, lr=1e-4, head_lr=1e-2, batch_size=8)
    model = finetune_fold(memes.captions, memes.labels, worded, worded, settings, seed=0)
    fresh = load_text_encoder().state_dict()
    tuned = model.encoder.state_dict()
    changed = {
        k.split(".")[3]
        for k in fresh
        if "encoder.layer." in k and not torch.equal(fresh[k], tuned[k])
    }
    assert changed == {"5"}  # MiniLM's six layers: only the top one moved
    assert torch.equal(
        fresh["model.embeddings.word_embeddings.weight"],
        tuned["model.embeddings.word_embeddings.weight"],
    )
    probs = model.log_probs([c for c, _ in UNSEEN_CAPTIONS]).exp().numpy()
    assert [LABELS[k] for k in probs.argmax(1)] == [label for _, label in UNSEEN_CAPTIONS]

    out = tmp_path / "finetune.json"
    code = finetune_main(
        [
            "--data",
            str(memes_dir),
            "--layers",
            "1",
            "--epochs",
            "1",
            "--folds",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    row = json.loads(out.read_text())["row"]
    assert row["variant"].startswith("text only") and row["n"] == len(outside_test_of(memes))


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
