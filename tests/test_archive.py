"""Zips of memes from strangers (`webapp.archive.unpack`): what is written, what is refused, and
that nothing refused is ever written."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from helpers import draw_meme, photo

from webapp.archive import ZipLimits, unpack
from webapp.inputs import InputError


def picture_bytes(tmp_path: Path, name: str = "meme.jpg") -> bytes:
    path = tmp_path / name
    draw_meme(photo(size=(200, 200)), "TOP TEXT").save(path)
    return path.read_bytes()


def make_zip(path: Path, entries: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, "/etc/passwd")
    return path


def written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_pictures_are_written_at_their_paths_and_the_rest_left_out(tmp_path: Path):
    meme = picture_bytes(tmp_path)
    archive = make_zip(
        tmp_path / "memes.zip",
        {
            "memes/a.jpg": meme,
            "memes/deeper/b.jpg": meme,
            "memes/notes.txt": b"not a picture",
            "__MACOSX/memes/._a.jpg": b"resource fork",
            "memes/.DS_Store": b"finder",
        },
    )
    out = unpack(archive, tmp_path / "out")
    assert [name for name, _ in out.pictures] == ["memes/a.jpg", "memes/deeper/b.jpg"]
    assert out.left_out == 3 and out.refused == []
    assert written(tmp_path / "out") == ["memes/a.jpg", "memes/deeper/b.jpg"]


def test_entries_that_would_leave_the_folder_links_and_zips_are_never_written(tmp_path: Path):
    meme = picture_bytes(tmp_path)
    archive = make_zip(
        tmp_path / "evil.zip",
        {"../../escaped.jpg": meme, "/abs.jpg": meme, "inner.zip": b"PK", "ok.jpg": meme},
        links=("link.jpg",),
    )
    out = unpack(archive, tmp_path / "out")
    assert [name for name, _ in out.pictures] == ["ok.jpg"]
    refused = " ".join(out.refused)
    for name in ("../../escaped.jpg", "/abs.jpg", "inner.zip", "link.jpg"):
        assert name in refused
    assert written(tmp_path / "out") == ["ok.jpg"]
    assert not (tmp_path / "escaped.jpg").exists() and not Path("/abs.jpg").exists()


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path: Path):
    archive = make_zip(tmp_path / "bomb.zip", {f"{i}.jpg": bytes(8 * 2**20) for i in range(3)})
    with pytest.raises(InputError, match="zip bomb"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_too_many_entries_or_bytes_are_refused_whole(tmp_path: Path):
    archive = make_zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(30)})
    with pytest.raises(InputError, match="at most 20"):
        unpack(archive, tmp_path / "out", ZipLimits(entries=20))
    with pytest.raises(InputError, match="unpacks to"):
        unpack(archive, tmp_path / "out", ZipLimits(total=10))
    assert not (tmp_path / "out").exists()


def test_an_entry_larger_than_a_picture_may_be_is_refused(tmp_path: Path):
    meme = picture_bytes(tmp_path)
    archive = make_zip(tmp_path / "big.zip", {"big.jpg": meme + bytes(3000), "ok.jpg": meme})
    out = unpack(archive, tmp_path / "out", ZipLimits(entry=len(meme) + 100, ratio=1e9))
    assert [name for name, _ in out.pictures] == ["ok.jpg"] and "big.jpg" in out.refused[0]


@pytest.mark.parametrize("content", [b"", b"not a zip at all"])
def test_a_file_named_zip_that_is_not_one_says_so(tmp_path: Path, content: bytes):
    (tmp_path / "fake.zip").write_bytes(content)
    with pytest.raises(InputError, match="could not be read as a zip"):
        unpack(tmp_path / "fake.zip", tmp_path / "out")
