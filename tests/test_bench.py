"""`python -m memesent.bench` runs end to end and reports every number it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = (
    "speedup_single",
    "speedup_batch",
    "throughput_default",
    "predict_ms_median",
    "explain_ms_median",
    "ocr_ms_median",
    "peak_rss_mb",
)


def test_bench_small_run(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "memesent.bench",
            "--n",
            "8",
            "--batch-size",
            "4",
            "--repeats",
            "3",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    for key in KEYS:
        assert key in result, key
    for key in (
        "speedup_single",
        "speedup_batch",
        "throughput_default",
        "predict_ms_median",
        "explain_ms_median",
        "peak_rss_mb",
        "throughput_writeup",
    ):
        assert result[key] > 0, key
    assert "write-up time / default time" in proc.stdout
    assert f"{result['throughput_default']:.1f} memes/s" in proc.stdout
