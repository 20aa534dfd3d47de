"""How many Integrated Gradients steps the word scores need (`memesent.explain.IG_STEPS`).

    python -m benchmarks.ig_steps --data DIR [--model DIR] [--n 80] [--steps 4 8 16] [--json FILE]

For `--n` memes drawn with a fixed seed (as `benchmarks.explain_faithfulness` draws them), the
word scores are computed with each number of `--steps` and with 64 steps, the reference. It
reports, per number of steps, the median and 95th percentile over memes of the largest change
of any word's score (scores lie in [-1, 1]) and how often the top-scored word stays the same.
Fewer steps make explanations faster (each step is one forward and backward pass of the text
backbone) and less exact.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from memesent import explain
from memesent.checkpoint import DEFAULT_MODEL_DIR
from memesent.predictor import Predictor

from .explain_faithfulness import read_memes
from .timing import measured

REFERENCE = 64


def word_scores(predictor: Predictor, features, steps: int) -> np.ndarray:
    """The meme's word scores with `steps` Integrated Gradients steps."""
    kept = explain.IG_STEPS
    explain.IG_STEPS = steps
    try:
        return np.array([s for _, s in predictor.explain_features(features).words])
    finally:
        explain.IG_STEPS = kept


def run(source: str, data: Path, model: Path, n: int, steps: list[int]) -> dict:
    predictor = Predictor.load(model)
    changes: dict[int, list[float]] = {s: [] for s in steps}
    same_top: dict[int, list[bool]] = {s: [] for s in steps}
    for path, caption in read_memes(source, data, n):
        features = predictor.encode(path, caption)
        reference = word_scores(predictor, features, REFERENCE)
        if not reference.size:
            continue
        for s in steps:
            scores = word_scores(predictor, features, s)
            changes[s].append(float(np.abs(scores - reference).max()))
            same_top[s].append(bool(np.abs(scores).argmax() == np.abs(reference).argmax()))
    return {
        "model": str(model),
        "memes": len(changes[steps[0]]),
        "reference_steps": REFERENCE,
        "steps": {
            s: {
                "largest_change_median": float(np.median(changes[s])),
                "largest_change_p95": float(np.quantile(changes[s], 0.95)),
                "same_top_word": float(np.mean(same_top[s])),
            }
            for s in steps
        },
    }


def table(r: dict) -> str:
    """Each step count against the reference, as the docs show it."""
    lines = [
        "| steps | largest word-score change: median | p95 | same top word |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for s, m in r["steps"].items():
        lines.append(
            f"| {s} | {m['largest_change_median']:.3f} | {m['largest_change_p95']:.3f} "
            f"| {m['same_top_word']:.0%} |"
        )
    lines += ["", f"{r['memes']} memes with a caption; reference: {r['reference_steps']} steps."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.ig_steps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="[SOURCE=]DIR",
        help="memes with captions: metmeme=DIR, or a bare DIR in Memotion's layout",
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--n", type=int, default=80)
    p.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    from train.config import data_specs

    (spec,) = data_specs([a.data])
    if not (spec.roots[0] / "labels.csv").is_file():
        p.error(f"{spec.roots[0]} has no labels.csv")
    if a.n < 1 or any(s < 1 for s in a.steps):
        p.error("--n and --steps must be at least 1")
    return measured(lambda: run(spec.source, spec.roots[0], a.model, a.n, a.steps), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
