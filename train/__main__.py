"""python -m train --data DIR [--data DIR ...] --out DIR [options]: train a fusion head on
labelled memes (several folders train as one set; --init starts from an existing model)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

from memesent.backbones import IMAGE_SPECS, TEXT_SPECS
from memesent.fusion import FUSIONS
from memesent.model import CALIBRATIONS

from .config import DEFAULT_CACHE, TrainConfig
from .data import DataError
from .loop import BALANCING, LOSSES, HeadSettings
from .run import run


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    d, h = TrainConfig(Path(), Path()), HeadSettings()
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="folder with labels.csv and images/ (repeat it to train on several)",
    )
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this model folder's head (a quick update on new memes)",
    )
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="feature cache folder")
    p.add_argument("--text-backbone", choices=list(TEXT_SPECS), default=d.text_backbone)
    p.add_argument("--image-backbone", choices=list(IMAGE_SPECS), default=d.image_backbone)
    p.add_argument("--fusion", choices=list(FUSIONS), default=d.fusion)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--members", type=int, default=d.members, help="ensemble size (seeds)")
    p.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        default=d.calibration,
        help="fitted on the calibration part: temperature and per-level bias (vector), "
        "temperature only, or none (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=h.epochs)
    p.add_argument("--patience", type=int, default=h.patience)
    p.add_argument("--lr", type=float, default=h.lr)
    p.add_argument("--weight-decay", type=float, default=h.weight_decay)
    p.add_argument("--batch-size", type=int, default=h.batch_size)
    p.add_argument("--balance", choices=BALANCING, default=h.balance, help="class weights")
    p.add_argument("--loss", choices=LOSSES, default=h.loss, help="cross-entropy or ordinal")
    p.add_argument("--label-smoothing", type=float, default=h.label_smoothing)
    p.add_argument(
        "--ordinal-smoothing",
        type=float,
        default=h.ordinal_smoothing,
        help="share of each target moved to the neighbouring levels",
    )
    p.add_argument(
        "--aux-weight",
        type=float,
        default=h.aux_weight,
        help="weight of the humour/sarcasm/offensive/motivational losses (0: off)",
    )
    p.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        help="no mirrored-image feature augmentation",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--calib-fraction", type=float, default=d.calib_fraction)
    p.add_argument("--test-fraction", type=float, default=d.test_fraction)
    a = p.parse_args(argv)
    if a.members < 1 or a.epochs < 1:
        p.error("--members and --epochs must be at least 1")
    parts = (a.val_fraction, a.calib_fraction, a.test_fraction)
    if not (all(0 < f < 1 for f in parts) and sum(parts) < 1):
        p.error(
            "--val-fraction, --calib-fraction and --test-fraction must be in (0, 1) "
            "and sum to less than 1"
        )
    args = vars(a)
    try:
        head = HeadSettings(**{f.name: args.pop(f.name) for f in fields(HeadSettings)})
    except ValueError as err:
        p.error(str(err))
    return TrainConfig(head=head, **args)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = parse_args(argv)
    try:
        metrics = run(cfg)
    except DataError as err:
        print(f"python -m train: {err}", file=sys.stderr)
        return 2
    test = metrics["test"]
    summary = {
        k: round(test[k], 3) for k in ("accuracy_3", "macro_f1_3", "accuracy_5", "macro_f1_5")
    }
    summary["f1_negative_3"] = round(test["per_class_3"]["negative"]["f1"], 3)
    summary.update({k: round(test[k], 3) for k in ("log_loss_3", "log_loss_base_3", "ece_3")})
    summary["auroc_3"] = {c: v if v is None else round(v, 3) for c, v in test["auroc_3"].items()}
    print(f"wrote {cfg.out}; test split ({test['n']} memes): {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
