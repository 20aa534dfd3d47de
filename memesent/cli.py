"""`memesent predict|ocr` (or `python -m memesent ...`): score or read memes from the command
line, one picture or a whole collection (folders, a manifest) into a resumable results file."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .batch import Tally, pending
from .collection import WORDS_ALONE, Job, ManifestError, jobs_from_inputs, jobs_from_manifest
from .images import NotAnImageError, load_image
from .labels import LABELS, LABELS3, collapse
from .population import parse_shares
from .results import (
    MemoryResults,
    Results,
    ResultsError,
    drop_failed,
    open_results,
    read_rows,
    scored_rows,
    shifted_row,
)

if TYPE_CHECKING:
    from .model import ModelConfig


ESTIMATE = "estimate"  # --label-shares: the shares memesent shares estimates from the run
MAX_BATCH = 256  # memes per model call: past this, memory grows and nothing gets faster


def _parser() -> argparse.ArgumentParser:
    from .ocr import DEFAULT_ENGINE, ENGINES

    parser = argparse.ArgumentParser(prog="memesent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser(
        "predict",
        help="sentiment of each meme (five levels and three classes)",
        description="Score pictures, folders of pictures (walked recursively) and manifests. "
        "Without --out, one line (or JSON object) per meme on stdout; with --out, a results "
        "file that a rerun completes.",
    )
    predict.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="pictures or folders (none, with --caption: the words read alone)",
    )
    predict.add_argument(
        "--manifest",
        type=Path,
        help="CSV with `image` (relative to its folder) and optionally `caption`, or Memotion's "
        "labels.csv",
    )
    source = predict.add_mutually_exclusive_group()
    source.add_argument("--caption", default=None, help="the caption of every meme")
    source.add_argument(
        "--ocr",
        action="store_true",
        help="read every picture's caption with OCR, even where a manifest gives one (by default "
        f"only memes without a caption are read; engine: {DEFAULT_ENGINE})",
    )
    source.add_argument(
        "--no-ocr",
        action="store_true",
        help="read no caption with OCR: memes without one are read by their picture alone",
    )
    predict.add_argument("--out", type=Path, help="results file: .csv, .jsonl or .parquet")
    predict.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes decoding pictures and reading captions (0: this one; default: one per "
        "core); with --engine ray, the number of actors",
    )
    predict.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where the memes are scored: here, or on Ray (RAY_ADDRESS's cluster, else a local "
        "one)",
    )
    predict.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help=f"memes per model call (1 to {MAX_BATCH}; larger only takes more memory)",
    )
    predict.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    predict.add_argument(
        "--label-shares",
        metavar="SHARES",
        help="the collection's label shares, if you know them: negative=0.09,neutral=0.31,"
        "positive=0.6 (or the five levels); every answer is shifted from the memes the model "
        "was calibrated on to them. `estimate`: to the shares `memesent shares` estimates from "
        "this run's answers (the whole collection is scored first, then shifted)",
    )
    predict.add_argument(
        "--json", action="store_true", help="without --out: one JSON object per meme on stdout"
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar")

    shares = sub.add_parser(
        "shares",
        help="a collection's shares of negative and positive memes, with 90 % intervals",
        description="Estimate a collection's shares of negative and positive memes from a "
        "results file that `memesent predict --out` wrote (without --label-shares), with 90 % "
        "intervals, beside the count of each meme's most likely class, and check whether the "
        "memes look like those the model was calibrated on. With --labels, a random sample of "
        "the collection labelled by a person makes the estimate valid whatever the memes "
        "(docs/how-it-works.md).",
    )
    shares.add_argument("results", type=Path, metavar="RESULTS", help=".csv, .jsonl or .parquet")
    shares.add_argument(
        "--labels",
        type=Path,
        metavar="CSV",
        help="a random sample of the collection labelled by you: columns `image` (as in the "
        "results) and `label` (negative, neutral or positive, or one of the five levels)",
    )
    shares.add_argument(
        "--model", default=None, help="the model folder that wrote the results (default: shipped)"
    )
    shares.add_argument("--json", action="store_true", help="one JSON object")

    ocr = sub.add_parser("ocr", help="read the caption of each meme (PP-OCR or Tesseract)")
    ocr.add_argument("inputs", nargs="+", metavar="INPUT", help="pictures or folders")
    ocr.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="OCR engine (default: %(default)s, the OCR benchmark's best)",
    )
    ocr.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def _fail(image: str, err: object, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"image": image, "error": str(err)}))
    print(f"memesent: {image}: {err}", file=sys.stderr)


class StdoutResults:
    """Rows printed as they come: a line per meme (or a JSON object with the probabilities,
    the base rates, the shift, the three readings and the population, as `Prediction.to_dict`
    gives them, for the model `config`); errors also on stderr."""

    def __init__(self, as_json: bool, config: ModelConfig) -> None:
        from .predictor import population_of

        self.as_json = as_json
        self.base_rates = dict(zip(LABELS, config.base_rates, strict=True))
        self.population = population_of(config)

    def done(self) -> set[str]:
        return set()

    def write(self, rows: list[dict]) -> None:
        from .predictor import Prediction

        for row in rows:
            if row["error"]:
                _fail(row["image"], row["error"], self.as_json)
                continue
            probs = {level: row[f"prob_{level}"] for level in LABELS}
            probs3 = dict(zip(LABELS3, collapse(list(probs.values())).tolist(), strict=True))
            readings = {r: _reading(row, r) for r in ("text", "image")}
            result = Prediction(
                row["label"],
                probs,
                probs3,
                self.base_rates,
                {**readings, "both": probs},
                self.population,
            )
            if self.as_json:
                print(
                    json.dumps(
                        {"image": row["image"], "caption": row["caption"], **result.to_dict()}
                    )
                )
            else:
                levels = " ".join(f"{k}={v:.3f}" for k, v in probs.items())
                print(f"{row['image']}: level {result.label}, class {result.label3} | {levels}")
        sys.stdout.flush()

    def close(self) -> None:
        pass


def _reading(row: dict, reading: str) -> dict[str, float] | None:
    """A reading's distribution from a results row, None where the meme lacks its modality."""
    values = {level: row[f"{reading}_prob_{level}"] for level in LABELS}
    return None if any(v is None for v in values.values()) else values


def _predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.inputs and args.manifest is None and args.caption is None:
        parser.error("give pictures or folders to score, --manifest CSV, or --caption TEXT")
    if args.workers < 0:
        parser.error(f"--workers must be at least 0 (0: this process), not {args.workers}")
    if not 1 <= args.batch_size <= MAX_BATCH:
        parser.error(f"--batch-size must be 1 to {MAX_BATCH}, not {args.batch_size}")
    if args.caption is None and not args.no_ocr:
        from .ocr import (
            DEFAULT_SETTINGS,
            PPOCRNotFoundError,
            TesseractNotFoundError,
            engine_available,
        )

        engine = DEFAULT_SETTINGS.engine
        if not engine_available(engine):
            missing = PPOCRNotFoundError() if engine == "ppocr" else TesseractNotFoundError()
            print(f"memesent: {missing} (or --no-ocr: memes without a caption are read by their "
                  "picture alone)", file=sys.stderr)  # fmt: skip
            return 2
    try:
        jobs = _jobs(args)
    except ManifestError as err:
        print(f"memesent: {err}", file=sys.stderr)
        return 2
    if not jobs:
        print(f"memesent: no pictures found in {', '.join(args.inputs)}", file=sys.stderr)
        return 2
    from .model_files import DEFAULT_MODEL_DIR, CheckpointError, model_version

    model_dir = args.model or DEFAULT_MODEL_DIR
    shares = None
    try:
        model = model_version(model_dir)
        if args.label_shares == ESTIMATE:
            return _run_estimated(args, jobs, model_dir, model)
        if args.label_shares is not None:
            shares = parse_shares(args.label_shares)
            _model_config(model_dir, shares)  # the shares checked against the model
            model = f"{model}+{_digest(shares)}"  # shifted answers are another model's
        if args.out:
            results = open_results(args.out, model)
            results.done()  # a file of another model, or not a results file: refused first
            retried = drop_failed(args.out)
            if retried:
                print(
                    f"memesent: retrying {retried} memes that could not be scored before",
                    file=sys.stderr,
                )
            todo = pending(jobs, results)
        else:
            results, todo = StdoutResults(args.json, _model_config(model_dir, shares)), jobs
    except (CheckpointError, ResultsError, OSError) as err:
        print(f"memesent: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # what parse_shares and the config say of the label shares
        print(f"memesent: --label-shares: {err}", file=sys.stderr)
        return 2
    if not todo:  # a finished run rerun: nothing to load
        print(f"memesent: all {len(jobs)} memes are in {args.out} already", file=sys.stderr)
        return 0
    return _run(args, todo, len(jobs) - len(todo), model_dir, model, results, shares)


def _jobs(args: argparse.Namespace) -> list[Job]:
    if not args.inputs and args.manifest is None:  # --caption alone: the words read alone
        return [Job(image=WORDS_ALONE, path=None, caption=args.caption)]
    jobs = list(jobs_from_inputs(args.inputs))
    if args.manifest is not None:
        jobs += list(jobs_from_manifest(args.manifest))
    return jobs


def _model_config(model_dir: str | Path, shares: dict[str, float] | None) -> ModelConfig:
    """The model's config as it answers: shifted to `shares` when given (a `ValueError` says
    what is wrong with them)."""
    from .checkpoint import read_config

    config = read_config(model_dir)
    return config if shares is None else config.with_label_shares(shares)


def _digest(shares: dict[str, float]) -> str:
    """A short digest of label shares, for the results' `model` column."""
    return hashlib.sha256(json.dumps(shares, sort_keys=True).encode()).hexdigest()[:8]


def _score(args, jobs, model_dir, model, results, shares, stopped: str) -> Tally | int:
    """Score `jobs` into `results` with a progress bar: what the run did, or the exit status
    when it cannot go on (`stopped` says where a Ctrl-C leaves the memes scored so far)."""
    from tqdm import tqdm

    from .backbones import BackboneError
    from .batch import CaptionSource, OCRWhen, score_collection
    from .batch_ray import RayEngineError, score_with_ray
    from .checkpoint import CheckpointError
    from .predictor import Predictor

    ocr: OCRWhen = "always" if args.ocr else "never" if args.no_ocr else "missing"
    captions = CaptionSource(ocr=ocr, text=args.caption)
    bar = tqdm(
        total=len(jobs),
        unit="meme",
        desc="scoring",
        file=sys.stderr,
        disable=True if args.quiet else None,  # None: off when stderr is not a terminal
    )
    options = {
        "captions": captions,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "progress": bar.update,
    }
    try:
        if args.engine == "ray":
            return score_with_ray(jobs, str(model_dir), results, model, shares, **options)
        predictor = Predictor.load(model_dir)
        if shares is not None:
            predictor = predictor.with_label_shares(shares)
        return score_collection(jobs, predictor, results, model, **options)
    except KeyboardInterrupt:
        bar.close()
        print(f"\nmemesent: stopped; {stopped}", file=sys.stderr)
        return 130
    except (CheckpointError, BackboneError, ResultsError, RayEngineError) as err:
        print(f"memesent: {err}", file=sys.stderr)
        return 2
    finally:
        results.close()
        bar.close()


def _run(args, jobs, skipped, model_dir, model, results, shares) -> int:
    where = f"in {args.out}: run the same command again to go on" if args.out else "above"
    tally = _score(
        args, jobs, model_dir, model, results, shares, f"the memes scored so far are {where}"
    )
    if isinstance(tally, int):
        return tally
    if args.out:
        notes = [f"scored {tally.scored} memes into {args.out}"]
        if tally.failed:
            notes.append(f"{tally.failed} could not be scored (their error column says why)")
        if skipped:
            notes.append(f"{skipped} were there already")
        print(f"memesent: {'; '.join(notes)}", file=sys.stderr)
    _say_uncaptioned(tally.uncaptioned, args.no_ocr)
    return 1 if tally.failed else 0


def _say_uncaptioned(images: list[str], no_ocr: bool) -> None:
    """The line that says which memes were read without a caption, when some were."""
    if not images:
        return
    why = "--no-ocr, and none given" if no_ocr else "OCR found no text, and none was given"
    listed = ", ".join(images[:5]) + (f" and {len(images) - 5} more" if len(images) > 5 else "")
    print(
        f"memesent: {len(images)} memes had no caption ({why}): their picture alone was read: "
        f"{listed}",
        file=sys.stderr,
    )


def _run_estimated(args, jobs, model_dir, version) -> int:
    """`--label-shares estimate`: score every meme, estimate the collection's shares from the
    answers (`memesent.shares`), then write each answer shifted to them."""
    from .population import prior_shift
    from .shares import Reference, estimate_shares, readings_of_rows

    if args.out and (args.out.is_dir() or (args.out.is_file() and args.out.stat().st_size)):
        print(
            f"memesent: --label-shares estimate needs the whole collection in one run, and "
            f"{args.out} holds rows already: write to a new file, or run `memesent shares` on "
            "a results file and give its shares to --label-shares",
            file=sys.stderr,
        )
        return 2
    collected = MemoryResults()
    stopped = "with --label-shares estimate nothing is written until every meme is scored"
    tally = _score(args, jobs, model_dir, version, collected, None, stopped)
    if isinstance(tally, int):
        return tally
    scored = [row for row in collected.rows if not row["error"]]
    if not scored:
        for row in collected.rows:
            _fail(row["image"], row["error"], args.json)
        print("memesent: no meme could be scored, so no shares can be estimated", file=sys.stderr)
        return 1
    config = _model_config(model_dir, None)
    rates = np.array(config.base_rates)
    estimate = estimate_shares(readings_of_rows(scored), rates, Reference.load(model_dir))
    shares = estimate.label_shares(rates)
    model = f"{version}+{_digest(shares)}"
    weights = prior_shift(shares, rates)
    shifted = [shifted_row(row, weights, model) for row in collected.rows]
    results: Results = (
        open_results(args.out, model)
        if args.out
        else StdoutResults(args.json, config.with_label_shares(shares))
    )
    results.write(shifted)
    results.close()
    given = ", ".join(f"{c}={v:.3f}" for c, v in shares.items())
    print("\n".join(f"memesent: {line}" for line in estimate.lines()), file=sys.stderr)
    print(f"memesent: answers shifted to {given}", file=sys.stderr)
    if args.out:
        print(f"memesent: scored {tally.scored} memes into {args.out}", file=sys.stderr)
    return 1 if tally.failed else 0


def _ocr(args: argparse.Namespace) -> int:
    from .ocr import EngineMissingError, OCRError, extract_caption

    failures = 0
    for job in jobs_from_inputs(args.inputs):
        try:
            if job.error or job.path is None:
                raise FileNotFoundError(job.error)
            caption = extract_caption(load_image(job.path), engine=args.engine)
        except EngineMissingError as err:
            print(f"memesent: {err}", file=sys.stderr)
            return 2
        except (OSError, NotAnImageError, OCRError) as err:
            failures += 1
            _fail(job.image, err, args.json)
            continue
        if args.json:
            row = {
                "image": job.image,
                "text": caption.text,
                "confidence": caption.confidence,
                "engine": caption.engine,
            }
            print(json.dumps(row))
        else:
            print(f"== {job.image} (confidence {caption.confidence:.2f})\n{caption.text}")
    return 1 if failures else 0


def _shares(args: argparse.Namespace) -> int:
    """`memesent shares`: a results file's collection, its shares estimated."""
    from .model_files import DEFAULT_MODEL_DIR, CheckpointError, model_version
    from .shares import LabelsError, Reference, estimate_shares, read_labels, readings_of_rows

    model_dir = args.model or DEFAULT_MODEL_DIR
    try:
        version = model_version(model_dir)
        rows = scored_rows(read_rows(args.results), version, args.results)
        labels = None
        if args.labels is not None:
            labels = read_labels(args.labels, [row["image"] for row in rows])
        reference = Reference.load(model_dir)
        config = _model_config(model_dir, None)
    except (ResultsError, CheckpointError, LabelsError) as err:
        print(f"memesent: {err}", file=sys.stderr)
        return 2
    estimate = estimate_shares(
        readings_of_rows(rows), np.array(config.base_rates), reference, labels
    )
    if args.json:
        print(json.dumps(estimate.to_dict()))
    else:
        print("\n".join(estimate.lines()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {"predict": lambda: _predict(args, parser), "shares": lambda: _shares(args)}
    return commands.get(args.command, lambda: _ocr(args))()
