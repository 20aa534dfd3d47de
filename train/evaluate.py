"""python -m train.evaluate --model DIR --data [SOURCE=]DIR --json FILE: a model on a data set.

Runs the full prediction path (`memesent.Predictor`: image decoding, backbones, head) on every
readable example of a data set (a bare DIR is Memotion's layout; SOURCE=DIR names its adapter,
see train.sources), or on one part of a training run's `split.json`, and scores the answers by
that data set's own measures. A meme is scored by the reading of the modalities it has; memes
with both are also scored by each reading alone (`readings`). With --label-shares the model is
shifted to a collection's known label shares first (`Predictor.with_label_shares`); the JSON's
`population` says which memes its probabilities are for either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from memesent import LABELS, Predictor
from memesent.checkpoint import CheckpointError
from memesent.population import parse_shares

from .config import data_specs
from .data import DataError
from .sources import PARTS, SOURCES, Examples, Splitting


def predict(predictor: Predictor, ex: Examples, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each reading's five-level probabilities of every example, {reading: (n, 5)}, NaN rows
    where an example lacks the reading's modality."""
    out: dict[str, list] = {"text": [], "image": [], "both": []}
    batches = range(0, len(ex), batch_size)
    for start in tqdm(
        batches, desc="evaluating", unit="batch", disable=None
    ):  # None: a terminal only
        idx = range(start, min(start + batch_size, len(ex)))
        results = predictor.predict_batch(
            [ex.images[i] for i in idx], [ex.captions[i] or "" for i in idx], batch_size
        )
        for r in results:
            for reading, dist in r.readings.items():
                out[reading].append(
                    [np.nan] * len(LABELS) if dist is None else [dist[k] for k in LABELS]
                )
    return {k: np.array(v, dtype=np.float64).reshape(-1, len(LABELS)) for k, v in out.items()}


def select(ex: Examples, names: list[str] | None, folder: Path) -> tuple[Examples, list[str]]:
    """The examples named in `names` (all without), and the names it does not have. A
    `split.json` of a run on several Memotion folders names its memes `folder/image_name`:
    this folder's are the ones with its name."""
    if names is None:
        return ex, []
    prefix = f"{folder.resolve().name}/"
    ours = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
    wanted = set(ours or names)
    keep = np.array([i for i, n in enumerate(ex.names) if n in wanted], dtype=np.int64)
    if len(keep) == 0:
        raise DataError(f"none of the {len(wanted)} listed examples is in {folder}")
    skipped = {n for n, _ in ex.skipped}
    missing = sorted(wanted - set(ex.names) - skipped)
    chosen = ex.subset(keep)
    chosen.skipped = [(n, r) for n, r in ex.skipped if n in wanted]
    return chosen, missing


def evaluate(
    predictor: Predictor, source: str, folder: Path, names: list[str] | None = None
) -> tuple[dict, Examples, dict[str, np.ndarray]]:
    """`source`'s measures of `predictor` on the examples in `folder` (only `names` when
    given), with the examples and each reading's probabilities they were computed from."""
    spec = SOURCES[source]
    ex, missing = select(spec.read([folder], Splitting()), names, folder)
    if ex.skipped or missing:
        print(
            f"left out: {len(ex.skipped)} examples with unreadable pictures, {len(missing)} "
            f"listed examples not in the data set (see the JSON)",
            file=sys.stderr,
        )
    probs = predict(predictor, ex)
    rates = np.array(predictor.head.config.base_rates)
    metrics: dict[str, Any] = {
        "source": source,
        "reading": spec.reading,
        "population": predictor.population,
    }
    metrics.update(spec.score(ex, probs["both"], rates, True))
    if spec.reading == "both":
        metrics["readings"] = {}
        for reading in ("text", "image"):
            rows = np.flatnonzero(~np.isnan(probs[reading]).any(1))
            if len(rows):
                sub = ex.subset(rows)
                metrics["readings"][reading] = spec.score(sub, probs[reading][rows], rates, True)
    metrics["skipped"] = [{"image": n, "reason": r} for n, r in ex.skipped]
    metrics["missing"] = missing
    if spec.details is not None:
        metrics.update(spec.details(ex, probs["both"]))
    return metrics, ex, probs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, default=None, help="model folder (default: shipped model)")
    p.add_argument(
        "--data",
        required=True,
        metavar="[SOURCE=]DIR",
        help=f"the data set: SOURCE one of {', '.join(SOURCES)}; a bare DIR is Memotion's layout",
    )
    p.add_argument("--json", type=Path, required=True, help="where to write the metrics")
    p.add_argument(
        "--split", type=Path, default=None, help="a split.json written by python -m train"
    )
    p.add_argument(
        "--part",
        choices=PARTS,
        default="test",
        help="which part of --split to score (default: test)",
    )
    p.add_argument(
        "--label-shares",
        metavar="SHARES",
        help="shift the model to these label shares first: negative=0.09,neutral=0.31,"
        "positive=0.6 (or the five levels)",
    )
    a = p.parse_args(argv)
    try:
        (spec,) = data_specs([a.data])
        folder = spec.roots[0]
        names = _split_part(a.split, spec.source, a.part) if a.split else None
        predictor = Predictor.load(a.model)
        if a.label_shares is not None:
            predictor = predictor.with_label_shares(parse_shares(a.label_shares))
        metrics, ex, probs = evaluate(predictor, spec.source, folder, names)
    except (DataError, CheckpointError, OSError, ValueError) as err:
        print(f"python -m train.evaluate: {err}", file=sys.stderr)
        return 2
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(metrics, indent=2) + "\n")
    title = f"{folder.name}, {len(ex)} examples"
    source = SOURCES[spec.source]
    for name, plot in source.plots.items():
        plot(ex, probs["both"], metrics, a.json.with_suffix(f".{name}.png"), title)
    if source.summary is not None:
        print(source.summary(metrics))
    print(f"{source.measure}: {metrics.get(source.headline)}")
    print(f"wrote {a.json} and its plots")
    return 0


def _split_part(path: Path, source: str, part: str) -> list[str]:
    """The names in `part` of `source` in a split.json written by `python -m train`."""
    split = json.loads(path.read_text())
    if not isinstance(split, dict) or not isinstance(split.get(source), dict):
        raise DataError(
            f"{path} has no part for {source!r} (a split.json written by python -m train)"
        )
    if part not in split[source]:
        raise DataError(f"{path} has no {part!r} part for {source!r}")
    return split[source][part]


if __name__ == "__main__":
    raise SystemExit(main())
