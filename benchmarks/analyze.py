"""What "Analyze" costs through the API, against an earlier version of the app, side by side.

    git worktree add ../memesent-before 8cec1b8     # any earlier checkout
    python -m benchmarks.analyze --before ../memesent-before [--memes DIR] [--rounds 3]

"Analyze" is what the page's button does: before this change, the `/predict` event followed by
the `/explain` event on the same meme (two calls); now one `/analyze` event (an app that offers
`/analyze` is called that way, so two later versions compare alike too). Both apps run at
once on loopback (`webapp.server.AppServer`), each with its own model and code; one
`gradio_client` per app sends them the same full-size memes (the first 20 of `--memes`; default
the MultiOFF memes beside the repository, else the example memes) with the same caption, in
alternating turns, so the machine's drift hits both alike. Reported: the median seconds of an
Analyze, upload included, for each app, and their ratio.

This app decodes an upload once, at most 512 pixels a side (large JPEGs at a reduced scale),
runs the backbones once for both answers, draws the explanation at that size, and takes one
place in the queue; the version before this change (8cec1b8) decoded each upload twice at up to
1,024 pixels, ran the whole model for each event, and queued twice.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from webapp.server import AppServer

from .soak import memes
from .timing import cpu_name, measured

CAPTION = "when the meme finally loads and it was worth the wait"


def analyze(client, meme: Path, endpoints: tuple[str, ...]) -> float:
    """Seconds of calling `endpoints` in turn on `meme`."""
    from gradio_client import handle_file

    start = time.perf_counter()
    for endpoint in endpoints:
        client.predict(handle_file(str(meme)), CAPTION, api_name=endpoint)
    return time.perf_counter() - start


def analyze_endpoints(client) -> tuple[str, ...]:
    """`/analyze` where the app offers it, else what the page did before it: `/predict`, then
    `/explain`."""
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    return ("/analyze",) if "/analyze" in named else ("/predict", "/explain")


def run(before: Path, folder: Path | None, rounds: int) -> dict:
    from gradio_client import Client

    pictures = memes(folder)
    seconds: dict[str, list[float]] = {"before": [], "now": []}
    with AppServer(app=before / "app.py") as old, AppServer() as new:
        clients = {"before": Client(old.url, verbose=False), "now": Client(new.url, verbose=False)}
        endpoints = {name: analyze_endpoints(client) for name, client in clients.items()}
        for name, client in clients.items():  # warm up both
            analyze(client, pictures[0], endpoints[name])
        for _ in range(rounds):
            for meme in pictures:
                for name, client in clients.items():
                    seconds[name].append(analyze(client, meme, endpoints[name]))
        for client in clients.values():
            client.close()
    b, n = statistics.median(seconds["before"]), statistics.median(seconds["now"])
    return {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "before": str(before),
        "endpoints": endpoints,
        "memes": len(pictures),
        "rounds": rounds,
        "before_median_s": b,
        "now_median_s": n,
        "ratio": n / b,
        "seconds": seconds,
    }


def table(r: dict) -> str:
    """The two medians and their ratio, as the docs show them."""
    return "\n".join(
        [
            "| app | Analyze, median s |",
            "| --- | ---: |",
            f"| before ({Path(r['before']).name}: {' then '.join(r['endpoints']['before'])}) "
            f"| {r['before_median_s']:.3f} |",
            f"| now ({' then '.join(r['endpoints']['now'])}) | {r['now_median_s']:.3f} |",
            "",
            f"now / before: {r['ratio']:.2f}; {r['memes']} memes x {r['rounds']} rounds, "
            f"alternated; {r['machine']}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.analyze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--before", type=Path, required=True, help="an earlier checkout's folder")
    p.add_argument("--memes", type=Path, default=None, help="folder of full-size memes")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    if not (a.before / "app.py").is_file():
        p.error(f"{a.before} has no app.py: give the folder of an earlier checkout")
    return measured(lambda: run(a.before.resolve(), a.memes, a.rounds), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
