"""The original write-up's benchmark: Memotion 7k's sentiment in three classes (SemEval-2020
Task 8), on the test part of a write-up run's split, beside the write-up's published numbers.

    python -m train --recipe writeup --data ../shared/data/memotion7k --out runs/writeup
    python -m benchmarks.memotion --data ../shared/data/memotion7k --writeup runs/writeup \\
        [--model assets/model] [--json docs/results/memotion.json]

Every row scores the same test memes, through `memesent.Predictor` (decoding, backbones, head):
the model (`--model`, the shipped one by default) as it is, calibrated on its own memes; the
same model shifted to Memotion's label shares, counted on the run's train part
(`Predictor.with_label_shares`, three classes); the write-up recipe's model (`--writeup`, which
trained, stopped and measured its base rates on that split's other parts); and the train part's
label shares said for every meme. Accuracy, macro-F1 and log-loss of the three classes, with
percentile bootstrap 95 % intervals (`train.metrics`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from memesent import LABELS, LABELS3, Predictor
from memesent.labels import collapse
from memesent.model_files import DEFAULT_MODEL_DIR
from train.evaluate import predict, select
from train.metrics import evaluate_probs, with_interval
from train.sources import SOURCES, Examples, Splitting
from train.sources.memotion import SOURCE_NAME, WRITEUP_PUBLISHED

from .timing import measured

MEASURES = ("accuracy_3", "macro_f1_3", "log_loss_3")


def shares(levels: np.ndarray) -> np.ndarray:
    """How often each of the five levels occurs among `levels` (indices)."""
    return np.bincount(levels, minlength=len(LABELS)) / len(levels)


def row(name: str, levels: np.ndarray, probs: np.ndarray, base_rates: np.ndarray) -> dict:
    """One row: the measures of `probs` (n, 5) against the true `levels`, their intervals, and
    how often each class is the answer."""
    m = evaluate_probs(levels, probs, base_rates)
    answers = np.bincount(collapse(probs).argmax(1), minlength=len(LABELS3)) / len(levels)
    return {
        "row": name,
        "n": m["n"],
        **{k: m[k] for k in MEASURES},
        "ci": {k: m["ci"][k] for k in MEASURES},
        "answers_3": dict(zip(LABELS3, answers.tolist(), strict=True)),
    }


def shifted_answers(predictor: Predictor, shifted: Predictor, ex: Examples) -> list[np.ndarray]:
    """Both predictors' answers (n, 5) on every example, from one pass through the backbones
    they share."""
    out: list[list] = [[], []]
    pairs = zip(ex.images, ex.captions, strict=True)
    for image, caption in tqdm(pairs, total=len(ex), disable=None):
        features = predictor.encode(image, caption or "")
        for answers, p in zip(out, (predictor, shifted), strict=True):
            answers.append([p.predict_features(features).probs[k] for k in LABELS])
    return [np.array(a) for a in out]


def run(data: Path, writeup: Path, model: Path) -> dict:
    """Every row on the test part of `writeup`'s split of Memotion in `data` (see the module)."""
    split = json.loads((writeup / "split.json").read_text())[SOURCE_NAME]
    memes = SOURCES[SOURCE_NAME].read([data], Splitting())
    train, _ = select(memes, split["train"], data)
    test, missing = select(memes, split["test"], data)
    if missing or test.skipped:
        raise SystemExit(
            f"{len(missing) + len(test.skipped)} test memes are not readable in {data}"
        )
    levels = test.extra["level"]
    train5 = shares(train.extra["level"])
    train3 = {c: round(float(s), 3) for c, s in zip(LABELS3, collapse(train5), strict=True)}
    shipped = Predictor.load(model)
    shifted = shipped.with_label_shares(train3)
    as_is, moved = shifted_answers(shipped, shifted, test)
    given = ",".join(f"{c}={s:g}" for c, s in train3.items())
    rows = [
        row("memesent as shipped", levels, as_is, np.array(shipped.head.config.base_rates)),
        row(
            f"memesent, `--label-shares {given}`",
            levels,
            moved,
            np.array(shifted.head.config.base_rates),
        ),
    ]
    written = Predictor.load(writeup)
    rows.append(
        row(
            "the write-up's recipe (`--recipe writeup`)",
            levels,
            predict(written, test)["both"],
            np.array(written.head.config.base_rates),
        )
    )
    rows.append(
        row(
            "the train part's label shares, for every meme",
            levels,
            np.tile(train5, (len(test), 1)),
            train5,
        )
    )
    return {
        "memes": f"{data.name}, the test part of {writeup.name}/split.json",
        "train_shares_3": train3,
        "test_shares_3": dict(zip(LABELS3, collapse(shares(levels)).tolist(), strict=True)),
        "shipped_population": shipped.population,
        "published": {"who": "the original write-up, its own test set", **WRITEUP_PUBLISHED},
        "rows": rows,
    }


def table(result: dict) -> str:
    """The rows as a markdown table, the write-up's published numbers last."""
    lines = [
        "| row | memes | accuracy | macro-F1 | log-loss | answers negative / neutral / positive |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in result["rows"]:
        answers = " / ".join(f"{r['answers_3'][c]:.0%}" for c in LABELS3)
        lines.append(
            f"| {r['row']} | {r['n']:,} | {with_interval(r, 'accuracy_3')} | "
            f"{with_interval(r, 'macro_f1_3')} | {with_interval(r, 'log_loss_3')} | {answers} |"
        )
    pub = result["published"]
    lines.append(
        f"| {pub['who']} | – | {pub['accuracy_3']:.2f} | {pub['macro_f1_3']:.2f} | – | – |"
    )
    truth = " / ".join(f"{result['test_shares_3'][c]:.0%}" for c in LABELS3)
    return "\n".join(lines) + f"\n\nThe test memes ({result['memes']}) as labelled: {truth}."


def main(argv: Sequence[str] | None = None) -> int:
    raw, prog = argparse.RawDescriptionHelpFormatter, "python -m benchmarks.memotion"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=raw)
    parser.add_argument("--data", type=Path, required=True, help="Memotion 7k's folder")
    parser.add_argument(
        "--writeup",
        type=Path,
        required=True,
        help="a model folder that python -m train --recipe writeup wrote from that folder (its "
        "split.json names the test memes)",
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_DIR, help="the model (default: shipped)"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    a = parser.parse_args(argv)
    return measured(lambda: run(a.data, a.writeup, a.model), table, a.json)


if __name__ == "__main__":
    sys.exit(main())
