"""How long the text encoder's tuning takes, the longest step of a first `python -m train`.

    python -m benchmarks.tuning_speed --data sst5=DIR --data semeval=DIR --data metmeme=DIR
        [--steps 40] [--json FILE]

Runs `train.text_tuning` with the shipped recipe's settings (LoRA adapters, batches of 32 texts
drawn by the tuning weights from the run's training texts, up to 64 tokens, on every core) twice:
for 5 steps and for 5 + `--steps` steps. The difference, divided by `--steps`, is the time of a
step without what every run pays once (copying the encoder, the validation passes at its start
and end); times the recipe's 1,500 steps, it is how long the tuning takes on this machine, the
validation pass every 100 steps measured on its own and added.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from memesent.labels import LABELS
from train.config import TrainConfig, data_specs
from train.run import load_data
from train.text_tuning import TuningSettings, _train, text_sets, validation_log_loss

from .timing import cpu_name, measured

FIXED_STEPS = 5


def measure(cfg: TrainConfig, steps: int) -> dict:
    """Seconds a tuning step takes and the recipe's tuning projected from it (see the module)."""
    from memesent.backbones import load_text_encoder

    assert cfg.tuning is not None
    sets = load_data(cfg)
    calibrating = next(ex for ex in sets if ex.source == cfg.calibrating_source)
    train, val = text_sets(sets, "train"), text_sets([calibrating], "val")[0]
    encoder = load_text_encoder(cfg.text_backbone)

    def run(n: int) -> float:
        settings = replace(cfg.tuning, steps=n, eval_every=n)
        start = time.perf_counter()
        _train(encoder, train, val, settings, cfg.seed)
        return time.perf_counter() - start

    short, long = run(FIXED_STEPS), run(FIXED_STEPS + steps)
    step = (long - short) / steps
    head = torch.nn.Linear(encoder.dim, len(LABELS))
    begin = time.perf_counter()
    validation_log_loss(encoder, head, val, cfg.tuning.max_length)
    validation = time.perf_counter() - begin
    recipe = TuningSettings()
    passes = recipe.steps // recipe.eval_every + 1
    return {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads",
        "steps_timed": steps,
        "seconds_per_step": step,
        "validation_pass_seconds": validation,
        "validation_texts": len(val.texts),
        "recipe_steps": recipe.steps,
        "recipe_validation_passes": passes,
        "recipe_tuning_minutes": (recipe.steps * step + passes * validation) / 60,
    }


def table(result: dict) -> str:
    """The measurement as a markdown table, with the machine."""
    return "\n".join(
        [
            "| measured | value |",
            "| --- | ---: |",
            f"| one tuning step (32 texts), over {result['steps_timed']} steps | "
            f"{result['seconds_per_step']:.2f} s |",
            f"| one validation pass ({result['validation_texts']} captions) | "
            f"{result['validation_pass_seconds']:.1f} s |",
            f"| the recipe's tuning: {result['recipe_steps']:,} steps and "
            f"{result['recipe_validation_passes']} validation passes | "
            f"{result['recipe_tuning_minutes']:.0f} min |",
            "",
            f"Machine: {result['machine']}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tuning_speed", description=__doc__)
    parser.add_argument("--data", action="append", required=True, metavar="SOURCE=DIR")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    a = parser.parse_args(argv)
    if a.steps < 1:
        parser.error("--steps must be at least 1")
    cfg = TrainConfig(data=data_specs(a.data), out=Path())
    return measured(lambda: measure(cfg, a.steps), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
