"""Faithfulness and speed of `memesent.explain` on labelled memes.

    python -m benchmarks.explain_faithfulness --data [SOURCE=]DIR [--model DIR] [--n 200]
                                              [--json FILE] [--threads N]

For `--n` memes drawn with a fixed seed (a data set with pictures and captions: MET-Meme, or a
bare DIR in Memotion's layout), each explained:
- words (scored by which way they push the answer): delete (from the caption string) the 3
  words that push hardest toward the answer's side of neutral, or 3 random words (captions of
  fewer than 4 words are skipped), and re-predict; the drop is in the answer side's share of
  the two sides' probability;
- picture (the heat map of the predicted level): grey out (RGB 128, in the original picture,
  before preprocessing) the 20% of pixels with the most heat, or the hottest 20% of a random
  map as coarse as Grad-CAM's (random blobs of the same area and smoothness: the matched
  control), and re-predict; the drop is in the predicted level's probability; the same area
  scattered over single random pixels is reported too, for reference.
Random deletions are averaged over 5 draws per meme. Speed: median seconds of `predict` and
`explain` on one 500x500 meme with a 20-word caption, alternated in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from memesent.checkpoint import DEFAULT_MODEL_DIR
from memesent.heatmap import heat_map
from memesent.images import load_image
from memesent.labels import LABELS, positive_share
from memesent.predictor import Predictor

from .timing import alternating, load_average, write_result

SEED = 0
DRAWS = 5
TOP_WORDS = 3
MIN_WORDS = TOP_WORDS + 1
GREY_FRACTION = 0.2
GRID = 8  # EfficientNet-Lite0 at 256 px gives Grad-CAM an 8x8 map
SPEED_RUNS = 15
SPEED_CAPTION = (
    "when you finish the group project at three in the morning "
    "and your teammate says he never got the email"
)


def read_memes(
    source: str, root: Path, n: int, names: set[str] | None = None
) -> list[tuple[Path, str]]:
    """`n` (picture, caption) pairs of the data set with both (and among `names`, if given),
    drawn with `SEED`."""
    from train.sources import WHOLE, load_source

    ex = load_source(source, root, WHOLE)
    rows = [
        (ex.images[i], ex.captions[i] or "")
        for i in range(len(ex))
        if ex.images[i] is not None and (names is None or ex.names[i] in names)
    ]
    return random.Random(SEED).sample(rows, min(n, len(rows)))


def side_share(probs: dict[str, float], side: int) -> float:
    """The share of the two sides' probability on `side` (+1 positive, -1 negative)."""
    share = float(positive_share(np.array([probs[k] for k in LABELS])))
    return share if side > 0 else 1 - share


def without(words: Sequence[str], drop: Sequence[int]) -> str:
    """The caption with the words at the positions `drop` removed."""
    gone = set(drop)
    return " ".join(w for i, w in enumerate(words) if i not in gone)


def greyed(picture: Image.Image, heat: np.ndarray) -> Image.Image:
    """`picture` with its `GREY_FRACTION` hottest pixels under `heat` set to mid grey."""
    k = round(GREY_FRACTION * heat.size)
    hottest = np.argpartition(heat.ravel(), heat.size - k)[heat.size - k :]
    pixels = np.array(picture)
    pixels.reshape(-1, 3)[hottest] = 128
    return Image.fromarray(pixels)


def score_meme(
    predictor: Predictor, picture: Image.Image, caption: str, rng: np.random.Generator
) -> dict:
    """One meme's drops in the explained level's probability, top-scored vs random deletions."""
    e = predictor.explain(picture, caption)
    words = [w for w, _ in e.words]
    size = e.heatmap.shape
    blobs = [heat_map(torch.from_numpy(rng.random((1, 1, GRID, GRID))), size) for _ in range(DRAWS)]
    scattered = [rng.random(size) for _ in range(DRAWS)]
    images = [greyed(picture, h) for h in [e.heatmap, *blobs, *scattered]]
    captions = [caption] * len(images)
    word_check = len(words) >= MIN_WORDS
    side = 1 if side_share(e.probs, 1) >= 0.5 else -1
    if word_check:
        top = sorted(range(len(words)), key=lambda i: -side * e.words[i][1])[:TOP_WORDS]
        draws = [rng.choice(len(words), TOP_WORDS, replace=False).tolist() for _ in range(DRAWS)]
        captions += [without(words, drop) for drop in [top, *draws]]
        images += [picture] * (1 + DRAWS)
    answers = predictor.predict_batch(images, captions)
    base = e.probs[e.target]
    drops = [base - r.probs[e.target] for r in answers]
    pictures = len(images) - (1 + DRAWS if word_check else 0)
    side_base = side_share(e.probs, side)
    drops[pictures:] = [side_base - side_share(r.probs, side) for r in answers[pictures:]]
    row = {
        "target": e.target,
        "prob": base,
        "words": len(words),
        "cold_heat_map": bool(e.heatmap.max() == 0),
        "grey_top_drop": drops[0],
        "grey_blobs_drop": statistics.fmean(drops[1 : 1 + DRAWS]),
        "grey_scattered_drop": statistics.fmean(drops[1 + DRAWS : 1 + 2 * DRAWS]),
    }
    if word_check:
        row["word_top_drop"] = drops[1 + 2 * DRAWS]
        row["word_random_drop"] = statistics.fmean(drops[2 + 2 * DRAWS :])
    return row


def faithfulness(
    predictor: Predictor,
    source: str,
    data: Path,
    n: int,
    names: set[str] | None = None,
    log: bool = True,
) -> list[dict]:
    """`score_meme` on `n` memes of `data` (among `names`, if given)."""
    rng = np.random.default_rng(SEED)
    rows = []
    for i, (path, caption) in enumerate(read_memes(source, data, n, names)):
        picture = load_image(path)
        rows.append({"image": path.name, **score_meme(predictor, picture, caption, rng)})
        if log and (i + 1) % 20 == 0:
            print(f"{i + 1} memes", file=sys.stderr, flush=True)
    return rows


def speed(predictor: Predictor, picture: Image.Image) -> dict:
    """Median seconds of `predict` and `explain` on `picture` squeezed to 500x500, 20 words."""
    meme = picture.resize((500, 500))
    calls = {
        "predict": lambda: predictor.predict(meme, SPEED_CAPTION),
        "explain": lambda: predictor.explain(meme, SPEED_CAPTION),
    }
    runs = alternating(calls, SPEED_RUNS, warmup=1)
    out = {f"{name}_median_s": statistics.median(t) for name, t in runs.items()}
    out["ratio"] = out["explain_median_s"] / out["predict_median_s"]
    out["runs"], out["torch_threads"] = SPEED_RUNS, torch.get_num_threads()
    out["load_average"] = os.getloadavg()[0]
    return out


CHECKS = {  # name: (top-drop key, random-drop key, what is compared)
    "words": (
        "word_top_drop",
        "word_random_drop",
        "delete the 3 words pushing hardest toward the answer's side / 3 random",
    ),
    "picture": ("grey_top_drop", "grey_blobs_drop", "grey the hottest 20% / random 20% blobs"),
    "picture, scattered": (
        "grey_top_drop",
        "grey_scattered_drop",
        "grey the hottest 20% / random 20% of pixels, scattered",
    ),
}


def summary(rows: list[dict]) -> dict:
    """Per check: memes used, mean drops, their ratio, and how often the top drop is larger."""
    out = {}
    for check, (top_key, random_key, _) in CHECKS.items():
        used = [r for r in rows if top_key in r]
        if not used:
            raise ValueError(f"no meme among {len(rows)} could be used for the {check} check")
        top = statistics.fmean(r[top_key] for r in used)
        rand = statistics.fmean(r[random_key] for r in used)
        out[check] = {
            "memes": len(used),
            "top_drop": top,
            "random_drop": rand,
            "ratio": top / rand if rand > 0 else None,  # no ratio when random deletions help
            "top_larger": sum(r[top_key] > r[random_key] for r in used) / len(used),
        }
    return out


def table(s: dict, t: dict) -> str:
    """The summary and speed as markdown tables, each criterion of the issue marked met or not."""
    w, g = s["words"], s["picture"]
    met = {
        "words": w["top_drop"] > 0 and w["top_drop"] >= 2 * w["random_drop"],
        "picture": g["top_drop"] > g["random_drop"],
        "explain": t["explain_median_s"] <= 1.0,
        "ratio": t["ratio"] <= 10,
    }
    criteria = {"words": "top >= 2x random", "picture": "top > random", "picture, scattered": ""}
    lines = [
        "| check (top / random) | memes | drop, top | drop, random | ratio | top larger "
        "| criterion | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for check, (_, _, what) in CHECKS.items():
        c = s[check]
        ratio = "n/a" if c["ratio"] is None else f"{c['ratio']:.2f}"
        lines.append(
            f"| {what} | {c['memes']} | {c['top_drop']:.3g} | {c['random_drop']:.3g} "
            f"| {ratio} | {c['top_larger']:.0%} | {criteria[check]} "
            f"| {_yes(met[check]) if check in met else ''} |"
        )
    lines += [
        "",
        f"| 500x500 meme, 20-word caption: median of {t['runs']} runs "
        f"(torch threads: {t['torch_threads']}, load average {t['load_average']:.1f}) "
        "| seconds | criterion | met |",
        "|---|---:|---|---|",
        f"| predict | {t['predict_median_s']:.3f} | | |",
        f"| explain | {t['explain_median_s']:.3f} | <= 1.0 s | {_yes(met['explain'])} |",
        f"| explain / predict | {t['ratio']:.1f}x | <= 10x | {_yes(met['ratio'])} |",
    ]
    return "\n".join(lines)


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.explain_faithfulness",
        description="Deletion faithfulness of explain's word scores and heat maps, and its speed.",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_DIR,
        help="model folder (default: the shipped model)",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="[SOURCE=]DIR",
        help="memes with captions: metmeme=DIR, or a bare DIR in Memotion's layout",
    )
    parser.add_argument("--n", type=int, default=200, help="memes to draw (default 200)")
    parser.add_argument(
        "--split",
        type=Path,
        help="draw only from the test part of this split.json (default: the model folder's "
        "split.json when there is one, so that the memes are ones the model never trained on)",
    )
    parser.add_argument("--json", type=Path, help="also write the summary and per-meme results")
    parser.add_argument(
        "--summary-json", type=Path, help="also write the summary and speed alone (docs/results/)"
    )
    parser.add_argument(
        "--threads", type=int, help=f"torch threads (default: {torch.get_num_threads()} here)"
    )
    args = parser.parse_args(argv)
    load = load_average()
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.split and not args.split.is_file():
        parser.error(f"--split {args.split} does not exist")
    if args.threads:
        torch.set_num_threads(args.threads)
    from train.config import data_specs

    (spec,) = data_specs([args.data])
    source, data = spec.source, spec.roots[0]
    predictor = Predictor.load(args.model)
    split = args.split or args.model / "split.json"
    names = _test_names(split, source) if split.is_file() else None
    if names is not None and not read_memes(source, data, 1, names):
        if args.split:
            print(
                f"python -m benchmarks.explain_faithfulness: no meme of {split} is in {data}",
                file=sys.stderr,
            )
            return 2
        names = None  # other memes than the model was trained on: all of them are unseen
    rows = faithfulness(predictor, source, data, args.n, names)
    try:
        s = summary(rows)
    except ValueError as err:
        print(
            f"python -m benchmarks.explain_faithfulness: {err}; draw more with --n",
            file=sys.stderr,
        )
        return 2
    timing = speed(predictor, load_image(read_memes(source, data, 1, names)[0][0]))
    cold = sum(r["cold_heat_map"] for r in rows)
    print(
        f"{len(rows)} memes from {data}"
        f"{f' (test part of {split})' if names is not None else ''} (seed {SEED}), model "
        f"{args.model}: drops of the answer side's share (words) and of the predicted level's "
        f"probability (picture); random deletions averaged over {DRAWS} draws per meme; "
        f"captions under {MIN_WORDS} words skipped for the word check; {cold} heat maps all "
        "zero\n"
    )
    print(table(s, timing))
    if args.json:
        args.json.write_text(
            json.dumps({"summary": s, "speed": timing, "memes": rows}, indent=1), encoding="utf-8"
        )
    if args.summary_json:
        kept = {"memes": len(rows), "data": source, "summary": s, "speed": timing}
        write_result(args.summary_json, kept, load)
    return 0


def _test_names(split: Path, source: str) -> set[str] | None:
    """The test part of `source` in a split.json (one written for Memotion alone by an earlier
    memesent holds the parts at its top level)."""
    parts = json.loads(split.read_text())
    if source in parts:
        return set(parts[source]["test"])
    return set(parts["test"]) if "test" in parts else None


if __name__ == "__main__":
    sys.exit(main())
