"""Benchmark caption OCR on a folder in the MultiOFF layout (`labels.csv` with `image_name` and
`sentence`, pictures in `images/`).

For every meme it runs plain `pytesseract.image_to_string` and each engine of
`memesent.ocr.extract_caption` (tuned Tesseract, PP-OCR) one after another, times them, and
scores word recall and word precision against the transcription (bag-of-words overlap after
normalising case, punctuation, clitics such as `n't` and spacing), micro-averaged over the
folder. Running the methods meme by meme, side by side, keeps their timings comparable when the
machine's speed drifts. Tesseract is limited to one thread (`OMP_THREAD_LIMIT=1`) and PP-OCR
runs onnxruntime on one thread (its default), so that the timings compare like with like and do
not depend on the number of cores. Besides wall-clock seconds (median and 95th percentile) it
reports CPU seconds (this process plus the tesseract processes it waited for), which stay
comparable when other work shares the machine.

    python -m benchmarks.ocr_accuracy DIR [--json FILE] [--limit N]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from memesent.collection import leaves_folder

from .ocr_metrics import normalise_words, overlap, read_transcriptions
from .timing import cpu_name, load_average, write_result


@dataclass
class Tally:
    """Running totals for one OCR method over a folder."""

    matched: int = 0
    reference_words: int = 0
    hypothesis_words: int = 0
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    def add(self, reference: list[str], hypothesis: list[str], seconds: float, cpu: float) -> None:
        self.matched += overlap(reference, hypothesis)
        self.reference_words += len(reference)
        self.hypothesis_words += len(hypothesis)
        self.seconds.append(seconds)
        self.cpu_seconds.append(cpu)

    @property
    def recall(self) -> float:
        return self.matched / self.reference_words if self.reference_words else 0.0

    @property
    def precision(self) -> float:
        return self.matched / self.hypothesis_words if self.hypothesis_words else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "word_recall": round(self.recall, 4),
            "word_precision": round(self.precision, 4),
            "median_seconds": round(statistics.median(self.seconds), 3),
            "p95_seconds": round(_p95(self.seconds), 3),
            "median_cpu_seconds": round(statistics.median(self.cpu_seconds), 3),
            "mean_cpu_seconds": round(statistics.fmean(self.cpu_seconds), 3),
            "memes": len(self.seconds),
        }


def _p95(values: list[float]) -> float:
    """The 95th percentile (linear interpolation between the closest ranks)."""
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _cpu_seconds() -> float:
    """CPU time of this process and of the child processes it has waited for (children only
    where the `resource` module exists, i.e. not on Windows)."""
    try:
        import resource
    except ImportError:
        return time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _methods() -> dict[str, Callable[[Image.Image], str]]:
    import pytesseract

    from memesent.ocr import ENGINES

    methods: dict[str, Callable[[Image.Image], str]] = {
        "plain image_to_string": pytesseract.image_to_string
    }
    for engine in sorted(ENGINES, key=lambda e: e != "tesseract"):
        methods[f"extract_caption, {engine}"] = functools.partial(_read, engine=engine)
    return methods


def _read(image: Image.Image, engine: str) -> str:
    from memesent.ocr import extract_caption

    return extract_caption(image, timeout=60.0, engine=engine).text


def run(folder: Path, limit: int | None = None, log: bool = True) -> dict:
    """Score every method on `folder`; returns the summary and the per-meme results."""
    from memesent.images import NotAnImageError, load_image

    methods = _methods()
    for ocr in methods.values():  # load models once before timing (PP-OCR keeps its sessions)
        ocr(Image.new("RGB", (64, 64), "white"))
    tallies = {name: Tally() for name in methods}
    per_meme, skipped = [], []
    for index, (name, sentence) in enumerate(read_transcriptions(folder)[:limit]):
        if leaves_folder(name):
            skipped.append({"image": name, "reason": "refused: the name leaves the images folder"})
            continue
        try:
            image = load_image(folder / "images" / name)
        except (OSError, NotAnImageError) as err:
            skipped.append({"image": name, "reason": str(err)})
            continue
        reference = normalise_words(sentence)
        row: dict = {"image": name}
        for method, ocr in methods.items():
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            text = ocr(image)
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
            hypothesis = normalise_words(text)
            tallies[method].add(reference, hypothesis, seconds, cpu)
            row[method] = {
                "text": text,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "matched": overlap(reference, hypothesis),
                "reference_words": len(reference),
                "hypothesis_words": len(hypothesis),
            }
        per_meme.append(row)
        if log:
            print(f"{index + 1:4d} {name}", file=sys.stderr, flush=True)
    if not per_meme:
        raise ValueError(f"no readable meme in {folder} (labels.csv + images/)")
    summary = {method: tally.summary() for method, tally in tallies.items()}
    return {"folder": str(folder), "summary": summary, "memes": per_meme, "skipped": skipped}


def table(summary: dict[str, dict[str, float]]) -> str:
    """The summary as a markdown table."""
    header = (
        "| method | word recall | word precision | median s / meme | p95 s / meme "
        "| median CPU s / meme | mean CPU s / meme |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for method, s in summary.items():
        lines.append(
            f"| {method} | {s['word_recall']:.3f} | {s['word_precision']:.3f} "
            f"| {s['median_seconds']:.2f} | {s['p95_seconds']:.2f} "
            f"| {s['median_cpu_seconds']:.2f} | {s['mean_cpu_seconds']:.2f} |"
        )
    return "\n".join(lines)


def ratios(summary: dict[str, dict[str, float]]) -> list[str]:
    """Each method's median wall-clock and CPU time against tuned Tesseract's, measured side by
    side in the same run."""
    reference = summary.get("extract_caption, tesseract")
    if reference is None:
        return []
    return [
        f"{method}: {s['median_seconds'] / reference['median_seconds']:.2f}x wall clock, "
        f"{s['median_cpu_seconds'] / reference['median_cpu_seconds']:.2f}x CPU"
        for method, s in summary.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ocr_accuracy",
        description="Word recall, word precision and time per meme of caption OCR "
        "(plain pytesseract and each memesent.ocr engine) on a MultiOFF-layout folder.",
    )
    parser.add_argument("folder", type=Path, help="folder with labels.csv and images/")
    parser.add_argument("--json", type=Path, help="also write the summary and per-meme results")
    parser.add_argument(
        "--summary-json",
        type=Path,
        help="also write the summary alone, without the memes' text (docs/results/ keeps it)",
    )
    parser.add_argument("--limit", type=int, help="only the first N memes")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    load = load_average()
    try:
        result = run(args.folder, args.limit)
    except (OSError, ValueError) as err:
        print(f"python -m benchmarks.ocr_accuracy: {err}", file=sys.stderr)
        return 2
    n = len(result["memes"])
    for row in result["skipped"]:
        print(f"skipped {row['image']}: {row['reason']}", file=sys.stderr)
    print(
        f"{n} memes in {args.folder}; recall and precision micro-averaged over all words; "
        "tesseract and onnxruntime on one thread\n"
    )
    print(table(result["summary"]))
    print("\nmedian time against extract_caption, tesseract:")
    for line in ratios(result["summary"]):
        print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.summary_json:
        machine = f"{cpu_name()}, {os.cpu_count()} cores"
        summary = {"memes": n, "machine": machine, "summary": result["summary"]}
        write_result(args.summary_json, summary, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
