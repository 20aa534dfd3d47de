"""Does retraining on people's corrections work, and how long does it take?

    python -m benchmarks.corrections --data ../shared/data/memotion7k [--n 300] [--held 300]
                                     [--json FILE]

People's corrections are simulated, because none exist yet: Memotion memes (pictures and
captions) get the level a consistent rule gives them — VADER's compound score of the caption
with VADER's own thresholds: ≤ -0.05 negative, ≥ 0.05 positive, neutral between — standing in
for a team that labels by one shared convention; they are stored through
`webapp.corrections.CorrectionStore`, as `/correct` stores them. `--n` of them train
`python -m train --data UPDATE --init assets/model` (timed twice: the first run fills the
feature cache), `--held` others are held out; the shipped and the updated models are scored on
those with `train.evaluate`: how often each agrees with the corrections. For reference, a
logistic regression (scikit-learn, C = 1) on the frozen caption features alone, fitted on the
same update memes and scored on the same held-out ones.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from memesent.collection import leaves_folder
from memesent.model_files import DEFAULT_MODEL_DIR, model_version
from webapp.corrections import CorrectionStore

from .timing import measured

ROOT = Path(__file__).resolve().parent.parent


def rule(compound: float) -> str:
    """The simulated people's level for a caption's VADER compound score."""
    return "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"


def simulate(data: Path, n: int, held_n: int, work: Path) -> tuple[Path, Path]:
    """Two corrections folders of memes from `data` labelled by `rule`: `n` to update on, and
    `held_n` held out (stratified, fixed seed)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    with open(data / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if (r.get("text_corrected") or r.get("text_ocr") or "").strip()
            and not leaves_folder(r["image_name"])
        ][: n + held_n]
    analyzer = SentimentIntensityAnalyzer()
    captions = [(r["text_corrected"] or r["text_ocr"]).strip() for r in rows]
    levels = [rule(analyzer.polarity_scores(c)["compound"]) for c in captions]
    update, held = train_test_split(
        np.arange(len(rows)), train_size=n, test_size=held_n, stratify=levels, random_state=0
    )
    version = model_version(DEFAULT_MODEL_DIR)
    folders = []
    for name, part in (("update", update), ("held_out", held)):
        store = CorrectionStore(work / name)
        for i in part:
            picture = (data / "images" / rows[i]["image_name"]).read_bytes()
            store.save(picture, captions[i], levels[i], "", version)
        folders.append(store.folder)
    return folders[0], folders[1]


def agreement(model: Path, held: Path, work: Path) -> dict:
    """`python -m train.evaluate` of `model` on the held-out corrections."""
    out = work / f"eval-{model.name}.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "train.evaluate",
            "--model",
            str(model),
            "--data",
            str(held),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    m = json.loads(out.read_text())
    return {k: m[k] for k in ("n", "accuracy_5", "accuracy_3", "macro_f1_3", "log_loss_3")}


def caption_probe(update: Path, held: Path, cache: Path) -> float:
    """Held-out agreement of a logistic regression on the frozen caption features."""
    from sklearn.linear_model import LogisticRegression

    from memesent.backbones import DEFAULT_TEXT, load_text_encoder
    from train.features import text_features
    from train.sources.memotion import load_memes

    encoder = load_text_encoder(DEFAULT_TEXT)
    fit, scored = load_memes(update), load_memes(held)
    x_fit = text_features(encoder, fit.captions, cache).numpy()
    x_scored = text_features(encoder, scored.captions, cache).numpy()
    probe = LogisticRegression(C=1.0, max_iter=5000).fit(x_fit, fit.labels)
    return float((probe.predict(x_scored) == scored.labels).mean())


def run(data: Path, n: int, held_n: int, work: Path) -> dict:
    update, held = simulate(data, n, held_n, work)
    updated = work / "updated"
    command = [
        sys.executable,
        "-m",
        "train",
        "--data",
        str(update),
        "--init",
        str(DEFAULT_MODEL_DIR),
        "--out",
        str(updated),
        "--cache",
        str(work / "cache"),
        "--overwrite",  # the second run, from the cache, replaces the first's model
    ]
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    with open(update / "labels.csv", newline="", encoding="utf-8") as handle:
        update_n = sum(1 for _ in csv.DictReader(handle))
    return {
        "update": update_n,
        "train_seconds_first": seconds[0],
        "train_seconds_cached": seconds[1],
        "shipped": agreement(DEFAULT_MODEL_DIR, held, work),
        "updated": agreement(updated, held, work),
        "caption_probe_agrees": caption_probe(update, held, work / "cache"),
    }


def table(r: dict) -> str:
    s, u = r["shipped"], r["updated"]
    return "\n".join(
        [
            f"simulated corrections: retrained on {r['update']}, {s['n']} held out",
            f"`python -m train --init`: {r['train_seconds_first']:.1f} s (features computed), "
            f"{r['train_seconds_cached']:.1f} s (cached)",
            "",
            "| model | agrees, 5 levels | agrees, 3 classes | macro-F1 (3) | log-loss (3) |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(
                f"| {name} | {m['accuracy_5']:.3f} | {m['accuracy_3']:.3f} | "
                f"{m['macro_f1_3']:.3f} | {m['log_loss_3']:.3f} |"
                for name, m in (("shipped", s), ("updated with --init", u))
            ),
            "",
            f"logistic regression on the caption features alone agrees "
            f"{r['caption_probe_agrees']:.3f}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.corrections",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="a Memotion-layout folder")
    p.add_argument("--n", type=int, default=300, help="simulated corrections to update on")
    p.add_argument("--held", type=int, default=300, help="simulated corrections held out")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.n < 20:
        p.error("--n must be at least 20")
    with tempfile.TemporaryDirectory(prefix="memesent-corrections-") as work:
        return measured(lambda: run(a.data, a.n, a.held, Path(work)), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
