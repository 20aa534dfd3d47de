"""python -m benchmarks.ocr_cv FOLDER: how well PP-OCR settings read memes they were not chosen on.

The defaults of `memesent.ocr.paddle.PPOCRSettings` were chosen on the development memes
(`../shared/data/multioff-ocr`), so their score there flatters them. This benchmark runs the
defaults and candidates around them (one setting changed at a time: the detector's thresholds,
how far a line's box grows, the largest side the detector sees, the words' confidence bar) on
every meme, keeps each meme's word counts, and cross-validates the choice: in each of `--folds`
folds the candidate with the best word F1 on the other folds is chosen and scored on the
fold's memes. The estimate (recall and precision micro-averaged over every meme, each scored by
a choice made without it) stands beside the development scores; it estimates what choosing by
this procedure reads on new memes of the same kind.

    python -m benchmarks.ocr_cv ../shared/data/multioff-ocr --json docs/results/ocr_cv.json
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from memesent.ocr import DEFAULT_SETTINGS, extract_caption
from memesent.ocr.paddle import PPOCRSettings

from .ocr_metrics import normalise_words, overlap, read_transcriptions
from .timing import cpu_name, measured

BASE = DEFAULT_SETTINGS.ppocr


def candidates() -> dict[str, PPOCRSettings]:
    """The defaults and one change at a time around them."""
    stricter = tuple(c + 8 for c in BASE.min_confidence)
    looser = tuple(c - 8 for c in BASE.min_confidence)
    return {
        "defaults": BASE,
        "text_threshold 0.2": replace(BASE, text_threshold=0.2),
        "text_threshold 0.4": replace(BASE, text_threshold=0.4),
        "box_threshold 0.4": replace(BASE, box_threshold=0.4),
        "box_threshold 0.6": replace(BASE, box_threshold=0.6),
        "unclip_ratio 1.4": replace(BASE, unclip_ratio=1.4),
        "unclip_ratio 1.8": replace(BASE, unclip_ratio=1.8),
        "detection_side 1280": replace(BASE, detection_side=1280),
        "min_confidence -8": replace(BASE, min_confidence=looser),
        "min_confidence +8": replace(BASE, min_confidence=stricter),
    }


def counts(folder: Path, settings: PPOCRSettings) -> list[tuple[int, int, int]]:
    """(words in common, words transcribed, words read) for every meme of `folder`, in order."""
    ocr = replace(DEFAULT_SETTINGS, ppocr=settings)
    out = []
    for name, sentence in read_transcriptions(folder):
        text = extract_caption(
            folder / "images" / name, timeout=60, settings=ocr, engine="ppocr"
        ).text
        reference, read = normalise_words(sentence), normalise_words(text)
        out.append((overlap(reference, read), len(reference), len(read)))
    return out


def scores(rows: np.ndarray) -> dict[str, float]:
    """Micro-averaged word recall, precision and F1 of (common, transcribed, read) rows."""
    common, transcribed, read = rows.sum(axis=0)
    recall, precision = common / max(transcribed, 1), common / max(read, 1)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {"recall": float(recall), "precision": float(precision), "f1": float(f1)}


def fold_of(n: int, folds: int, seed: int) -> np.ndarray:
    """Each of `n` memes' fold: a seeded shuffle dealt round the folds (sizes differ by 1)."""
    return np.random.default_rng(seed).permutation(n) % folds


def cross_validate(per_meme: dict[str, np.ndarray], folds: int, seed: int) -> dict:
    """Each fold's memes scored by the candidate with the best F1 on the other folds."""
    fold = fold_of(len(next(iter(per_meme.values()))), folds, seed)
    held_out, chosen = [], []
    for k in range(folds):
        train, test = fold != k, fold == k
        best = max(per_meme, key=lambda name: scores(per_meme[name][train])["f1"])
        chosen.append(best)
        held_out.append(per_meme[best][test])
    return {"chosen": chosen, **scores(np.concatenate(held_out))}


def run(folder: Path, folds: int, seed: int, workers: int) -> dict:
    settings = candidates()
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(counts, [folder] * len(settings), settings.values())
        per_meme = {name: np.array(rows) for name, rows in zip(settings, results, strict=True)}
    return {
        "memes": len(per_meme["defaults"]),
        "folds": folds,
        "seed": seed,
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "development": {name: scores(rows) for name, rows in per_meme.items()},
        "cross_validated": cross_validate(per_meme, folds, seed),
    }


def table(r: dict) -> str:
    lines = [
        "| settings | word recall | word precision | word F1 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, s in r["development"].items():
        lines.append(
            f"| {name}, on all {r['memes']} development memes | "
            f"{s['recall']:.3f} | {s['precision']:.3f} | {s['f1']:.3f} |"
        )
    cv = r["cross_validated"]
    lines.append(
        f"| **chosen by {r['folds']}-fold cross-validation**, each meme scored by a choice "
        f"made without it | **{cv['recall']:.3f}** | **{cv['precision']:.3f}** | "
        f"**{cv['f1']:.3f}** |"
    )
    picks = ", ".join(sorted(set(cv["chosen"]), key=cv["chosen"].index))
    return "\n".join(lines) + f"\n\nChosen in the folds: {picks}. {r['machine']}."


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.ocr_cv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", type=Path, help="folder with labels.csv and images/")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="candidates read side by side")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if not (a.folder / "labels.csv").is_file():
        p.error(f"{a.folder / 'labels.csv'} does not exist (a MultiOFF-layout folder)")
    return measured(lambda: run(a.folder, a.folds, a.seed, a.workers), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
