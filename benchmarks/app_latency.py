"""How fast the app is: cold start of `python app.py`, then `/predict` and `/explain` latency.

    python -m benchmarks.app_latency [--json FILE] [--calls N] [--model DIR]

Cold start runs from launching `python app.py` until its page answers HTTP 200. Latencies are
measured through `gradio_client` (upload included) on an example meme, after two warm-up calls,
and reported as medians. The app is launched by `webapp.server.AppServer`, as in the tests.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Mapping
from pathlib import Path

from webapp.server import ROOT, AppServer

from .timing import load_average, timed, write_result

EXAMPLE = ROOT / "assets" / "examples" / "rocket.jpg"
EXAMPLE_CAPTION = "FINALLY PASSED MY EXAM TO THE MOON"
TARGETS = {"cold start": 20.0, "/predict median": 0.3, "/explain median": 1.5}  # seconds
WARM_UP_CALLS = 2


def median_seconds(call: Callable[[], object], calls: int) -> float:
    """Median wall time of `calls` runs of `call`, after `WARM_UP_CALLS` untimed ones."""
    return statistics.median(timed(call, calls, WARM_UP_CALLS))


def run(calls: int = 20, model: Path | None = None) -> dict[str, float]:
    """Start the app cold, time it, then time the two model endpoints; seconds by measure."""
    from gradio_client import Client, handle_file

    with AppServer(*(["--model", str(model)] if model else [])) as server:
        results = {"cold start": server.start_seconds}
        client = Client(server.url, verbose=False)
        for endpoint in ("/predict", "/explain"):
            results[f"{endpoint} median"] = median_seconds(
                lambda e=endpoint: client.predict(
                    handle_file(str(EXAMPLE)), EXAMPLE_CAPTION, api_name=e
                ),
                calls,
            )
        client.close()
    return results


def table(results: Mapping[str, float], calls: int) -> str:
    """Markdown table of the measures against the targets."""
    rows = ["| measure | seconds | target | ok |", "| --- | ---: | ---: | --- |"]
    for name, seconds in results.items():
        target = TARGETS[name]
        rows.append(
            f"| {name} | {seconds:.3f} | ≤ {target:g} | {'yes' if seconds <= target else 'NO'} |"
        )
    note = f"medians over {calls} calls each through gradio_client, example meme {EXAMPLE.name}"
    return "\n".join([*rows, "", note])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per endpoint")
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped one)")
    args = parser.parse_args(argv)
    load = load_average()
    results = run(args.calls, args.model)
    print(table(results, args.calls))
    if args.json:
        write_result(args.json, {"calls": args.calls, "seconds": results}, load)


if __name__ == "__main__":
    main()
