"""How well a collection's shares are measured (`memesent.shares`), on memes the model never
trained or calibrated on.

    python -m benchmarks.collection_shares --metmeme ../shared/data/metmeme \\
        --memotion ../shared/data/memotion7k [--model assets/model] [--draws 300] [--ocr] \\
        [--json docs/results/collection_shares.json]

Collections of 200 memes are drawn with replacement from MET-Meme's validation part (where the
method was chosen and the check's threshold set) and its test part (measured once, after), at
positive shares 0.1, 0.3, 0.5, 0.7 and 0.9 (memes with a side only: surprise has none), and
from Memotion 7k (a random sample of its memes, none of which the shipped model saw; its labels
as they fall). Rows:

- **without labels**, each way of estimating the positive share among the memes with a side:
  counting each meme's most likely class, averaging the answers, EM (Saerens et al. 2002) with a
  bootstrap over the memes, and the posterior median memesent uses, without and with the
  calibration's uncertainty: mean absolute error, how often the 90 % interval holds the true
  share, and its width;
- **the check**: how often it calls a collection unlike the calibration memes;
- **with 40 labels** of a random sample: memesent's prediction-powered estimate (PPI++) against
  the labels alone (a Wilson interval), for the positive and the negative share of all memes;
- with `--ocr`, the test part again with each caption read by OCR, as the app reads it.

Answers come from `memesent.Predictor` (the full path) and are cached by model version under
`~/.cache/memesent/benchmarks/`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memesent import Predictor
from memesent.model_files import DEFAULT_MODEL_DIR, model_version
from memesent.shares import (
    LEVEL,
    Reference,
    check,
    estimate_shares,
    quantiles,
    side_posterior,
    side_probability,
    wilson,
)
from train.evaluate import predict, select
from train.reference import classes3
from train.sources import SOURCES, Splitting

from .timing import cpu_name, load_average

SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
COLLECTION = 200
LABELLED = 40
BOOTSTRAP = 100  # resamples of EM's bootstrap interval
CACHE = Path.home() / ".cache" / "memesent" / "benchmarks"
Readings = dict[str, np.ndarray]


def answers(predictor: Predictor, model: str, name: str, ex, ocr: bool) -> Readings:
    """Each reading's answers on `ex`, cached under `name` for this model (`ocr`: captions
    read from the pictures first)."""
    path = CACHE / f"{model}-{name}{'-ocr' if ocr else ''}.npz"
    if path.is_file():
        return dict(np.load(path))
    if ocr:
        from memesent.images import load_image
        from memesent.ocr import OCRError, extract_caption

        captions = []
        for image in ex.images:
            try:
                captions.append(extract_caption(load_image(image)).text)
            except OCRError:
                captions.append("")
        ex.captions = [c or None for c in captions]
    found = predict(predictor, ex)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **found)
    return found


def draw(classes: np.ndarray, share: float | None, rng: np.random.Generator) -> np.ndarray:
    """A collection of `COLLECTION` memes drawn with replacement: at positive share `share` of
    memes with a side, or (None) from every meme as they fall."""
    if share is None:
        return rng.choice(len(classes), COLLECTION)
    positive, negative = np.flatnonzero(classes == 2), np.flatnonzero(classes == 0)
    k = round(share * COLLECTION)
    return np.concatenate([rng.choice(positive, k), rng.choice(negative, COLLECTION - k)])


def em(p: np.ndarray, prior: float, steps: int = 300) -> float:
    """EM's positive share (Saerens et al. 2002) from positive side probabilities `p`."""
    q = prior
    for _ in range(steps):
        r = p * q / prior
        q = float(np.mean(r / (r + (1 - p) * (1 - q) / (1 - prior))))
    return q


def label_free(
    p: np.ndarray, prior: float, sd: float, rng: np.random.Generator
) -> dict[str, tuple[float, tuple[float, float] | None]]:
    """Each way of estimating the positive share without labels: (estimate, 90 % interval)."""
    tail = (1 - LEVEL) / 2
    boot = [em(p[rng.integers(0, len(p), len(p))], prior, 100) for _ in range(BOOTSTRAP)]
    out: dict[str, tuple[float, tuple[float, float] | None]] = {
        "count each meme's most likely side": (float(np.mean(p > 0.5)), None),
        "average the answers": (float(p.mean()), None),
        "EM, bootstrap over the memes": (
            em(p, prior),
            (float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))),
        ),
    }
    for name, spread in (
        ("posterior median, calibration's uncertainty left out", 0.0),
        ("posterior median with the calibration's uncertainty (memesent)", sd),
    ):
        median, low, high = quantiles(side_posterior(p, prior, spread), 0.5, tail, 1 - tail)
        out[name] = (median, (low, high))
    return out


def without_labels(
    readings: Readings, classes: np.ndarray, prior: float, sd: float, draws: int, seed: int
) -> list[dict]:
    """The label-free rows on one pool of memes (see the module)."""
    rng = np.random.default_rng(seed)
    p_all = side_probability(readings["both"])
    found: dict[str, dict[float, list]] = {}
    for share in SHARES:
        for _ in range(draws):
            idx = draw(classes, share, rng)
            for name, (value, interval) in label_free(p_all[idx], prior, sd, rng).items():
                found.setdefault(name, {}).setdefault(share, []).append((value, interval))
    return [summarise(name, by_share) for name, by_share in found.items()]


def summarise(name: str, by_share: dict[float, list]) -> dict:
    """Mean absolute error, coverage and width per true share, and their mean."""
    row: dict = {"row": name, "mae": {}, "covered": {}, "width": {}}
    for share, results in by_share.items():
        share_key = f"{share:g}"
        row["mae"][share_key] = float(np.mean([abs(v - share) for v, _ in results]))
        if results[0][1] is not None:
            row["covered"][share_key] = float(
                np.mean([lo <= share <= hi for _, (lo, hi) in results])
            )
            row["width"][share_key] = float(np.mean([hi - lo for _, (lo, hi) in results]))
    for key in ("mae", "covered", "width"):
        if row[key]:
            row[f"{key}_mean"] = float(np.mean(list(row[key].values())))
    row["mae_max"] = float(max(row["mae"].values()))
    return row


def flagged(
    pools: dict[str, tuple[Readings, np.ndarray, list[float | None]]],
    reference: Reference,
    prior: float,
    draws: int,
    seed: int,
) -> dict[str, float]:
    """How often the check calls a collection of each pool unlike the calibration memes."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (readings, classes, shares) in pools.items():
        flags = []
        for share in shares:
            for _ in range(draws):
                idx = draw(classes, share, rng)
                drawn = {r: v[idx] for r, v in readings.items()}
                p = side_probability(drawn["both"])
                (median,) = quantiles(side_posterior(p, prior, reference.intercept_sd), 0.5)
                flags.append(check(drawn, median, reference).like is False)
        out[name] = float(np.mean(flags))
    return out


def with_labels(
    readings: Readings,
    classes: np.ndarray,
    shares: list[float | None],
    rates: np.ndarray,
    reference: Reference,
    draws: int,
    seed: int,
) -> dict:
    """Coverage and width of the positive and negative shares of all memes from 40 labels:
    memesent's estimate and the labels alone."""
    rng = np.random.default_rng(seed)
    found: dict[str, dict[str, list]] = {}
    for share in shares:
        for _ in range(draws):
            idx = draw(classes, share, rng)
            truth = classes[idx]
            labels = np.full(len(idx), -1)
            chosen = rng.choice(len(idx), LABELLED, replace=False)
            labels[chosen] = truth[chosen]
            drawn = {r: v[idx] for r, v in readings.items()}
            estimate = estimate_shares(drawn, rates, reference, labels)
            for c, k in (("negative", 0), ("positive", 2)):
                true = float(np.mean(truth == k))
                low, high = estimate.interval[c] or (0.0, 1.0)
                own = wilson(float(np.mean(truth[chosen] == k)), LABELLED)
                found.setdefault(f"memesent ({c})", {}).setdefault("covered", []).append(
                    low <= true <= high
                )
                found[f"memesent ({c})"].setdefault("width", []).append(high - low)
                found.setdefault(f"labels alone ({c})", {}).setdefault("covered", []).append(
                    own[0] <= true <= own[1]
                )
                found[f"labels alone ({c})"].setdefault("width", []).append(own[1] - own[0])
    return {
        name: {k: float(np.mean(v)) for k, v in values.items()} for name, values in found.items()
    }


def run(
    metmeme: Path, memotion: Path, model: Path, draws: int, memotion_memes: int, ocr: bool
) -> dict:
    """Every row (see the module)."""
    load_before = load_average()
    version = model_version(model)
    predictor = Predictor.load(model)
    reference = Reference.load(model)
    if reference is None:
        raise SystemExit(f"{model} has no shares reference: python -m train.reference first")
    rates = np.array(predictor.head.config.base_rates)
    prior = float(side_probability(rates))
    split = json.loads((model / "split.json").read_text())["metmeme"]
    source = SOURCES["metmeme"].read([metmeme], Splitting())
    pools: dict[str, tuple[Readings, np.ndarray]] = {}
    for part in ("val", "test"):
        ex, _ = select(source, split[part], metmeme)
        pools[part] = (
            answers(predictor, version, f"metmeme-{part}", ex, False),
            classes3(ex.allowed),
        )
    memo = SOURCES["memotion"].read([memotion], Splitting())
    chosen = np.sort(
        np.random.default_rng(0).choice(len(memo), min(memotion_memes, len(memo)), replace=False)
    )
    memo = memo.subset(chosen)
    pools["memotion"] = (
        answers(predictor, version, f"memotion-{len(memo)}", memo, False),
        classes3(memo.allowed),
    )
    if ocr:
        ex, _ = select(source, split["test"], metmeme)
        pools["test, OCR captions"] = (
            answers(predictor, version, "metmeme-test", ex, True),
            classes3(ex.allowed),
        )
    result: dict = {
        "model": version,
        "collection": COLLECTION,
        "draws_per_share": draws,
        "memes": {name: int((c >= 0).sum()) for name, (_, c) in pools.items()},
        "memotion_positive_share": float(
            np.mean(pools["memotion"][1][pools["memotion"][1] != 1] == 2)
        ),
        "without_labels": {},
    }
    for name in ("val", "test", "test, OCR captions"):
        if name in pools:
            readings, classes = pools[name]
            result["without_labels"][name] = without_labels(
                readings, classes, prior, reference.intercept_sd, draws, seed=1
            )
    natural: list[float | None] = [None] * len(SHARES)  # as many collections, as they fall
    shares_of = {name: natural if name == "memotion" else list(SHARES) for name in pools}
    result["flagged"] = flagged(
        {name: (r, c, shares_of[name]) for name, (r, c) in pools.items()},
        reference,
        prior,
        draws,
        seed=2,
    )
    result["with_labels"] = {
        name: with_labels(pools[name][0], pools[name][1], shares, rates, reference, draws, seed=3)
        for name, shares in (("test", shares_of["test"]), ("memotion", natural))
    }
    result["machine"] = cpu_name()
    result["load_average"] = {"start": load_before, "end": load_average()}
    return result


def _pct(x: float) -> str:
    return f"{x:.3f}"


def table(result: dict) -> str:
    """The label-free rows, the check and the labelled rows as markdown."""
    lines = [
        "| memes | way of estimating | "
        + " | ".join(f"{s:g}" for s in SHARES)
        + " | mean | 90 % interval holds | width |",
        "| --- | --- | " + " | ".join("---:" for _ in SHARES) + " | ---: | ---: | ---: |",
    ]
    for pool, rows in result["without_labels"].items():
        for row in rows:
            errors = " | ".join(_pct(row["mae"][f"{s:g}"]) for s in SHARES)
            covered = f"{row['covered_mean']:.2f}" if "covered_mean" in row else "–"
            width = f"{row['width_mean']:.2f}" if "width_mean" in row else "–"
            mean = _pct(row["mae_mean"])
            lines.append(f"| {pool} | {row['row']} | {errors} | {mean} | {covered} | {width} |")
    flags = ", ".join(f"{name} {share:.0%}" for name, share in result["flagged"].items())
    labelled = [
        "",
        "| memes | 40 labels | 90 % interval holds | width |",
        "| --- | --- | ---: | ---: |",
    ]
    for pool, rows in result["with_labels"].items():
        for name, row in rows.items():
            labelled.append(f"| {pool} | {name} | {row['covered']:.2f} | {row['width']:.3f} |")
    load = result["load_average"]
    return "\n".join(
        [
            *lines,
            "",
            "Mean absolute error of the positive share among memes with a side, "
            f"{result['collection']} memes a collection, {result['draws_per_share']} collections "
            f"a share. The check called collections unlike the calibration memes: {flags}.",
            *labelled,
            "",
            f"Machine: {result['machine']}; load average {load['start']:.2f} at the start, "
            f"{load['end']:.2f} at the end.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    raw, prog = argparse.RawDescriptionHelpFormatter, "python -m benchmarks.collection_shares"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=raw)
    parser.add_argument("--metmeme", type=Path, required=True, help="MET-Meme's folder")
    parser.add_argument("--memotion", type=Path, required=True, help="Memotion 7k's folder")
    parser.add_argument("--model", type=Path, default=Path(DEFAULT_MODEL_DIR), help="the model")
    parser.add_argument("--draws", type=int, default=300, help="collections a share (300)")
    parser.add_argument(
        "--memotion-memes", type=int, default=1500, help="Memotion memes sampled (1,500)"
    )
    parser.add_argument("--ocr", action="store_true", help="also the test part with OCR captions")
    parser.add_argument("--json", type=Path, help="also write the result here")
    a = parser.parse_args(argv)
    result = run(a.metmeme, a.memotion, a.model, a.draws, a.memotion_memes, a.ocr)
    print(table(result))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
