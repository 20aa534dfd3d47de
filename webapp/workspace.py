"""The one folder the app writes its own files in (`Workspace`): result cards, collection runs
(unpacked zips, results files, thumbnails), deleted on the uploads' schedule.

Gradio deletes the uploads and the copies of outputs it serves (`delete_cache`); what the app
writes itself goes here, under the system temp folder (which Gradio may serve files from), and
is deleted once it is older than the same maximum age, or when the app exits. The workspace also
sweeps Gradio's own folder (`watch`): Gradio 6's scheduled deletion walks its sets of files while
uploads add to them, and the first "Set changed size during iteration" ends it for the rest of
the app's life (docs/performance.md, "Files left behind"), so the files there are deleted by
their age on disk instead, whoever wrote them.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

log = logging.getLogger("memesent.app")


class Workspace:
    """A folder of the app's own, `root`, whose entries older than `max_age` seconds are
    deleted by `sweep` (every `every` seconds once `start` is called) and all of it at exit."""

    def __init__(self, max_age: float, every: float, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="memesent-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age, self.every = max_age, every
        self._stop = threading.Event()
        self._watched: list[tuple[Path, Callable[[], Collection[str]]]] = []

    def watch(self, folder: Path, keep: Callable[[], Collection[str]] = frozenset) -> None:
        """Sweep the files under `folder` (another's, such as Gradio's uploads) too, but those
        whose paths `keep()` names; its folders stay (one may be about to receive a file). The
        system temp folder itself, or one holding the workspace, is refused (logged): it holds
        files of others."""
        folder = folder.resolve()
        if folder == Path(tempfile.gettempdir()).resolve() or folder in self.root.parents:
            log.warning("not sweeping %s: it is a shared folder, not Gradio's own", folder)
            return
        self._watched.append((folder, keep))

    def file(self, prefix: str, suffix: str) -> Path:
        """A new empty file's path (the caller writes it)."""
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.root)
        os.close(handle)
        return Path(name)

    def folder(self, prefix: str) -> Path:
        """A new empty folder."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))

    def sweep(self, now: float | None = None) -> int:
        """Delete the entries not modified for `max_age` seconds (a folder: nothing in it), and
        the watched folders' files as old; returns how many went."""
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
            except OSError as err:  # one entry that cannot go stops no sweep
                log.warning("could not delete %s: %s", entry, err)
        for folder, keep in self._watched:
            gone += _sweep_files(folder, cutoff, {os.path.realpath(p) for p in keep()})
        return gone

    def start(self) -> None:
        """Sweep every `every` seconds in a daemon thread; delete everything at exit."""
        atexit.register(self.close)
        threading.Thread(target=self._sweeping, daemon=True, name="workspace-sweep").start()

    def _sweeping(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sweep()
            except Exception:  # a sweep that fails must not end the sweeping (Gradio's did)
                log.exception("the sweep of %s failed; the next one runs on schedule", self.root)

    def close(self) -> None:
        self._stop.set()
        shutil.rmtree(self.root, ignore_errors=True)


def gradio_keeps(blocks: Any) -> set[str]:
    """The files a Gradio app keeps for its life (the examples' copies: its own deletion skips
    them), from its components' `keep_in_cache`; copies of the sets, which requests may grow."""
    return {
        path
        for block in list(blocks.blocks.values())
        for path in list(getattr(block, "keep_in_cache", ()))
    }


def _sweep_files(folder: Path, cutoff: float, keep: set[str]) -> int:
    """Delete the files under `folder` last changed before `cutoff`, but those in `keep`."""
    gone = 0
    for path in folder.rglob("*"):
        try:
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode) or max(info.st_mtime, info.st_ctime) >= cutoff:
                continue
            if os.path.realpath(path) in keep:
                continue
            path.unlink()
            gone += 1
        except FileNotFoundError:  # deleted meanwhile
            continue
        except OSError as err:
            log.warning("could not delete %s: %s", path, err)
    return gone


def _last_modified(entry: Path) -> float:
    """When `entry` last changed: a file's modification time, a folder's newest of its own and
    everything in it (a run in progress keeps writing inside its folder)."""
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for inner in entry.rglob("*"):
            newest = max(newest, inner.lstat().st_mtime)
    return newest
