"""Reading a zip of memes safely (`unpack`): what a stranger uploads to a shared Space.

Only plain files inside the zip's own folder are written, each under `into` at its own path.
A whole zip is refused, before anything is written, when it has more entries or more bytes
than `ZipLimits` allow, or compresses far more than pictures do (a zip bomb). Single entries
are refused and never written when they would leave the folder (absolute paths, `..`), are
links, are zips themselves, or are larger than a picture may be; the message names them.
Entries that are not pictures (by their content, as `memesent predict` walks a folder) and
the folders' own metadata (`__MACOSX/`, dot files) are left out and counted.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from memesent.collection import is_picture

from .inputs import InputError

CHUNK = 1 << 16


@dataclass(frozen=True)
class ZipLimits:
    """How much one zip may hold: `entries`, uncompressed `total` bytes, bytes of one `entry`,
    and the largest compression `ratio` (JPEG and PNG barely compress; a bomb compresses a
    thousandfold)."""

    entries: int = 2_000
    total: int = 500 * 2**20
    entry: int = 10 * 2**20
    ratio: float = 100.0


@dataclass
class Unpacked:
    """A zip's pictures, (their path inside the zip, where they were written), in the zip's
    order; the entries refused, with why; how many other files were left out."""

    pictures: list[tuple[str, Path]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    left_out: int = 0


def _why_refused(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    name = PurePosixPath(info.filename.replace("\\", "/"))
    if name.is_absolute() or ".." in name.parts or ":" in name.parts[0]:
        return "it would leave the zip's folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a link"
    if info.filename.lower().endswith(".zip"):
        return "zips inside a zip are not opened"
    if info.file_size > limits.entry:
        return f"it is over {limits.entry // 2**20} MB"
    return None


def unpack(archive: Path, into: Path, limits: ZipLimits = ZipLimits()) -> Unpacked:
    """The pictures of the zip `archive`, written under `into` (see the module); an
    `InputError` that says why when the zip is refused whole."""
    name = archive.name
    try:
        with zipfile.ZipFile(archive) as zipped:
            infos = [i for i in zipped.infolist() if not i.is_dir()]
            if len(infos) > limits.entries:
                raise InputError(
                    f"{name} holds {len(infos):,} files; a zip may hold at most "
                    f"{limits.entries:,}. Split it, or score it with the command line."
                )
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos)
            if total > limits.total:
                raise InputError(
                    f"{name} unpacks to {total / 2**20:,.0f} MB; at most "
                    f"{limits.total / 2**20:,.0f} MB are unpacked here."
                )
            if total > limits.entry and total > limits.ratio * max(packed, 1):
                raise InputError(
                    f"{name} unpacks to {total / max(packed, 1):,.0f} times its size, which "
                    "pictures never do: it is refused as a zip bomb."
                )
            return _extract(zipped, infos, into, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise InputError(f"{name} could not be read as a zip ({err}).") from err


def _extract(
    zipped: zipfile.ZipFile, infos: list[zipfile.ZipInfo], into: Path, limits: ZipLimits
) -> Unpacked:
    out = Unpacked()
    for info in infos:
        inside = PurePosixPath(info.filename.replace("\\", "/"))
        why = _why_refused(info, limits)
        if why is not None:
            out.refused.append(f"{info.filename} ({why})")
            continue
        if inside.parts[0] == "__MACOSX" or any(p.startswith(".") for p in inside.parts):
            out.left_out += 1
            continue
        target = into.joinpath(*inside.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with zipped.open(info) as source, open(target, "wb") as sink:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > min(limits.entry, info.file_size):  # a header that lied
                    break
                sink.write(chunk)
        if written > min(limits.entry, info.file_size):
            target.unlink()
            out.refused.append(f"{info.filename} (it is larger than its header says)")
        elif is_picture(target):
            out.pictures.append((str(inside), target))
        else:
            target.unlink()
            out.left_out += 1
    return out
