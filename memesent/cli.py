"""`python -m memesent predict|ocr IMAGE...`: score or read memes from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .images import NotAnImageError, load_image


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m memesent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser(
        "predict", help="sentiment of each meme (five levels and three classes)"
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    source = predict.add_mutually_exclusive_group()
    source.add_argument("--caption", default=None, help="caption text for every image")
    source.add_argument("--ocr", action="store_true", help="read each caption with OCR (tesseract)")
    predict.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    ocr = sub.add_parser("ocr", help="read the caption of each meme with tesseract")
    ocr.add_argument("images", nargs="+", metavar="IMAGE")
    ocr.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def _fail(image: str, err: Exception, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"image": image, "error": str(err)}))
    print(f"memesent: {image}: {err}", file=sys.stderr)


def _predict(args: argparse.Namespace) -> int:
    from .backbones import BackboneError
    from .checkpoint import CheckpointError
    from .predictor import Predictor

    if args.ocr:
        from .ocr import TesseractNotFoundError, tesseract_available

        if not tesseract_available():
            print(f"memesent: {TesseractNotFoundError()}", file=sys.stderr)
            return 2
    try:
        predictor = Predictor.load(args.model)
    except (CheckpointError, BackboneError) as err:
        print(f"memesent: {err}", file=sys.stderr)
        return 2
    failures = 0
    for path in args.images:
        try:
            image = load_image(path)
            caption = _read_caption(image) if args.ocr else (args.caption or "")
            result = predictor.predict(image, caption)
        except (OSError, NotAnImageError, RuntimeError) as err:
            failures += 1
            _fail(path, err, args.json)
            continue
        if args.json:
            print(json.dumps({"image": path, "caption": caption, **result.to_dict()}))
        else:
            levels = "  ".join(f"{k}={v:.3f}" for k, v in result.probs.items())
            print(f"{path}: {result.label} ({result.label3})  {levels}")
    return 1 if failures else 0


def _read_caption(image) -> str:
    from .ocr import extract_caption

    return extract_caption(image).text


def _ocr(args: argparse.Namespace) -> int:
    from .ocr import TesseractNotFoundError, extract_caption

    failures = 0
    for path in args.images:
        try:
            caption = extract_caption(load_image(path))
        except TesseractNotFoundError as err:
            print(f"memesent: {err}", file=sys.stderr)
            return 2
        except (OSError, NotAnImageError, RuntimeError) as err:
            failures += 1
            _fail(path, err, args.json)
            continue
        if args.json:
            print(
                json.dumps({"image": path, "text": caption.text, "confidence": caption.confidence})
            )
        else:
            print(f"== {path} (confidence {caption.confidence:.2f})\n{caption.text}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _predict(args) if args.command == "predict" else _ocr(args)
