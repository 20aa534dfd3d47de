"""`AppServer`: `python app.py` in a subprocess on a free local port, for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`python app.py` in a subprocess on a free local port. Its log, uploads, cached examples
    and the files it writes itself go to a temporary folder of its own (`folder`), deleted when
    it stops.

    `env` entries are added to (or, when None, removed from) this process's environment; `app`
    is another checkout's app.py (a benchmark comparing two versions), run from its folder.
    """

    def __init__(
        self, *args: str, env: Mapping[str, str | None] | None = None, app: Path = APP
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.app = app
        self.args = [sys.executable, str(app), "--port", str(self.port), *args]
        self.folder = Path(tempfile.mkdtemp(prefix="memesent-app-"))
        self.log = self.folder / "app.log"
        self.env = {
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "GRADIO_TEMP_DIR": str(self.folder / "uploads"),
            "TMPDIR": str(self.folder),  # the app's own files too (its Workspace)
            "GRADIO_EXAMPLES_CACHE": str(self.folder / "examples"),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.start_seconds = float("nan")

    def start(self, timeout: float = 120.0) -> float:
        """Launch the app and wait until its page answers; return the seconds that took."""
        env = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
        started = time.perf_counter()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.args, cwd=self.app.parent, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            while time.perf_counter() - started < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"app.py exited with {self.process.returncode}:\n{self.tail()}"
                    )
                if _answers(self.url):
                    self.start_seconds = time.perf_counter() - started
                    return self.start_seconds
                time.sleep(0.1)
            raise TimeoutError(f"app.py did not answer within {timeout:.0f} s:\n{self.tail()}")
        except BaseException:  # interrupted or failed: leave no app running, no files behind
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the app (kill it if it does not stop within 10 s); delete its files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def tail(self, chars: int = 3000) -> str:
        """The end of the app's output, for error messages."""
        return self.log.read_text(errors="replace")[-chars:]

    def __enter__(self) -> AppServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
