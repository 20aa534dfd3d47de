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


def test_explain_bench_small_run(tmp_path, capsys):
    import pytest
    from test_train import make_memes

    from memesent.explain_bench import main

    data = make_memes(tmp_path / "memes", per_class=2)
    with pytest.raises(SystemExit):
        main(["--data", str(data), "--split", str(tmp_path / "no-split.json")])
    assert "does not exist" in capsys.readouterr().err
    out = tmp_path / "explain.json"
    assert main(["--data", str(data), "--n", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["summary"]["words"]["memes"] + result["summary"]["picture"]["memes"] > 0
    assert len(result["memes"]) == 4 and result["speed"]["explain_median_s"] > 0
    assert "delete the 3 top-scored words" in capsys.readouterr().out
