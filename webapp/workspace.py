"""The one folder the app writes its own files in (`Workspace`): result cards, collection runs
(unpacked zips, results files, thumbnails), deleted on the uploads' schedule.

Gradio deletes the uploads and the copies of outputs it serves (`delete_cache`); what the app
writes itself goes here, under the system temp folder (which Gradio may serve files from), and
is deleted once it is older than the same maximum age, or when the app exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path


class Workspace:
    """A folder of the app's own, `root`, whose entries older than `max_age` seconds are
    deleted by `sweep` (every `every` seconds once `start` is called) and all of it at exit."""

    def __init__(self, max_age: float, every: float, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="memesent-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age, self.every = max_age, every
        self._stop = threading.Event()

    def file(self, prefix: str, suffix: str) -> Path:
        """A new empty file's path (the caller writes it)."""
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.root)
        os.close(handle)
        return Path(name)

    def folder(self, prefix: str) -> Path:
        """A new empty folder."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))

    def sweep(self, now: float | None = None) -> int:
        """Delete the entries not modified for `max_age` seconds (a folder: nothing in it);
        returns how many went."""
        cutoff = (time.time() if now is None else now) - self.max_age
        gone = 0
        for entry in list(self.root.iterdir()):
            try:
                if _last_modified(entry) >= cutoff:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                gone += 1
            except FileNotFoundError:  # deleted meanwhile
                continue
        return gone

    def start(self) -> None:
        """Sweep every `every` seconds in a daemon thread; delete everything at exit."""
        atexit.register(self.close)
        threading.Thread(target=self._sweeping, daemon=True, name="workspace-sweep").start()

    def _sweeping(self) -> None:
        while not self._stop.wait(self.every):
            self.sweep()

    def close(self) -> None:
        self._stop.set()
        shutil.rmtree(self.root, ignore_errors=True)


def _last_modified(entry: Path) -> float:
    """When `entry` last changed: a file's modification time, a folder's newest of its own and
    everything in it (a run in progress keeps writing inside its folder)."""
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for inner in entry.rglob("*"):
            newest = max(newest, inner.lstat().st_mtime)
    return newest
