"""Small data sets in each source's layout, drawn by the tests: the caption or the picture
carries the mood, so a model that learns from them can be checked to have learnt it."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
from helpers import draw_meme, photo
from PIL import Image, ImageDraw

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
    _csv(root / "labels.csv", rows)
    return root


def _csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


EMOTIONS = {"negative": ("anger", "sorrow", "hate", "fear"), "positive": ("happiness", "love")}


def make_metmeme(root: Path, per_side: int = 24, surprise: int = 2, seed: int = 0) -> Path:
    """MET-Meme's layout: half the memes say it in the caption, half in the picture; a few
    surprise memes (no side) and one without a caption."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    photos = [photo(n, (160, 120)) for n in ("coffee", "astronaut", "rocket", "chelsea")]
    rows = []
    for side in ("negative", "positive"):
        for i in range(per_side):
            if i % 2:
                caption, picture = rng.choice(CAPTIONS[side]), rng.choice(photos)
            else:
                caption, picture = rng.choice(PLAIN), _picture(side, rng)
            name = f"image_{len(rows)}.jpg"
            draw_meme(picture, caption.upper()).save(root / "images" / name)
            rows.append(
                {
                    "image_name": name,
                    "text": "" if i == 2 else caption,
                    "emotion": EMOTIONS[side][i % len(EMOTIONS[side])],
                    "intensity": ("slightly", "slightly", "moderately", "very")[i % 4],
                    "intention": "expressive",
                    "offensiveness": "non-offensive",
                    "metaphor": "0",
                }
            )
    for _ in range(surprise):
        name = f"image_{len(rows)}.jpg"
        draw_meme(rng.choice(photos), "WAIT WHAT").save(root / "images" / name)
        rows.append({**rows[-1], "image_name": name, "text": "wait what", "emotion": "surprise"})
    _csv(root / "labels.csv", rows)
    return root


SENTENCES = {
    "very_negative": ["a dreadful , unbearable mess", "the worst film of the year , awful"],
    "negative": ["a dull and tired story", "it never quite works"],
    "neutral": ["the film runs two hours", "it opens in march"],
    "positive": ["a good , warm little film", "nicely acted and fun"],
    "very_positive": ["a brilliant , wonderful triumph", "the best film of the year , superb"],
}


def make_sst5(root: Path, copies: int = 4) -> Path:
    """SST-5's layout: train / dev / test sentences, a few per level."""
    root.mkdir(parents=True)
    for part, n in (("train", copies), ("dev", 1), ("test", 1)):
        lines = ["label\tsentence"]
        for level, sentences in SENTENCES.items():
            lines += [f"{level}\t{s}" for s in sentences for _ in range(n)]
        (root / f"{part}.tsv").write_text("\n".join(lines) + "\n")
    return root


def make_semeval(root: Path) -> Path:
    """SemEval Task 4A's layout; the training files repeat one test tweet (by text) and one
    tweet of another year (by id), which the adapter must drop."""
    folder = root / "task-a"
    folder.mkdir(parents=True)
    tweets = {
        "negative": ["i hate waiting for the bus @joe", "this weather is the worst \\u2019ugh"],
        "neutral": ["the game starts at 8 http://t.co/x", "new episode tonight on channel 4"],
        "positive": ["love this song so much", "what a great day with friends &amp; family"],
    }
    train = [
        (f"{k}{i}", y, t) for k, (y, ts) in enumerate(tweets.items()) for i, t in enumerate(ts)
    ]
    test = [("900", "positive", "so happy for you"), ("901", "negative", "awful news today")]
    (folder / "twitter-2017test.tsv").write_text("".join(f"{i}\t{y}\t{t}\n" for i, y, t in test))
    (folder / "twitter-2013train.tsv").write_text(
        "".join(f"{i}\t{y}\t{t}\n" for i, y, t in [*train, ("555", "positive", "so happy for you")])
    )
    (folder / "twitter-2016dev.tsv").write_text(f"{train[0][0]}\tnegative\t{train[0][2]}\n")
    return root


def make_twitter_images(root: Path, per_side: int = 12, seed: int = 0) -> Path:
    """Twitter I's layout: drawn faces, positive or negative, with agreement."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for side in ("negative", "positive"):
        for i in range(per_side):
            name = f"{side}_{i}.jpg"
            _picture(side, rng).save(root / "images" / name)
            rows.append({"image_name": name, "sentiment": side, "agreement": ("5/5", "4/5")[i % 2]})
    _csv(root / "labels.csv", rows)
    return root
