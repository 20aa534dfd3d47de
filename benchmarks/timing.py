"""Timing helpers shared by the benchmarks: wall-clock samples, alternated comparisons, the
machine's name, and memory: this process's peak, a process tree's resident memory now."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of `repeats` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def p95(xs: list[float]) -> float:
    """The 95th percentile, interpolated between samples (never beyond the largest)."""
    return statistics.quantiles(xs, n=20, method="inclusive")[-1] if len(xs) >= 2 else xs[0]


def cpu_name() -> str:
    """The processor's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float:
    """The machine's load average over the last minute: how busy it was beside a run."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def write_result(path: Path, result: dict, load_at_start: float, indent: int = 2) -> None:
    """A benchmark's JSON, with the machine's load average at the run's start and at its end
    (`load_average`): how busy the machine was beside it."""
    stamped = {**result, "load_average": {"start": load_at_start, "end": load_average()}}
    path.write_text(json.dumps(stamped, indent=indent) + "\n", encoding="utf-8")


def measured(run: Callable[[], dict], table: Callable[[dict], str], out: Path | None) -> int:
    """A benchmark's last step: `run` it, print its `table`, and write its JSON to `out` (when
    given) with the load average at its start and end; the exit status, 0."""
    load = load_average()
    result = run()
    print(table(result))
    if out:
        write_result(out, result, load)
    return 0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def alternating(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 5) -> dict:
    """Seconds per call of each function, timed in turns (a, b, a, b, ...) so that both see the
    same machine: a busy neighbour or a clock change slows them alike."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    out: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            out[name].append(time.perf_counter() - start)
    return out


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants (workers, tesseract), in MB (Linux)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024
