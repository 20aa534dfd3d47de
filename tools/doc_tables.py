"""The tables in README.md and docs/ that hold measured numbers, written from the JSON files that
training and the benchmarks write, so that a new run updates the documents by a command and a
stale table is a red test rather than a review finding.

    python -m tools.doc_tables            # rewrite every generated table from its JSON
    python -m tools.doc_tables --check    # exit 1, naming each table its JSON no longer gives

In a document, a generated table sits between two markers, and only this script writes there:

    <!-- table: NAME -->
    ...
    <!-- /table -->

Each NAME below reads one JSON file (the model folder's `metrics.json`, or a benchmark's
`--json` output kept in `docs/results/`) and renders it with the function that training or the
benchmark itself uses to print it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/*.md")
METRICS = "assets/model/metrics.json"
MARKER = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


@dataclass(frozen=True)
class Table:
    """A generated table: the JSON it reads (relative to the repository) and how it is drawn."""

    source: str
    render: Callable[[Any], str]  # the parsed JSON: an object, or the ablation's list of rows


def _headline(metrics: dict) -> str:
    from train.metrics import with_interval
    from train.report import SOURCES

    lines = [
        "| data set (reading) | measure, on its held-out test part | memesent | reference point |",
        "| --- | --- | ---: | --- |",
    ]
    for name, result in metrics["sources"].items():
        source, test = SOURCES[name], result["test"]
        value = with_interval(test, source.headline)
        reference = "; ".join(f"{who} {v:.3f}" for who, v in source.published) or "–"
        if name == metrics["calibrated_on"]:
            words = result["test_readings"]["text"][source.headline]
            reference = f"chance 0.500; its words alone {words:.3f}"
        lines.append(f"| {name} ({result['reading']}) | {source.measure} | {value} | {reference} |")
        if name == metrics["calibrated_on"] and "valence_ece" in test:
            lines.append(
                f"| {name} ({result['reading']}) | valence calibration error (10 bins) "
                f"| {with_interval(test, 'valence_ece')} | 0 is perfect |"
            )
    return "\n".join(lines)


def _results(metrics: dict) -> str:
    from train.report import results_table

    return results_table(metrics)


def _readings(metrics: dict) -> str:
    from train.report import readings_table

    return readings_table(metrics)


def _data(metrics: dict) -> str:
    lines = [
        "| data set | examples | skipped | weight | train | validation | calibration | test |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, d in metrics["data"].items():
        lines.append(
            f"| {name} | {d['examples']:,} | {d['skipped']} | {d['weight']:g} | {d['train']:,} "
            f"| {d['val']:,} | {d['calib']:,} | {d['test']:,} |"
        )
    return "\n".join(lines)


def _memes(metrics: dict) -> str:
    from train.metrics import with_interval
    from train.report import _v

    name = metrics["calibrated_on"]
    t = metrics["sources"][name]["test"]
    rows = [
        (
            "memes with a side (positive or negative emotion) / left out (surprise)",
            f"{t['n']:,} / {t['n_without_side']:,}",
        ),
        ("AUROC, positive against negative", with_interval(t, "auroc_valence")),
        (
            "Spearman, expected level against signed intensity",
            with_interval(t, "spearman_intensity"),
        ),
        ("valence calibration error (10 bins)", with_interval(t, "valence_ece")),
        (
            "mean share on the positive side / share of positive memes",
            f"{t['mean_positive_share']:.3f} / {t['positive_rate']:.3f}",
        ),
        ("mean total variation from the base rates (all test memes)", _v(t["shift_mean"])),
        (
            "five-level log-loss / the base rates'",
            f"{t['log_loss_5']:.3f} / {t['log_loss_base_5']:.3f}",
        ),
    ]
    lines = [f"| {name} test memes, the answer (both) | value |", "| --- | ---: |"]
    return "\n".join([*lines, *(f"| {what} | {value} |" for what, value in rows)])


def _mappings(config: dict) -> str:
    lines = [
        "| data set | what it holds | label | levels it allows |",
        "| --- | --- | --- | --- |",
    ]
    for name, source in config["sources"].items():
        for i, (label, levels) in enumerate(source["mapping"].items()):
            what = f"| {name} | {source['description']} " if i == 0 else "| | "
            lines.append(f"{what}| {label} | {', '.join(levels)} |")
    return "\n".join(lines)


def _benchmark(module: str, pick: Callable[[dict], tuple] = lambda r: (r,)) -> Callable:
    def render(result: dict) -> str:
        import importlib

        drawn = importlib.import_module(f"benchmarks.{module}").table(*pick(result))
        return drawn + _load_caption(result, drawn)

    return render


def _load_caption(result: dict, drawn: str) -> str:
    """How busy the machine was beside the run, where the table does not say it already."""
    if "load average" in drawn:
        return ""
    load = result.get("load_average")
    if load is None:
        return "\n\nLoad average: not recorded (measured before runs recorded it)."
    return (
        f"\n\nLoad average: {load['start']:.2f} at the start, {load['end']:.2f} at the end "
        "(over the minute before each; 2 cores)."
    )


def _ablation(rows: list[dict]) -> str:
    from experiments.ablation import table

    return table(rows)


def _picture_tuning(result: dict) -> str:
    from experiments.picture_tuning import table

    return table(result)


def _ocr(result: dict) -> str:
    from benchmarks.ocr_accuracy import table

    drawn = (
        f"{table(result['summary'])}\n\n{result['memes']} memes; {result['machine']}; "
        "tesseract and onnxruntime on one thread."
    )
    return drawn + _load_caption(result, drawn)


TABLES: dict[str, Table] = {
    "headline": Table(METRICS, _headline),
    "results": Table(METRICS, _results),
    "readings": Table(METRICS, _readings),
    "data": Table(METRICS, _data),
    "memes": Table(METRICS, _memes),
    "mappings": Table("assets/model/config.json", _mappings),
    "live-update": Table("docs/results/live_update.json", _benchmark("live_update")),
    "soak": Table("docs/results/soak.json", _benchmark("soak")),
    "soak-predict": Table("docs/results/soak_predict.json", _benchmark("soak")),
    "soak-long": Table("docs/results/soak_long.json", _benchmark("soak")),
    "soak-long-before": Table("docs/results/soak_long_before.json", _benchmark("soak")),
    "soak-long-mmap": Table("docs/results/soak_long_mmap.json", _benchmark("soak")),
    "session-memory": Table("docs/results/session_memory.json", _benchmark("session_memory")),
    "batch-scoring": Table("docs/results/batch_scoring.json", _benchmark("batch_scoring")),
    "analyze": Table("docs/results/analyze.json", _benchmark("analyze")),
    "corrections": Table("docs/results/corrections.json", _benchmark("corrections")),
    "ig-steps": Table("docs/results/ig_steps.json", _benchmark("ig_steps")),
    "speed": Table("docs/results/speed.json", _benchmark("speed")),
    "ocr": Table("docs/results/ocr_accuracy.json", _ocr),
    "ocr-cv": Table("docs/results/ocr_cv.json", _benchmark("ocr_cv")),
    "faithfulness": Table(
        "docs/results/explain_faithfulness.json",
        _benchmark("explain_faithfulness", lambda r: (r["summary"], r["speed"])),
    ),
    "ablation": Table("docs/results/ablation.json", _ablation),
    "picture-tuning": Table("docs/results/picture_tuning.json", _picture_tuning),
    "memotion": Table("docs/results/memotion.json", _benchmark("memotion")),
    "tuning-speed": Table("docs/results/tuning_speed.json", _benchmark("tuning_speed")),
    "collection-shares": Table(
        "docs/results/collection_shares.json", _benchmark("collection_shares")
    ),
    "collection-speed": Table("docs/results/collection_speed.json", _benchmark("collection_speed")),
    "app-latency": Table(
        "docs/results/app_latency.json",
        _benchmark("app_latency", lambda r: (r["seconds"], r["calls"])),
    ),
}


def documents(root: Path) -> list[Path]:
    """README.md and every page of docs/."""
    return [p for pattern in DOCUMENTS for p in sorted(root.glob(pattern))]


def rendered(name: str, root: Path) -> str:
    """Table `name` as its JSON gives it now."""
    if name not in TABLES:
        raise KeyError(f"unknown generated table {name!r}: known are {', '.join(TABLES)}")
    table = TABLES[name]
    path = root / table.source
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f"table {name!r} reads {table.source}, which fails: {err}") from err
    return table.render(result).rstrip("\n") + "\n"


def update(root: Path = ROOT, check: bool = False) -> list[str]:
    """Rewrite (or, with `check`, only compare) every generated table under `root`; returns
    `document: table` for each one that was (or would be) changed."""
    changed = []
    for doc in documents(root):
        text = doc.read_text(encoding="utf-8")

        def fill(match: re.Match, doc: Path = doc) -> str:
            body = rendered(match["name"], root)
            if body != match["body"]:
                changed.append(f"{doc.relative_to(root)}: {match['name']}")
            return match[1] + body + match[4]

        new = MARKER.sub(fill, text)
        if new != text and not check:
            doc.write_text(new, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.doc_tables", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when stale")
    a = parser.parse_args(argv)
    changed = update(ROOT, check=a.check)
    verb = "stale (run python -m tools.doc_tables)" if a.check else "rewritten"
    for entry in changed:
        print(f"{verb}: {entry}")
    return 1 if a.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
