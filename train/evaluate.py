"""python -m train.evaluate --model DIR --data DIR --json FILE: score a model on labelled memes.

Runs the full prediction path (`memesent.Predictor`: image decoding, backbones, head) on every
readable meme of a Memotion-layout folder, or on one part of a training run's `split.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report
from tqdm import tqdm

from memesent import LABELS, LABELS3, Predictor
from memesent.checkpoint import CheckpointError
from memesent.labels import TO3_INDEX, collapse

from .data import DataError, load_memes
from .metrics import evaluate_probs
from .report import information_table, plot_confusions, plot_reliability


def evaluate(
    predictor: Predictor, data_dir: Path, names: list[str] | None = None, batch_size: int = 32
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Metrics of `predictor` on the memes of `data_dir` (only `names` when given), with the
    true level indices and the predicted probabilities they were computed from.

    `skipped` lists the memes left out because their picture is missing or unreadable, and
    `missing` the `names` that `labels.csv` does not have.
    """
    memes = load_memes(data_dir)
    keep = np.arange(len(memes))
    skipped, missing = memes.skipped, []
    if names is not None:
        # a split.json of a run on several folders names its memes `folder/image_name`: this
        # folder's are the ones with its name
        prefix = f"{Path(data_dir).resolve().name}/"
        ours = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
        wanted = set(ours or names)
        keep = np.array([i for i, n in enumerate(memes.names) if n in wanted], dtype=np.int64)
        if len(keep) == 0:
            raise DataError(f"none of the {len(wanted)} listed memes is in {data_dir}")
        skipped = [(n, r) for n, r in skipped if n in wanted]
        missing = sorted(wanted - set(memes.names) - {n for n, _ in skipped})
    if skipped or missing:
        print(
            f"left out: {len(skipped)} memes with unreadable pictures, "
            f"{len(missing)} listed memes not in labels.csv (see the JSON)",
            file=sys.stderr,
        )
    paths, captions = memes.image_paths, memes.captions
    rows = []
    for start in tqdm(range(0, len(keep), batch_size), desc="evaluating", unit="batch"):
        idx = keep[start : start + batch_size]
        results = predictor.predict_batch([paths[i] for i in idx], [captions[i] for i in idx])
        rows.extend([r.probs[label] for label in LABELS] for r in results)
    probs, labels = np.array(rows), memes.labels[keep]
    metrics = evaluate_probs(labels, probs, np.array(predictor.head.config.base_rates))
    metrics["skipped"] = [{"image": n, "reason": r} for n, r in skipped]
    metrics["missing"] = missing
    metrics["report_3"] = classification_report(
        TO3_INDEX[labels],
        collapse(probs).argmax(1),
        labels=[0, 1, 2],
        target_names=list(LABELS3),
        digits=3,
        zero_division=0,
    )
    metrics["report_5"] = classification_report(
        labels,
        probs.argmax(1),
        labels=list(range(len(LABELS))),
        target_names=list(LABELS),
        digits=3,
        zero_division=0,
    )
    return metrics, labels, probs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, default=None, help="model folder (default: shipped model)")
    p.add_argument("--data", type=Path, required=True, help="folder with labels.csv and images/")
    p.add_argument("--json", type=Path, required=True, help="where to write the metrics")
    p.add_argument(
        "--split", type=Path, default=None, help="a split.json written by python -m train"
    )
    p.add_argument(
        "--part",
        choices=("train", "val", "calibration", "test"),
        default="test",
        help="which part of --split to score (default: test)",
    )
    a = p.parse_args(argv)
    try:
        names = _split_part(a.split, a.part) if a.split else None
        metrics, labels, probs = evaluate(Predictor.load(a.model), a.data, names)
    except (DataError, CheckpointError, OSError, json.JSONDecodeError) as err:
        print(f"python -m train.evaluate: {err}", file=sys.stderr)
        return 2
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(metrics, indent=2) + "\n")
    title = f"{a.data.name}, {metrics['n']} memes"
    plot_confusions(metrics, a.json.with_suffix(".confusion.png"), title)
    plot_reliability(labels, probs, a.json.with_suffix(".reliability.png"), title)
    print(metrics["report_3"])
    print(metrics["report_5"])
    print(information_table(metrics))
    print(f"wrote {a.json}, {a.json.with_suffix('.confusion.png')} and .reliability.png")
    return 0


def _split_part(path: Path, part: str) -> list[str]:
    split = json.loads(path.read_text())
    if not isinstance(split, dict) or part not in split:
        raise DataError(f"{path} has no {part!r} part (a split.json written by python -m train)")
    return split[part]


if __name__ == "__main__":
    raise SystemExit(main())
