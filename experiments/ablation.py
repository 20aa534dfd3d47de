"""python -m experiments.ablation --data SOURCE=DIR ...: which data sets, which text encoder and
which parts of the model carry the sentiment of memes.

Every row is a head trained as `python -m train` trains it (same split, seed and settings) on
the backbones' cached features, and measured on the calibrating source's memes (MET-Meme's):
AUROC of positive against negative memes and Spearman with the signed intensity on the
validation part (where recipes are chosen) and on the test part, with bootstrap 95 % intervals,
and the text sources' own measures (SST-5 accuracy, SemEval macro-recall) of the words' reading.
The text encoder is the one `python -m train` tunes on the same data (read from the cache: run
that first, or it is tuned here) or, for the frozen rows, the pretrained one.

Rows: stating the base rates; VADER's compound score of the caption (a sentiment lexicon, no
training); the recipe; each data set it trains the head on left out of the head's training, and
each it leaves out of the head (weight 0, such as SemEval) put in; the frozen text encoder; each
of the head's designs other than the recipe's (`alternatives`: other fusions, a words head,
members, auxiliary targets), read both ways and by the words alone; the recipe's words alone
and picture alone; labels shuffled (a control that must fall to chance: every label the head
trains, stops or is calibrated on); and, when Memotion is given, the write-up's recipe trained
on it.
Leaving a data set out of the text encoder's tuning would need a tuning run per row (tens of
minutes each) and is not measured here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memesent.backbones import IMAGE_SPECS, TEXT_SPECS
from memesent.fusion import FUSIONS
from train.config import DEFAULT_CACHE, RECIPES, TrainConfig, apply_recipe, data_specs
from train.data import DataError
from train.loop import fit_head, reading_log_probs
from train.metrics import with_interval
from train.pool import Pool, Stack
from train.run import build_pool, load_data, text_encoder_for, words_training
from train.sources import SOURCES

COLUMNS = ("auroc_valence", "spearman_intensity", "valence_ece")


@dataclass(frozen=True)
class Variant:
    """One row: the head's training sources (each at its weight, 1 where the recipe's is 0),
    which text encoder (`tuned` or `frozen`), the reading measured, whether the training
    labels are shuffled, and `TrainConfig` settings that differ from the recipe's."""

    name: str
    sources: tuple[str, ...]
    encoder: str = "tuned"
    reading: str = "both"
    shuffle: bool = False
    settings: tuple[tuple[str, Any], ...] = ()


def variants(cfg: TrainConfig, names: list[str], calibrating: str) -> list[Variant]:
    """The rows (see the module) for a run on the data sets `names`."""
    recipe = tuple(n for n in names if cfg.weight(n) > 0)
    rows = [Variant("the recipe", recipe)]
    for n in names:
        if n == calibrating or SOURCES[n].writeup:  # the write-up's data: its own row
            continue
        if n in recipe:
            rows.append(Variant(f"without {n}", tuple(m for m in recipe if m != n)))
        else:
            rows.append(
                Variant(f"with {n} in the head", tuple(m for m in names if m in (*recipe, n)))
            )
    rows += [
        Variant(
            f"without {calibrating} in the head (calibrated on it)",
            tuple(m for m in recipe if m != calibrating),
        ),
        Variant("frozen text encoder", recipe, encoder="frozen"),
        *(
            Variant(name + suffix, recipe, reading=reading, settings=(setting,))
            for name, setting in alternatives(cfg)
            for reading, suffix in (("both", ""), ("text", ", words alone"))
        ),
        Variant("the recipe, words alone", recipe, reading="text"),
        Variant("the recipe, picture alone", recipe, reading="image"),
        Variant("control: shuffled training labels", recipe, shuffle=True),
    ]
    return rows


def alternatives(cfg: TrainConfig) -> list[tuple[str, tuple[str, Any]]]:
    """The head's design choices other than the recipe's, each a row (read both ways and by
    the words alone): the other fusions, the words read by the fusion or by a head of their
    own, three members rather than one, and (for a recipe without them) the calibrating
    source's other labels as auxiliary targets: the first alone, then all."""
    rows: list[tuple[str, tuple[str, Any]]] = [
        (f"{kind} fusion", ("fusion", kind)) for kind in FUSIONS if kind != cfg.fusion
    ]
    words = "the fusion" if cfg.words_head else "a words head"
    rows.append((f"words read by {words}", ("words_head", not cfg.words_head)))
    members = 3 if cfg.members == 1 else 1
    rows.append((f"{members} member{'s' * (members > 1)}", ("members", members)))
    calibrating = SOURCES[cfg.calibrating_source]
    if not cfg.head.aux and calibrating.aux:
        first = next(iter(calibrating.aux))
        rows.append((f"{first} as an auxiliary target", ("aux", (first,))))
        if len(calibrating.aux) > 1:
            rows.append(
                (
                    f"{', '.join(calibrating.aux)} as auxiliary targets",
                    ("aux", tuple(calibrating.aux)),
                )
            )
    return rows


def measure(head, pool: Pool, stack: Stack, calibrating: str, reading: str) -> dict:
    """The row's measures: the calibrating source's valence on val and test, each text source's
    headline on its val and test parts (the words' reading)."""
    out: dict = {}
    rates = np.array(head.config.base_rates)
    for ex in stack:
        source = SOURCES[ex.source]
        if ex.source != calibrating and source.reading != "text":
            continue
        for part in ("val", "test"):
            idx = ex.part(part)
            logp = reading_log_probs(head, pool, stack.rows(ex.source, part))[
                reading if ex.source == calibrating else "both"
            ]
            rows = ~np.isnan(logp).any(1)
            if not rows.any():
                continue
            score = source.score(ex.subset(idx[rows]), np.exp(logp[rows]), rates, part == "test")
            out[f"{ex.source}_{part}"] = score
    return out


def fit(cfg: TrainConfig, pool: Pool, stack: Stack, v: Variant, config):
    calibrating = cfg.calibrating_source
    train = {s: stack.rows(s, "train", labelled=True) for s in stack.offsets if s in v.sources}
    val = stack.rows(calibrating, "val", labelled=True)
    calib = stack.rows(calibrating, "calib", labelled=True)
    if v.shuffle:
        # every label the head learns from, chooses its epoch by or is calibrated on: with real
        # labels in the calibration part, calibrating a head trained on noise over sentiment-
        # tuned features would orient it, and the control would not fall to chance
        pool = replace(pool, allowed=pool.allowed.clone())
        rng = np.random.default_rng(cfg.seed)
        for idx in [*train.values(), val, calib]:
            pool.allowed[torch.as_tensor(idx)] = pool.allowed[torch.as_tensor(rng.permutation(idx))]
    shares = {s: cfg.weight(s) or 1.0 for s in train}
    settings = dict(v.settings)
    kind = settings.pop("fusion", config.fusion.kind)
    training = replace(cfg.head, aux=settings.pop("aux", cfg.head.aux))
    config = replace(config, fusion=replace(config.fusion, kind=kind), **settings)
    head, _ = fit_head(
        config, pool, train, shares, val, calib, training, cfg.seed, words=words_training(stack)
    )
    return head, pool


def vader_row(stack: Stack, calibrating: str) -> dict:
    """VADER's compound score of the caption as the valence (memes without a caption: 0)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from train.metrics import auroc, spearman

    analyzer = SentimentIntensityAnalyzer()
    ex = stack[calibrating]
    out = {}
    for part in ("val", "test"):
        idx = ex.part(part)
        signed = ex.extra["signed_intensity"][idx]
        sided = ~np.isnan(signed)
        score = np.array([analyzer.polarity_scores(ex.captions[i] or "")["compound"] for i in idx])[
            sided
        ]
        out[f"{calibrating}_{part}"] = {
            "n": int(sided.sum()),
            "auroc_valence": auroc(signed[sided] > 0, score),
            "spearman_intensity": spearman(score, signed[sided]),
        }
    return out


def _cell(result: dict | None, key: str) -> str:
    return with_interval(result or {}, key)


def _pair(row: dict, source: str, key: str) -> str:
    """A text source's measure on its validation and test parts, "val / test" (rows written
    before the validation part was measured: the test alone)."""
    test = _cell(row.get(f"{source}_test"), key)
    val = row.get(f"{source}_val")
    return test if val is None else f"{_cell(val, key)} / {test}"


def markdown(rows: list[dict], calibrating: str, text_sources: list[str]) -> str:
    head = [
        f"| row | {calibrating} val AUROC | test AUROC | test Spearman | test valence ECE | "
        + " | ".join(f"{s} {SOURCES[s].headline}, val / test" for s in text_sources)
        + " |",
        "| --- |" + " ---: |" * (4 + len(text_sources)),
    ]
    for r in rows:
        val, test = r.get(f"{calibrating}_val"), r.get(f"{calibrating}_test")
        cells = [_cell(val, "auroc_valence"), *(_cell(test, k) for k in COLUMNS)]
        cells += [_pair(r, s, SOURCES[s].headline) for s in text_sources]
        head.append(f"| {r['row']} | " + " | ".join(cells) + " |")
    return "\n".join(head)


def table(rows: list[dict]) -> str:
    """The markdown table of the rows `--json` wrote (the calibrating source: the one measured
    on its validation part)."""
    calibrating = next(k.removesuffix("_val") for r in rows for k in r if k.endswith("_val"))
    text_sources = [
        s
        for s, source in SOURCES.items()
        if source.reading == "text" and any(f"{s}_test" in r for r in rows)
    ]
    return markdown(rows, calibrating, text_sources)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.ablation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", action="append", required=True, metavar="SOURCE=DIR")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--only", nargs="+", metavar="TEXT", help="rows whose name contains a TEXT")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    try:
        cfg = TrainConfig(data=data_specs(a.data), out=Path(), cache=a.cache)
        stack = Stack(load_data(cfg))
    except (DataError, ValueError) as err:
        print(f"python -m experiments.ablation: {err}", file=sys.stderr)
        return 2
    calibrating = cfg.calibrating_source
    if "signed_intensity" not in stack[calibrating].extra:
        print(
            "python -m experiments.ablation: needs memes with emotions and their intensity (such "
            f"as MET-Meme's) to calibrate on; {calibrating} has none",
            file=sys.stderr,
        )
        return 2
    pools, configs = {}, {}
    for kind in ("tuned", "frozen"):
        run_cfg = cfg if kind == "tuned" else replace(cfg, tuning=None)
        text = text_encoder_for(run_cfg, stack, None)
        pools[kind], image_spec = build_pool(run_cfg, stack, text.encoder)
        configs[kind] = run_cfg.model_config(text.encoder.spec, image_spec, text.lora)
    names = list(stack.offsets)
    text_sources = [n for n in names if SOURCES[n].reading == "text"]
    rows: list[dict[str, Any]] = [{"row": "stating the base rates for every meme"}]
    chosen = variants(cfg, names, calibrating)
    if a.only:
        chosen = [v for v in chosen if any(t in v.name for t in a.only)]
    start = time.perf_counter()
    rates_head = None
    for v in chosen:
        head, pool = fit(cfg, pools[v.encoder], stack, v, configs[v.encoder])
        rows.append({"row": v.name, **measure(head, pool, stack, calibrating, v.reading)})
        rates_head = rates_head or head
        print(
            f"{v.name}: {_cell(rows[-1].get(f'{calibrating}_test'), 'auroc_valence')} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    if rates_head is not None:
        rows[0].update(_base_rate_row(rates_head, stack, calibrating))
    rows.insert(1, {"row": "VADER compound score of the caption", **vader_row(stack, calibrating)})
    writeup = RECIPES["writeup"].sources
    if set(writeup) <= set(names):
        rows.append(_writeup_row(cfg, stack, pools["frozen"], calibrating))
    print(markdown(rows, calibrating, text_sources))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2, default=float) + "\n")
    return 0


def _base_rate_row(head, stack: Stack, calibrating: str) -> dict:
    ex = stack[calibrating]
    rates = np.array(head.config.base_rates)
    out = {}
    for part in ("val", "test"):
        sub = ex.subset(ex.part(part))
        out[f"{calibrating}_{part}"] = SOURCES[calibrating].score(
            sub, np.tile(rates, (len(sub), 1)), rates, False
        )
    return out


def _writeup_row(cfg: TrainConfig, stack: Stack, pool: Pool, calibrating: str) -> dict:
    """The write-up's recipe: trained on its data set alone (frozen encoder, concatenation, no
    calibration), measured on the calibrating source's memes."""
    recipe = RECIPES["writeup"]
    data = [d for d in cfg.data if d.source in recipe.sources]
    writeup = apply_recipe(TrainConfig(data=data, out=Path()), recipe.name)
    model_config = writeup.model_config(
        TEXT_SPECS[cfg.text_backbone], IMAGE_SPECS[cfg.image_backbone], None
    )
    head, _ = fit_head(
        model_config,
        pool,
        {s: stack.rows(s, "train") for s in recipe.sources},
        {s: 1.0 for s in recipe.sources},
        np.concatenate([stack.rows(s, "val") for s in recipe.sources]),
        np.concatenate([stack.rows(s, "calib") for s in recipe.sources]),
        writeup.head,
        writeup.seed,
    )
    return {
        "row": "the write-up's recipe (Memotion only)",
        **measure(head, pool, stack, calibrating, "both"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
