"""python -m train --data [SOURCE=]DIR [--data ...] --out DIR [options]: train one model on one
or more data sets (a bare DIR is Memotion's layout; several bare DIRs train as one Memotion
set). SOURCE is one of the registered adapters (train.sources). --init starts from an
existing model; --recipe writeup trains the write-up's network on Memotion."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import MISSING, fields, replace
from pathlib import Path

from memesent.backbones import IMAGE_SPECS, TEXT_SPECS
from memesent.fusion import FUSIONS
from memesent.model import CALIBRATIONS

from .config import (
    DEFAULT_CACHE,
    RECIPES,
    SHIPPED,
    WRITEUP,
    TrainConfig,
    apply_recipe,
    data_specs,
)
from .data import DataError
from .loop import HeadSettings
from .run import run
from .sources import SOURCES
from .text_tuning import TuningSettings


def pairs(values: list[str] | None, flag: str) -> dict[str, float]:
    out = {}
    for value in values or []:
        name, sep, number = value.partition("=")
        try:
            out[name] = float(number)
        except ValueError:
            raise ValueError(f"{flag} takes SOURCE=NUMBER, not {value!r}") from None
        if not sep or out[name] < 0:
            raise ValueError(f"{flag} takes SOURCE=NUMBER (at least 0), not {value!r}")
    return out


# The flag that sets each setting a recipe may set, and how that setting reads as the flag.
RECIPE_FLAGS = {
    "fusion": ("--fusion", "fusion", lambda v: v),
    "tuning": ("--text-tuning", "text_tuning", lambda v: "none" if v is None else "lora"),
    "calibration": ("--calibration", "calibration", lambda v: v),
    "head.epochs": ("--epochs", "epochs", lambda v: v),
    "head.patience": ("--patience", "patience", lambda v: v),
    "head.batch_size": ("--batch-size", "batch_size", lambda v: v),
    "head.flip": ("--no-flip", "flip", lambda v: v),
}


def recipe_conflicts(recipe: str, given: set[str], args: argparse.Namespace) -> list[str]:
    """Each flag typed on the command line (`given`) that the recipe sets otherwise, worded."""
    found = []
    for setting, value in RECIPES[recipe].settings.items():
        flag, attribute, as_flag = RECIPE_FLAGS[setting]
        typed = getattr(args, attribute)
        if flag in given and typed != as_flag(value):
            said = flag if isinstance(value, bool) else f"{flag} {as_flag(value)}"
            typed_said = flag if isinstance(typed, bool) else f"{flag} {typed}"
            found.append(f"--recipe {recipe} sets {said}, and the command gives {typed_said}")
    return found


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    d = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    h, t = HeadSettings(), TuningSettings()
    weights = ", ".join(f"{n} {s.head_weight:g}" for n, s in SOURCES.items())
    calibrating = sorted(
        (n for n, s in SOURCES.items() if s.calibration_priority is not None),
        key=lambda n: SOURCES[n].calibration_priority or 0,
        reverse=True,
    )
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="[SOURCE=]DIR",
        help=f"a data set: SOURCE one of {', '.join(SOURCES)}; a bare DIR is Memotion's layout "
        "(repeat it to train on several)",
    )
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write over a model folder that exists already (the shipped assets/model included)",
    )
    p.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default=d["recipe"],
        help=f"memesent: the shipped model's (made for {', '.join(SHIPPED.sources)}); writeup: "
        f"the write-up's network (on {', '.join(WRITEUP.sources)} alone)",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this model folder's head and text encoder (a quick update)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help="where frozen features and tuned text encoders are kept between runs, by digest "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--weight",
        action="append",
        metavar="SOURCE=W",
        help=f"a data set's share of the head's every batch (0: it trains no part of the head, "
        f"only tunes the text encoder; defaults: {weights})",
    )
    p.add_argument(
        "--calibrate-on",
        choices=calibrating,
        default=None,
        help="the data set whose memes choose the epoch and fit the calibration "
        f"(default: the first of {', '.join(calibrating)} the run has)",
    )
    p.add_argument(
        "--text-tuning",
        choices=("lora", "none"),
        default="lora",
        help="teach the text encoder sentiment with LoRA adapters, or keep it frozen",
    )
    p.add_argument("--tuning-steps", type=int, default=t.steps, help="text-encoder tuning steps")
    p.add_argument("--tuning-lr", type=float, default=t.lr)
    p.add_argument("--lora-rank", type=int, default=t.lora.rank)
    p.add_argument("--text-backbone", choices=list(TEXT_SPECS), default=d["text_backbone"])
    p.add_argument("--image-backbone", choices=list(IMAGE_SPECS), default=d["image_backbone"])
    p.add_argument("--fusion", choices=list(FUSIONS), default=d["fusion"])
    p.add_argument("--hidden", type=int, default=d["hidden"])
    p.add_argument("--dropout", type=float, default=d["dropout"])
    p.add_argument(
        "--members",
        type=int,
        default=d["members"],
        help="fusion networks trained from different seeds, their probabilities averaged",
    )
    p.add_argument(
        "--words-head",
        action=argparse.BooleanOptionalAction,
        default=d["words_head"],
        help="read the words alone with a linear layer of their own, trained on every labelled "
        "text, rather than with the fusion (default: %(default)s)",
    )
    p.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        default=d["calibration"],
        help="fitted per reading on the calibration memes (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=h.epochs)
    p.add_argument("--patience", type=int, default=h.patience)
    p.add_argument("--lr", type=float, default=h.lr)
    p.add_argument("--weight-decay", type=float, default=h.weight_decay)
    p.add_argument("--batch-size", type=int, default=h.batch_size)
    p.add_argument(
        "--no-flip", dest="flip", action="store_false", help="no mirrored-picture augmentation"
    )
    targets = sorted({t for s in SOURCES.values() for t in s.aux})
    p.add_argument(
        "--aux",
        action="append",
        default=[],
        choices=targets,
        help="a label beside sentiment the head also learns to predict from its fused vector "
        "(an auxiliary target; repeat for several)",
    )
    p.add_argument(
        "--aux-weight",
        type=float,
        default=h.aux_weight,
        help="the auxiliary targets' share of the loss beside sentiment (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--val-fraction", type=float, default=d["val_fraction"])
    p.add_argument("--calib-fraction", type=float, default=d["calib_fraction"])
    p.add_argument("--test-fraction", type=float, default=d["test_fraction"])
    a = p.parse_args(argv)
    typed = {word.split("=")[0] for word in (sys.argv[1:] if argv is None else argv)}
    conflicts = recipe_conflicts(a.recipe, typed, a)
    if conflicts:
        p.error("; ".join(conflicts) + ": leave the flag out, or train without the recipe")
    if a.epochs < 1 or a.tuning_steps < 1 or a.lora_rank < 1:
        p.error("--epochs, --tuning-steps and --lora-rank must be at least 1")
    parts = (a.val_fraction, a.calib_fraction, a.test_fraction)
    if not (all(0 < f < 1 for f in parts) and sum(parts) < 1):
        p.error(
            "--val-fraction, --calib-fraction and --test-fraction must be in (0, 1) "
            "and sum to less than 1"
        )
    if (a.out / "config.json").is_file() and not a.overwrite:
        p.error(
            f"--out {a.out} holds a model already: name another folder, or add --overwrite to "
            "replace it"
        )
    args = dict(vars(a))
    args.pop("overwrite")
    try:
        head = HeadSettings(**{f.name: args.pop(f.name) for f in fields(HeadSettings)})
        tuning = replace(
            t,
            steps=args.pop("tuning_steps"),
            lr=args.pop("tuning_lr"),
            lora=replace(t.lora, rank=a.lora_rank, alpha=2 * args.pop("lora_rank")),
        )
        cfg = TrainConfig(
            data=data_specs(args.pop("data")),
            weights=pairs(args.pop("weight"), "--weight"),
            tuning=None if args.pop("text_tuning") == "none" else tuning,
            head=head,
            **args,
        )
        cfg = apply_recipe(cfg, cfg.recipe)
    except ValueError as err:
        p.error(str(err))
    return cfg


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = parse_args(argv)
    try:
        metrics = run(cfg)
    except DataError as err:
        print(f"python -m train: {err}", file=sys.stderr)
        return 2
    summary = {}
    for name, result in metrics["sources"].items():
        headline = SOURCES[name].headline
        value = result.get("test", {}).get(headline)
        summary[name] = {headline: None if value is None else round(value, 3)}
    print(f"wrote {cfg.out}; test parts: {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
