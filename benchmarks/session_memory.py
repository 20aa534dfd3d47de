"""What one page session costs the server in memory: Gradio's copy of the page for it.

    python -m benchmarks.session_memory [--sessions 200] [--json FILE]

Gradio keeps, for every session (a page open in a browser, a `gradio_client`, or a single call
of the raw HTTP API, which opens one of its own), a `SessionState` holding its copy of the
page's settings, until it has `state_session_capacity` newer ones (Gradio's default 10,000;
the app's `--max-sessions`). This builds the app's page on the shipped model in this process,
makes `--sessions` of them and measures the Python memory they hold with `tracemalloc`, so the
cost of a capacity can be read off: bytes a session times the sessions kept. What glibc's
allocator adds on top is not counted (the soak's resident memory shows the whole).
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import tracemalloc
from pathlib import Path
from unittest.mock import patch

from .timing import cpu_name, measured

GRADIO_DEFAULT = 10_000  # Gradio's state_session_capacity unless told otherwise


def run(sessions: int) -> dict:
    from gradio.state_holder import SessionState

    import app
    from memesent.model_files import DEFAULT_MODEL_DIR
    from webapp.service import MemeService

    with (
        tempfile.TemporaryDirectory(prefix="memesent-sessions-") as cache,
        patch.dict(os.environ, {"GRADIO_EXAMPLES_CACHE": cache}),  # as the app: not in this folder
    ):
        demo = app.build_demo(MemeService.load(DEFAULT_MODEL_DIR, None), DEFAULT_MODEL_DIR)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        held = [SessionState(demo) for _ in range(sessions)]  # alive until the second snapshot
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    assert len(held) == sessions
    per_session = sum(s.size_diff for s in after.compare_to(before, "filename")) / sessions
    return {
        "sessions": sessions,
        "blocks": len(demo.blocks),
        "kb_per_session": round(per_session / 1024, 1),
        "mb_at": {
            str(n): round(per_session * n / 2**20) for n in sorted({app.SESSIONS, GRADIO_DEFAULT})
        },
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
    }


def table(r: dict) -> str:
    """Per session, and at the app's capacity and Gradio's default, as the docs show it."""
    lines = [
        "| sessions kept | the sessions' copies of the page |",
        "| ---: | ---: |",
        *(f"| {int(n):,} | {mb:,} MB |" for n, mb in r["mb_at"].items()),
        "",
        f"{r['kb_per_session']:.0f} KB a session (Python objects, by tracemalloc, over "
        f"{r['sessions']} sessions of the page's {r['blocks']} blocks); {r['machine']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.session_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.sessions < 1:
        p.error("--sessions must be at least 1")
    return measured(lambda: run(a.sessions), table, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
