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

from .batch import pending
from .collection import Job, ManifestError, jobs_from_inputs, jobs_from_manifest
from .images import NotAnImageError, load_image
from .labels import LABELS, LABELS3, collapse
from .population import parse_shares
from .results import ResultsError, open_results

if TYPE_CHECKING:
    from .model import ModelConfig


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
    predict.add_argument("inputs", nargs="*", metavar="INPUT", help="pictures or folders")
    predict.add_argument(
        "--manifest",
        type=Path,
        help="CSV with `image` (relative to its folder) and `caption`, or Memotion's labels.csv",
    )
    source = predict.add_mutually_exclusive_group()
    source.add_argument("--caption", default=None, help="the caption of every meme")
    source.add_argument(
        "--ocr",
        action="store_true",
        help="read each picture's caption with OCR first, with `memesent ocr`'s default engine "
        f"({DEFAULT_ENGINE})",
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
    predict.add_argument("--batch-size", type=int, default=32, help="memes per model call")
    predict.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    predict.add_argument(
        "--label-shares",
        metavar="SHARES",
        help="the collection's label shares, if you know them: negative=0.09,neutral=0.31,"
        "positive=0.6 (or the five levels); every answer is shifted from the memes the model "
        "was calibrated on to them",
    )
    predict.add_argument(
        "--json", action="store_true", help="without --out: one JSON object per meme on stdout"
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar")

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
                levels = "  ".join(f"{k}={v:.3f}" for k, v in probs.items())
                print(f"{row['image']}: {result.label} ({result.label3})  {levels}")
        sys.stdout.flush()

    def close(self) -> None:
        pass


def _reading(row: dict, reading: str) -> dict[str, float] | None:
    """A reading's distribution from a results row, None where the meme lacks its modality."""
    values = {level: row[f"{reading}_prob_{level}"] for level in LABELS}
    return None if any(v is None for v in values.values()) else values


def _predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.inputs and args.manifest is None:
        parser.error("give pictures or folders to score, or --manifest CSV")
    if args.workers < 0 or args.batch_size < 1:
        parser.error("--workers must be at least 0 and --batch-size at least 1")
    if args.ocr:
        from .ocr import (
            DEFAULT_SETTINGS,
            PPOCRNotFoundError,
            TesseractNotFoundError,
            engine_available,
        )

        engine = DEFAULT_SETTINGS.engine
        if not engine_available(engine):
            missing = PPOCRNotFoundError() if engine == "ppocr" else TesseractNotFoundError()
            print(f"memesent: {missing}", file=sys.stderr)
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
        if args.label_shares is not None:
            shares = parse_shares(args.label_shares)
            _model_config(model_dir, shares)  # the shares checked against the model
            model = f"{model}+{_digest(shares)}"  # shifted answers are another model's
        if args.out:
            results = open_results(args.out, model)
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


def _run(args, jobs, skipped, model_dir, model, results, shares) -> int:
    from tqdm import tqdm

    from .backbones import BackboneError
    from .batch import CaptionSource, score_collection
    from .batch_ray import RayEngineError, score_with_ray
    from .checkpoint import CheckpointError
    from .predictor import Predictor

    captions = CaptionSource(ocr=args.ocr, text=args.caption)
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
            tally = score_with_ray(jobs, str(model_dir), results, model, shares, **options)
        else:
            predictor = Predictor.load(model_dir)
            if shares is not None:
                predictor = predictor.with_label_shares(shares)
            tally = score_collection(jobs, predictor, results, model, **options)
    except KeyboardInterrupt:
        bar.close()
        where = f"in {args.out}: run the same command again to go on" if args.out else "above"
        print(f"\nmemesent: stopped; the memes scored so far are {where}", file=sys.stderr)
        return 130
    except (CheckpointError, BackboneError, ResultsError, RayEngineError) as err:
        print(f"memesent: {err}", file=sys.stderr)
        return 2
    finally:
        results.close()
        bar.close()
    if args.out:
        notes = [f"scored {tally.scored} memes into {args.out}"]
        if tally.failed:
            notes.append(f"{tally.failed} could not be scored (their error column says why)")
        if skipped:
            notes.append(f"{skipped} were there already")
        print(f"memesent: {'; '.join(notes)}", file=sys.stderr)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return _predict(args, parser) if args.command == "predict" else _ocr(args)
