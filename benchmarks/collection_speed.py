"""The Collection tab's speed: memes a second through `/collection` against `memesent predict` on
the same memes in the same run, and a single meme's `/predict` while a collection runs beside it.

    python -m benchmarks.collection_speed --memes ../shared/data/metmeme/images [--count 200] \\
        [--json docs/results/collection_speed.json]

Both read every caption with OCR. The command line is timed on all the memes and on one, in
processes of their own, and its rate is the difference (what it costs to start and load the
model is left out: the app has paid it). The app is timed from the request to the results file,
uploads included, with the memes sent as files (one upload each, as `gradio_client` sends them)
and as one zip of them.
The two take turns, `ROUNDS` times, so that both see the same machine; the table gives the
median rate and the range. Then a single-meme client asks `/predict` (a new caption each time,
so only the text backbone runs) every half second, first alone and then while the same
collection runs; the 95th percentiles of its answers' times are the last rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from webapp.server import ROOT, AppServer

from .timing import cpu_name, load_average, p95

EXAMPLE = ROOT / "assets" / "examples" / "rocket.jpg"
PAUSE = 0.5  # seconds between two single-meme requests
ROUNDS = 3  # turns of the command line and the app


def cli_seconds(memes: list[Path], out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "memesent", "predict", *map(str, memes), "--ocr", "--quiet",
         "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def single_memes(client, stop: threading.Event, count: int | None = None) -> list[float]:
    """Seconds of each `/predict` answer, asked every `PAUSE` seconds until `stop` is set (or
    `count` were asked)."""
    from gradio_client import handle_file

    seconds: list[float] = []
    while not stop.is_set() and (count is None or len(seconds) < count):
        started = time.perf_counter()
        client.predict(handle_file(str(EXAMPLE)), f"caption {len(seconds)}", api_name="/predict")
        seconds.append(time.perf_counter() - started)
        time.sleep(PAUSE)
    return seconds


def run(memes: list[Path]) -> dict:
    from gradio_client import Client, handle_file

    load_before = load_average()
    cli_rates, tab_rates, zip_rates = [], [], []
    with AppServer() as server, tempfile.TemporaryDirectory() as folder:
        client, single = Client(server.url, verbose=False), Client(server.url, verbose=False)
        files = [handle_file(str(m)) for m in memes]
        archive = Path(folder) / "memes.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for meme in memes:
                zipped.write(meme, meme.name)
        for round_ in range(ROUNDS):
            whole = cli_seconds(memes, Path(folder) / f"all-{round_}.csv")
            one = cli_seconds(memes[:1], Path(folder) / f"one-{round_}.csv")
            cli_rates.append((len(memes) - 1) / (whole - one))
            for sent, rates in ((files, tab_rates), ([handle_file(str(archive))], zip_rates)):
                started = time.perf_counter()
                client.predict(sent, None, True, "csv", api_name="/collection")
                rates.append(len(memes) / (time.perf_counter() - started))
        single_memes(single, threading.Event(), 3)  # warm up
        alone = single_memes(single, threading.Event(), 20)
        stop, beside = threading.Event(), []
        asker = threading.Thread(target=lambda: beside.extend(single_memes(single, stop)))
        asker.start()
        client.predict(files, None, True, "csv", api_name="/collection")
        stop.set()
        asker.join()
    return {
        "memes": len(memes),
        "rounds": ROUNDS,
        "cli_memes_per_second": [round(r, 2) for r in cli_rates],
        "tab_memes_per_second": [round(r, 2) for r in tab_rates],
        "tab_zip_memes_per_second": [round(r, 2) for r in zip_rates],
        "tab_to_cli": round(statistics.median(tab_rates) / statistics.median(cli_rates), 2),
        "tab_zip_to_cli": round(statistics.median(zip_rates) / statistics.median(cli_rates), 2),
        "predict_p95_alone": round(p95(alone), 3),
        "predict_p95_beside_a_collection": round(p95(beside), 3),
        "predict_answers_beside": len(beside),
        "machine": cpu_name(),
        "load_average": {"start": load_before, "end": load_average()},
    }


def table(result: dict) -> str:
    load = result["load_average"]

    def rates(key: str) -> str:
        found = result[key]
        return f"{statistics.median(found):.2f} ({min(found):.2f}–{max(found):.2f})"

    rows = [
        ("`memesent predict --ocr`, memes a second (start-up left out)",
         rates("cli_memes_per_second")),
        ("the Collection tab (`/collection`), memes a second, sent as files",
         f"{rates('tab_memes_per_second')}: {result['tab_to_cli']:.2f}× the command line"),
        ("the same, sent as one zip",
         f"{rates('tab_zip_memes_per_second')}: {result['tab_zip_to_cli']:.2f}× the command line"),
        ("a single meme's `/predict`, 95th percentile, alone",
         f"{result['predict_p95_alone']:.2f} s"),
        (f"the same while the collection runs ({result['predict_answers_beside']} answers)",
         f"{result['predict_p95_beside_a_collection']:.2f} s"),
    ]  # fmt: skip
    return "\n".join(
        [
            "| measured | value |",
            "| --- | ---: |",
            *(f"| {what} | {value} |" for what, value in rows),
            "",
            f"{result['memes']} memes, captions read by OCR; medians of {result['rounds']} rounds "
            f"taken in turns, ranges in brackets. Machine: {result['machine']}; load "
            f"average {load['start']:.2f} at the start, {load['end']:.2f} at the end.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    raw, prog = argparse.RawDescriptionHelpFormatter, "python -m benchmarks.collection_speed"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=raw)
    parser.add_argument("--memes", type=Path, required=True, help="a folder of memes")
    parser.add_argument("--count", type=int, default=200, help="memes from it (200)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    a = parser.parse_args(argv)
    memes = sorted(p for p in a.memes.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(memes) < 2:
        parser.error(f"{a.memes} holds fewer than two pictures")
    result = run(memes[: a.count])
    print(table(result))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
