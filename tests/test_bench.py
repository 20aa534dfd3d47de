"""The benchmarks: their timing helpers measure what they time, and each benchmark runs end to
end with numbers that agree with each other."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.timing import alternating, timed

ROOT = Path(__file__).resolve().parents[1]


def test_timing_helpers_measure_what_they_time():
    samples = timed(lambda: time.sleep(0.02), repeats=3, warmup=1)
    assert len(samples) == 3 and all(0.019 <= s < 0.5 for s in samples)
    turns = alternating(
        {"short": lambda: time.sleep(0.01), "long": lambda: time.sleep(0.03)}, repeats=5, warmup=0
    )
    ratio = statistics.median(turns["long"]) / statistics.median(turns["short"])
    assert 2.0 < ratio < 4.0


def test_speed_benchmark_small_run(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--n", "8", "--batch-size", "4", "--repeats", "3", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["speedup_single"] == pytest.approx(
        r["writeup_predict_ms_median"] / r["predict_ms_median"]
    )
    assert r["speedup_batch"] == pytest.approx(r["throughput_default"] / r["throughput_writeup"])
    assert r["peak_rss_mb"] > 300  # both backbones were loaded in this process
    assert f"{r['throughput_default']:.1f} memes/s" in proc.stdout
    assert f"{r['speedup_single']:.1f}x" in proc.stdout


def test_explain_benchmark_small_run(tmp_path, capsys):
    from test_train import make_memes

    from benchmarks.explain_faithfulness import MIN_WORDS, main, read_memes

    data = make_memes(tmp_path / "memes", per_class=2)
    with pytest.raises(SystemExit):
        main(["--data", str(data), "--split", str(tmp_path / "no-split.json")])
    assert "does not exist" in capsys.readouterr().err
    out = tmp_path / "explain.json"
    assert main(["--data", str(data), "--n", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    drawn = read_memes(data, 4)
    assert [m["image"] for m in result["memes"]] == [name for name, _ in drawn]
    long_enough = sum(len(caption.split()) >= MIN_WORDS for _, caption in drawn)
    assert result["summary"]["words"]["memes"] == long_enough  # short captions are skipped
    assert "delete the 3 top-scored words" in capsys.readouterr().out
