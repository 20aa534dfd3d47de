"""Files written whole or not at all: `replacing(path)` gives a temporary path beside `path`
that replaces it (one rename, atomic on one file system) once the block succeeds, and is
removed when it fails; `keep_bytes` writes bytes that way, flushed to disk first. A reader, or
a run stopped midway, never sees half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new temporary file beside `path` (a dot file, same suffix) to write; it becomes
    `path` when the block ends, or is deleted when the block raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def keep_bytes(path: Path, data: bytes) -> None:
    """`data` as the file `path`, written whole, flushed to disk, then renamed into place."""
    with replacing(path) as temporary:
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
