"""How the app holds up under load: `--users` concurrent API clients for `--seconds`.

    python -m benchmarks.soak [--mix page|predict] [--users 30] [--seconds 180] [--memes DIR]
                              [--json FILE]

It launches `python app.py` on loopback (`webapp.server.AppServer`), sends a warm-up burst
(every user does each action below once, at once) and reads the app's resident memory,
then lets every user loop until the time is up: pick an action of the mix and wait for its
answer. The `page` mix is what people on the page do: typing (40 %: the picture
uploaded once, as the page does, then five live updates, `/rescore`, as the caption grows word
by word, 0.2 s apart, each waiting for its answer), `/analyze` (what the page's Analyze button
does, 20 %), `/ocr` (12 %), `/predict` alone (10 %), `/explain` alone (6 %), or a bad file
(12 %: not a picture, cut off, or 1×1 pixels, sent to `/predict`) — wait for the answer, pause
1–3 s, and go again. The `predict` mix is programs calling `/predict` alone. Every request goes
over Gradio's HTTP API as a program makes it (the picture uploaded, then the call; raw HTTP, not
`gradio_client`, whose per-call work, 30 clients in one Python process, would be measured
instead of the app's: `cpu_busy.clients` says how much the clients took). Memes are
full-size pictures: the first 20 of `--memes` (default: the MultiOFF memes beside the
repository, else the example memes).

It reports latency per endpoint (p50, p95, max), answers by kind — served, refused as expected
(the bad files' messages), queue full (counted apart), failed (anything else) — the app's
resident memory (itself and its children) sampled every 2 s, with its peak and its slope over
the run's last third (MB a minute: near 0 once memory has found its level), how many cores the
app and the benchmark's own clients kept busy (they share the machine), the machine's load
average at the start and the end, the files left in the app's folders at the end and the
oldest's age (with `--delete-uploads-after`, the app's clean-up at work), and whether it still
serves a normal request afterwards. `--app-env NAME=VALUE` starts the app with a setting (a
malloc tuning, say) to compare runs. Bounded: at most 100 users and 30 minutes; it stops by
itself.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from webapp.server import ROOT, AppServer

from .timing import cpu_name, load_average, p95, tree_rss_mb

MAX_USERS, MAX_SECONDS = 100, 1_800
MULTIOFF = ROOT.parent / "shared" / "data" / "multioff-ocr" / "images"
EXPECTED = ("not a picture memesent can read", "damaged or incomplete", "only 1×1 pixels")
MIXES = {
    "page": (
        ("rescore", 0.40),
        ("analyze", 0.20),
        ("ocr", 0.12),
        ("predict", 0.10),
        ("explain", 0.06),
        ("bad file", 0.12),
    ),
    "predict": (("predict", 1.0),),
}
TYPING = ("so", "so tired", "so tired of", "so tired of mondays", "so tired of mondays again")
KEYSTROKE_PAUSE = 0.2  # seconds between the live updates of one burst of typing


def memes(folder: Path | None) -> list[Path]:
    """The first 20 pictures of `folder`, of the MultiOFF memes, or the example memes."""
    for candidate in (folder, MULTIOFF, ROOT / "assets" / "examples"):
        if candidate is not None and candidate.is_dir():
            found = sorted(p for p in candidate.iterdir() if p.suffix.lower() in (".jpg", ".png"))
            if found:
                return found[:20]
    raise FileNotFoundError("no memes to send")


def bad_files(folder: Path) -> list[Path]:
    """A text file named .png, a PNG cut in half, and a 1x1 picture."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.png").write_text("not a picture\n" * 20)
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), "teal").save(buffer, "PNG")
    (folder / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    Image.new("RGB", (1, 1), "red").save(folder / "tiny.png")
    return [folder / "notes.png", folder / "cut.png", folder / "tiny.png"]


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its finished children (tesseract), in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process: the clients' side of the load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Tally:
    """Latencies and outcomes, shared by the users' threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = {}
        self.outcomes: dict[str, int] = {}
        self.failures: list[str] = []

    def add(self, endpoint: str, seconds: float, outcome: str, detail: str = "") -> None:
        with self.lock:
            self.seconds.setdefault(endpoint, []).append(seconds)
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if outcome == "failed" and len(self.failures) < 20:
                self.failures.append(f"{endpoint}: {detail[:200]}")


def request(url: str, tally: Tally, endpoint: str, picture: Path, *args: str) -> None:
    """One request as a program makes it: the picture uploaded, then the endpoint called over
    Gradio's HTTP API (`benchmarks.live_update.call`); its latency, upload included, and how it
    ended go to `tally`."""
    from .live_update import call, upload

    start = time.perf_counter()
    try:
        with httpx.Client(base_url=url, timeout=300) as http:
            call(http, endpoint, [upload(http, picture), *args])
        outcome, detail = "served", ""
    except (RuntimeError, httpx.HTTPError, ValueError) as err:
        detail = str(err)
        if "queue is full" in detail.lower():
            outcome = "queue full"
        elif any(message in detail for message in EXPECTED):
            outcome = "refused as expected"
        else:
            outcome = "failed"
    tally.add(endpoint, time.perf_counter() - start, outcome, detail)


def typing(url: str, meme: Path, tally: Tally) -> None:
    """Typing a caption, as the page does it: the picture uploaded once, then the caption sent
    to `/rescore` as it grows, each update waiting for the last one's answer."""
    from .live_update import rescore, upload

    with httpx.Client(base_url=url, timeout=300) as http:
        payload = upload(http, meme)
        for typed in TYPING:
            start = time.perf_counter()
            try:
                rescore(http, payload, typed)
                outcome, detail = "served", ""
            except (RuntimeError, httpx.HTTPError) as err:
                detail = str(err)
                outcome = "queue full" if "queue is full" in detail.lower() else "failed"
            tally.add("/rescore", time.perf_counter() - start, outcome, detail)
            time.sleep(KEYSTROKE_PAUSE)


def user(
    url: str,
    seed: int,
    deadline: float,
    mix: str,
    pictures: list[Path],
    bad: list[Path],
    tally: Tally,
) -> None:
    """One client looping until `deadline`: an action of `mix`, the answer, a pause of 1-3 s."""
    rng = random.Random(seed)
    actions, weights = zip(*MIXES[mix], strict=True)
    while time.monotonic() < deadline:
        action = rng.choices(actions, weights)[0]
        meme, caption = rng.choice(pictures), f"caption {rng.randrange(5)}"
        if action == "rescore":
            typing(url, meme, tally)
        elif action == "ocr":
            request(url, tally, "/ocr", meme)
        elif action == "bad file":
            request(url, tally, "/predict", rng.choice(bad), caption)
        else:
            request(url, tally, f"/{action}", meme, caption)
        time.sleep(rng.uniform(1.0, 3.0))


def last_third_slope(samples: list[tuple[float, float]]) -> float:
    """MB a minute over the last third of (seconds, MB) samples: least squares."""
    tail = samples[len(samples) * 2 // 3 :]
    if len(tail) < 2:
        return float("nan")
    seconds, mb = zip(*tail, strict=True)
    return statistics.linear_regression(seconds, mb).slope * 60


ARENA = 64 << 20  # glibc's heap size for a thread's malloc arena (64-bit), and its alignment


def memory_map(pid: int) -> dict:
    """Where the app process's resident memory lies, in MB, from /proc/PID/smaps: glibc's main
    heap, its per-thread malloc arenas (anonymous mappings inside a 64 MiB-aligned block), other
    anonymous memory (blocks malloc maps on their own, torch's large tensors, thread stacks) and
    files (libraries, the model's weights); with the number of arenas and of threads."""
    rss = dict.fromkeys(("main heap", "thread arenas", "other anonymous", "files"), 0.0)
    arenas: set[int] = set()
    kind = "files"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            start, end = (int(x, 16) for x in head[0].split("-"))
            path = head[5] if len(head) > 5 else ""
            if path == "[heap]":
                kind = "main heap"
            elif path and not path.startswith("["):
                kind = "files"
            elif not path and start % ARENA == 0 and end - start <= ARENA:
                kind = "thread arenas"
                arenas.add(start)
            else:
                kind = "other anonymous"
        elif head[0] == "Rss:":
            rss[kind] += int(head[1]) / 1024
    threads = next(
        int(x.split()[1])
        for x in Path(f"/proc/{pid}/status").read_text().splitlines()
        if x.startswith("Threads:")
    )
    return {**{k: round(v) for k, v in rss.items()}, "arenas": len(arenas), "threads": threads}


def files_left(folder: Path) -> dict:
    """The files under the app's folder (uploads, the app's own) and the oldest ones' ages and
    places (the app's log aside)."""
    now = time.time()
    found = sorted(
        (now - p.stat().st_mtime, str(p.relative_to(folder)))
        for p in folder.rglob("*")
        if p.is_file() and p.name != "app.log"
    )
    return {
        "count": len(found),
        "oldest_s": round(found[-1][0], 1) if found else 0.0,
        "over_4_min": sum(1 for age, _ in found if age > 240),
        "oldest": [[round(age), where] for age, where in found[-10:]],
    }


def run(
    users: int,
    seconds: float,
    mix: str,
    folder: Path | None,
    work: Path,
    app_args: tuple[str, ...] = (),
    app_env: dict[str, str] | None = None,
) -> dict:
    from gradio_client import Client

    pictures, bad = memes(folder), bad_files(work / "bad")
    load_before = load_average()
    with AppServer(*app_args, env=app_env) as server:
        pid = server.process.pid
        warm = Tally()
        with ThreadPoolExecutor(users) as pool:
            for i in range(users):
                pool.submit(_warm_up, server.url, pictures[i % len(pictures)], bad, warm)
        warm_rss = tree_rss_mb(pid)
        tally, samples, stop = Tally(), [], threading.Event()

        def sample() -> None:
            start = time.monotonic()
            while not stop.wait(2.0):
                samples.append((round(time.monotonic() - start, 1), tree_rss_mb(pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started, app_cpu, clients_cpu = time.monotonic(), cpu_seconds(pid), own_cpu_seconds()
        deadline = started + seconds
        with ThreadPoolExecutor(users) as pool:
            for i in range(users):
                pool.submit(user, server.url, i, deadline, mix, pictures, bad, tally)
        elapsed = time.monotonic() - started
        app_cpu, clients_cpu = cpu_seconds(pid) - app_cpu, own_cpu_seconds() - clients_cpu
        stop.set()
        sampler.join()
        after_rss, where = tree_rss_mb(pid), memory_map(pid)
        check = Client(server.url, verbose=False)
        serves = _serves(check, pictures[0])
        check.close()
        alive = server.process.poll() is None
        left = files_left(server.folder)
    return {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "mix": mix,
        "users": users,
        "seconds": round(elapsed, 1),
        "memes": [p.name for p in pictures],
        "latency": {
            e: {
                "n": len(xs),
                "p50": statistics.median(xs),
                "p95": p95(xs),
                "max": max(xs),
            }
            for e, xs in sorted(tally.seconds.items())
        },
        "outcomes": tally.outcomes,
        "warm_up_outcomes": warm.outcomes,
        "warm_up_failures": warm.failures,
        "failures": tally.failures,
        "served_per_s": tally.outcomes.get("served", 0) / elapsed,
        "cores": os.cpu_count(),
        "cpu_busy": {"app": app_cpu / elapsed, "clients": clients_cpu / elapsed},
        "rss_mb": {
            "after_warm_up": warm_rss,
            "peak": max(r for _, r in samples or [(0, 0)]),
            "after": after_rss,
            "last_third_slope_mb_per_min": round(last_third_slope(samples), 2),
            "where_after": where,
        },
        "rss_samples": samples,
        "serves_afterwards": serves and alive,
        "app": {"args": list(app_args), "env": app_env or {}},
        "files_left": left,
        "load_average": {"start": load_before, "end": load_average()},
    }


def _warm_up(url: str, meme: Path, bad: list[Path], tally: Tally) -> None:
    request(url, tally, "/ocr", meme)
    typing(url, meme, tally)
    for endpoint in ("/analyze", "/predict", "/explain"):
        request(url, tally, endpoint, meme, "warming up")
    request(url, tally, "/predict", bad[0], "warming up")


def _serves(client, meme: Path) -> bool:
    from gradio_client import handle_file

    try:
        levels, *_ = client.predict(handle_file(str(meme)), "after the load", api_name="/predict")
    except Exception:  # noqa: BLE001 (any failure means it does not serve)
        return False
    return abs(sum(c["confidence"] for c in levels["confidences"]) - 1) < 1e-3


def table(r: dict) -> str:
    lines = [
        f"the {r['mix']} mix: {r['users']} users for {r['seconds']:.0f} s, each pausing 1-3 s "
        "between actions; "
        f"{r['served_per_s']:.1f} answers/s served; {r['machine']}",
        "",
        "| endpoint | requests | p50 s | p95 s | max s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for endpoint, s in r["latency"].items():
        lines.append(
            f"| {endpoint} | {s['n']} | {s['p50']:.2f} | {s['p95']:.2f} | {s['max']:.2f} |"
        )
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
    rss = r["rss_mb"]
    lines += [
        "",
        f"answers: {outcomes}",
        "warm-up burst: " + ", ".join(f"{k} {v}" for k, v in sorted(r["warm_up_outcomes"].items())),
        f"resident memory: {rss['after_warm_up']:.0f} MB after the warm-up burst, peak "
        f"{rss['peak']:.0f} MB, {rss['after']:.0f} MB after the run "
        f"({rss['after'] / rss['after_warm_up']:.2f}x); over the last third of the run "
        f"{rss.get('last_third_slope_mb_per_min', float('nan')):+.1f} MB a minute",
        *(
            [
                "where the app process's memory lies after the run (MB): "
                + ", ".join(f"{k} {v}" for k, v in rss["where_after"].items())
            ]
            if "where_after" in rss
            else []
        ),
        f"cores busy (of {r['cores']}): app {r['cpu_busy']['app']:.2f}, "
        f"the benchmark's own clients {r['cpu_busy']['clients']:.2f}",
        f"serves normally afterwards: {'yes' if r['serves_afterwards'] else 'NO'}",
        *(f"failed: {f}" for f in r["failures"]),
    ]
    if "files_left" in r:
        left = r["files_left"]
        lines.append(
            f"files left in the app's folders: {left['count']}, the oldest {left['oldest_s']:.0f} "
            f"s old, {left['over_4_min']} older than 4 minutes"
        )
    if r.get("app", {}).get("args") or r.get("app", {}).get("env"):
        setting = " ".join([*r["app"]["args"], *(f"{k}={v}" for k, v in r["app"]["env"].items())])
        lines.append(f"the app ran with: {setting}")
    if "load_average" in r:
        load = r["load_average"]
        lines.append(
            f"load average: {load['start']:.2f} at the start, {load['end']:.2f} at the end"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mix", choices=MIXES, default="page", help="what the users do")
    p.add_argument("--users", type=int, default=30)
    p.add_argument("--seconds", type=float, default=180.0)
    p.add_argument("--memes", type=Path, default=None, help="folder of full-size memes")
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--delete-uploads-after",
        type=int,
        metavar="SECONDS",
        help="the app's own option: uploads and its files this old are deleted",
    )
    p.add_argument(
        "--app-env", action="append", default=[], metavar="NAME=VALUE", help="the app's setting"
    )
    a = p.parse_args(argv)
    if not (1 <= a.users <= MAX_USERS and 1 <= a.seconds <= MAX_SECONDS):
        p.error(f"--users must be 1 to {MAX_USERS} and --seconds 1 to {MAX_SECONDS}")
    env = dict(item.split("=", 1) for item in a.app_env)
    app_args = () if a.delete_uploads_after is None else (
        "--delete-uploads-after", str(a.delete_uploads_after)
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="memesent-soak-") as work:
        result = run(a.users, a.seconds, a.mix, a.memes, Path(work), app_args, env)
    print(table(result))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
