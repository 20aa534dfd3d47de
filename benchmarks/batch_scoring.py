"""How fast and how lean batch scoring is: `memesent predict --manifest ... --out ...` as users
run it, on Memotion memes.

    python -m benchmarks.batch_scoring --data ../shared/data/memotion7k [--n 1000]
        [--ocr-n 100] [--memory-n 10000] [--ray-n 200] [--json FILE]

1. Captions given: the CLI scores `--n` memes with 2 workers into a CSV; wall time of the whole
   command (start-up and model load included) and memes per second.
2. A rerun of the same command when nothing is left to do: its time against the first run's.
3. OCR: `--ocr-n` memes with 1 worker and with 2, alternated twice; the scoring part only (the
   model loaded once in this process), so the ratio shows what the second worker adds.
4. Memory: the CLI scores `--memory-n` memes (the data set's rows repeated as needed) with 2
   workers; the peak of the summed resident memory of it and its workers, sampled every 0.2 s.
5. Ray: `--ray-n` memes with `--engine ray` (2 local CPUs) and `--engine local`, with the
   shipped model: labels equal, largest probability gap, and how many different labels the
   memes got (a comparison of answers that all agree would prove little).

Manifests are written to a temporary folder whose `images` links to the data set's pictures.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .timing import cpu_name, measured, tree_rss_mb

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"memes_per_s": 35.0, "ocr_speedup": 1.7, "peak_memory_gb": 1.5, "rescan_share": 0.10}


def write_manifest(data: Path, folder: Path, n: int, name: str) -> Path:
    """A manifest of the first `n` memes of `data` (repeated when `n` is larger), in `folder`."""
    with open(data / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "images").exists():
        (folder / "images").symlink_to((data / "images").resolve())
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        for i in range(n):
            row = rows[i % len(rows)]
            caption = (row.get("text_corrected") or "").strip() or (row.get("text_ocr") or "")
            writer.writerow([f"images/{row['image_name']}", caption.strip()])
    return path


def cli(*args: str, sample_memory: bool = False) -> tuple[float, float]:
    """Run `python -m memesent predict ARGS`; (wall seconds, peak summed RSS in GB or 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memesent", "predict", *args, "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0.0]
    if sample_memory:
        threading.Thread(target=_sample, args=(proc, peak), daemon=True).start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"memesent predict {' '.join(args)} failed:\n{err[-2000:]}")
    return seconds, peak[0]


def _sample(proc: subprocess.Popen, peak: list[float]) -> None:
    while proc.poll() is None:
        peak[0] = max(peak[0], tree_rss_mb(proc.pid) / 1024)
        time.sleep(0.2)


def ocr_seconds(manifest: Path, workers: int, predictor, model: str) -> float:
    """Seconds `score_collection` takes to read and score the manifest's memes with OCR."""
    from memesent.batch import CaptionSource, score_collection
    from memesent.collection import jobs_from_manifest

    class Discard:
        def done(self) -> set[str]:
            return set()

        def write(self, rows: list[dict]) -> None:
            pass

        def close(self) -> None:
            pass

    jobs = list(jobs_from_manifest(manifest))
    start = time.perf_counter()
    score_collection(
        jobs, predictor, Discard(), model, CaptionSource(ocr="always"), workers=workers
    )
    return time.perf_counter() - start


def compare(a: Path, b: Path) -> tuple[bool, float, int, int]:
    """(labels equal, largest probability gap, rows, different labels in the first) of two
    results CSVs, matched by image."""

    def read(path: Path) -> dict[str, dict]:
        with open(path, newline="", encoding="utf-8") as handle:
            return {row["image"]: row for row in csv.DictReader(handle)}

    left, right = read(a), read(b)
    labels = len({row["label"] for row in left.values()})
    if left.keys() != right.keys():
        return False, float("inf"), len(left), labels
    gap, same = 0.0, True
    for key, row in left.items():
        other = right[key]
        same &= row["label"] == other["label"]
        for column in row:
            if column.startswith("prob_") and row[column]:
                gap = max(gap, abs(float(row[column]) - float(other[column])))
    return same, gap, len(left), labels


def run(data: Path, n: int, ocr_n: int, memory_n: int, ray_n: int, work: Path) -> dict:
    result: dict = {"machine": f"{cpu_name()}, {os.cpu_count()} cores"}
    manifest = write_manifest(data, work, n, "scoring.csv")
    out = work / "scoring.csv.results.csv"
    seconds, _ = cli("--manifest", str(manifest), "--out", str(out), "--workers", "2")
    result |= {"memes": n, "seconds": seconds, "memes_per_s": n / seconds}
    rescan, _ = cli("--manifest", str(manifest), "--out", str(out), "--workers", "2")
    result |= {"rescan_seconds": rescan, "rescan_share": rescan / seconds}

    if shutil.which("tesseract") and ocr_n:
        from memesent import Predictor
        from memesent.checkpoint import DEFAULT_MODEL_DIR
        from memesent.model_files import model_version

        predictor, model = Predictor.load(), model_version(DEFAULT_MODEL_DIR)
        ocr_manifest = write_manifest(data, work, ocr_n, "ocr.csv")
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(2):
            for workers in (1, 2):
                times[workers].append(ocr_seconds(ocr_manifest, workers, predictor, model))
        one, two = statistics.median(times[1]), statistics.median(times[2])
        result |= {"ocr_memes": ocr_n, "ocr_seconds": times, "ocr_speedup": one / two}

    if memory_n:
        big = write_manifest(data, work, memory_n, "memory.csv")
        seconds, peak = cli(
            "--manifest",
            str(big),
            "--out",
            str(work / "memory.parquet"),
            "--workers",
            "2",
            sample_memory=True,
        )
        result |= {"memory_memes": memory_n, "memory_seconds": seconds, "peak_memory_gb": peak}

    if ray_n:
        small = write_manifest(data, work, ray_n, "ray.csv")
        common = ["--manifest", str(small), "--workers", "2"]
        ray_s, _ = cli(*common, "--engine", "ray", "--out", str(work / "ray.csv.results.csv"))
        local_s, _ = cli(*common, "--out", str(work / "local.csv.results.csv"))
        same, gap, rows, labels = compare(
            work / "ray.csv.results.csv", work / "local.csv.results.csv"
        )
        result |= {"ray_memes": rows, "ray_labels_equal": same, "ray_max_prob_gap": gap}
        result |= {"ray_different_labels": labels}
        result |= {"ray_seconds": ray_s, "local_seconds": local_s}
    return result


def table(r: dict) -> str:
    rows = [
        (
            "captions given: memes/s, 2 workers, whole command",
            f"{r['memes_per_s']:.1f}",
            f"{r['memes']} memes in {r['seconds']:.1f} s",
            "≥ 35",
        ),
        (
            "rerun with nothing left: share of the first run's time",
            f"{r['rescan_share']:.1%}",
            f"{r['rescan_seconds']:.2f} s",
            "< 10 %",
        ),
    ]
    if "ocr_speedup" in r:
        t = {int(k): v for k, v in r["ocr_seconds"].items()}  # JSON's keys are strings
        rows.append(
            (
                "--ocr: 2 workers against 1 (scoring part)",
                f"{r['ocr_speedup']:.2f}×",
                f"{r['ocr_memes']} memes: {statistics.median(t[1]):.1f} s vs "
                f"{statistics.median(t[2]):.1f} s",
                "≥ 1.7×",
            )
        )
    if "peak_memory_gb" in r:
        rows.append(
            (
                "peak memory, all processes",
                f"{r['peak_memory_gb']:.2f} GB",
                f"{r['memory_memes']:,} memes in {r['memory_seconds']:.0f} s",
                "≤ 1.5 GB",
            )
        )
    if "ray_memes" in r:
        rows.append(
            (
                "--engine ray vs local: labels equal; largest gap",
                f"{'yes' if r['ray_labels_equal'] else 'NO'}; {r['ray_max_prob_gap']:.1e}",
                f"{r['ray_memes']} memes ({r['ray_different_labels']} different labels): "
                f"{r['ray_seconds']:.0f} s vs {r['local_seconds']:.0f} s",
                "≤ 1e-5",
            )
        )
    lines = ["| measure | value | run | goal |", "| --- | ---: | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + f"\n\nMachine: {r['machine']}."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.batch_scoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="a Memotion-layout folder")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--ocr-n", type=int, default=100, help="0: skip the OCR check")
    p.add_argument("--memory-n", type=int, default=10_000, help="0: skip the memory check")
    p.add_argument("--ray-n", type=int, default=200, help="0: skip the Ray check")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be at least 1")
    if not (a.data / "labels.csv").is_file():
        p.error(f"{a.data} has no labels.csv (a Memotion-layout folder)")
    with tempfile.TemporaryDirectory(prefix="memesent-batch-") as work:
        return measured(
            lambda: run(a.data, a.n, a.ocr_n, a.memory_n, a.ray_n, Path(work)), table, a.json
        )


if __name__ == "__main__":
    raise SystemExit(main())
