"""How fast the answer follows the caption: the live update while a person types.

    python -m benchmarks.live_update [--calls 100] [--json FILE]

The page sends the caption to `/rescore` as it is typed (Gradio's `trigger_mode="always_last"`);
the picture was uploaded and encoded once, so each update only runs the text backbone and the
head. Measured two ways on an example meme with `--calls` different 20-word captions:
- service: `MemeService.predict` in this process with the picture's features cached, the
  compute the server does per keystroke;
- app: `python app.py` (`webapp.server.AppServer`) called over its REST API on loopback
  (`/gradio_api/call/rescore`, then the result's event stream) with the picture uploaded once,
  as the page does it: the server's whole answer time, queue included.
Goal: p95 ≤ 150 ms for the app.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import httpx

from webapp.server import ROOT, AppServer

from .timing import cpu_name, load_average, p95, write_result

EXAMPLE = ROOT / "assets" / "examples" / "rocket.jpg"
WORDS = (
    "when you finally get the sunny spot and my friend says the bus is late again today but "
    "nobody cares because pizza arrived early so everyone laughs loudly while i cry inside"
).split()
GOAL_P95 = 0.150  # seconds, the app's answer to one keystroke


def captions(n: int, words: int = 20, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) + f" {i}" for i in range(n)]


def service_seconds(calls: int) -> list[float]:
    """Seconds per `MemeService.predict` with the picture's features cached."""
    import torch

    from webapp.service import MemeService, limit_malloc_arenas

    limit_malloc_arenas()
    memes = MemeService.load()
    torch.set_num_threads(1)
    memes.predict(str(EXAMPLE), "warming up")
    out = []
    for caption in captions(calls):
        start = time.perf_counter()
        memes.predict(str(EXAMPLE), caption)
        out.append(time.perf_counter() - start)
    return out


def upload(http: httpx.Client, picture: Path) -> dict:
    """Upload `picture` once, as the page does; returns the file payload endpoints take."""
    with picture.open("rb") as data:
        path = http.post("gradio_api/upload", files={"files": data}).json()[0]
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def call(http: httpx.Client, endpoint: str, data: list) -> None:
    """One call of a named endpoint over Gradio's HTTP API, as any program can make it, until
    its answer is complete; `RuntimeError` with the app's message when it answers an error."""
    name = endpoint.strip("/")
    event = http.post(f"gradio_api/call/{name}", json={"data": data}).json()
    with http.stream("GET", f"gradio_api/call/{name}/{event['event_id']}") as stream:
        lines = stream.iter_lines()
        for line in lines:
            if line.startswith("event: error"):
                raise RuntimeError(f"/{name} failed: {_message(next(lines, ''))}")
            if line.startswith("event: complete"):
                return
    raise RuntimeError(f"/{name} ended without an answer")


def _message(line: str) -> str:
    """The app's message in an error event's `data:` line (JSON with `error`), else the line."""
    try:
        found = json.loads(line.removeprefix("data:"))
    except ValueError:
        return line
    return str(found.get("error", line)) if isinstance(found, dict) else line


def rescore(http: httpx.Client, meme: dict, caption: str) -> None:
    """One live update: `/rescore` on an uploaded picture, until its answer is complete."""
    call(http, "rescore", [meme, caption])


def app_seconds(calls: int) -> list[float]:
    """Seconds per `/rescore` answer of the running app, the picture uploaded once."""
    with AppServer() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        meme = upload(http, EXAMPLE)
        for caption in captions(5, seed=1):  # warm-up: the first calls pay one-time set-up
            rescore(http, meme, caption)
        out = []
        for caption in captions(calls):
            start = time.perf_counter()
            rescore(http, meme, caption)
            out.append(time.perf_counter() - start)
    return out


def summary(seconds: list[float]) -> dict:
    return {
        "calls": len(seconds),
        "p50_ms": 1000 * statistics.median(seconds),
        "p95_ms": 1000 * p95(seconds),
        "max_ms": 1000 * max(seconds),
    }


def table(results: dict) -> str:
    """The service and app latencies as a markdown table, with the goal's verdict."""
    lines = [
        "| measured | calls | p50 ms | p95 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("service", "app"):
        r = results[name]
        lines.append(
            f"| {name} | {r['calls']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} |"
        )
    met = results["app"]["p95_ms"] <= 1000 * GOAL_P95
    lines += [
        "",
        f"Goal: app p95 ≤ {1000 * GOAL_P95:.0f} ms: {'met' if met else 'NOT met'} "
        f"({results['machine']}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_update", description=__doc__)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    a = parser.parse_args(argv)
    load = load_average()
    if a.calls < 2:
        parser.error("--calls must be at least 2")
    results = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "service": summary(service_seconds(a.calls)),
        "app": summary(app_seconds(a.calls)),
    }
    print(table(results))
    if a.json:
        write_result(a.json, results, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
