"""Every command block in README.md and docs/*.md runs as printed.

A ```bash block runs here as it is, each command in turn, in a fresh folder where `assets/`
is the repository's (so the example memes are there) and the files one command writes are there
for the next; `memesent` commands run in this process (conftest's `memesent_cli`), and each must
exit 0. A block that cannot run here says so on the line before it:

- `<!-- commands: long -->`: training and benchmarks on the real data sets, minutes to hours;
  they run with `MEMESENT_DOCS_LONG=1 pytest tests/test_doc_commands.py` (docs/development.md)
  from a checkout with `../shared/data` beside it, and skip otherwise;
- `<!-- commands: shown (why) -->`: setting up, serving the app, a cluster, or a synopsis with
  placeholders: never run.

A block with no marker whose commands are not memesent's fails here: mark it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.doc_tables import documents

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"(?:<!-- commands: (?P<mark>long|shown[^>]*) -->\n)?```(?:bash|sh)\n(?P<body>.*?)```", re.S
)
LONG = os.environ.get("MEMESENT_DOCS_LONG") == "1"


@dataclass(frozen=True)
class Block:
    where: str
    mark: str
    commands: tuple[tuple[str, ...], ...]


def commands(body: str) -> tuple[tuple[str, ...], ...]:
    """The block's commands, each as its words (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            found.append(tuple(words))
    return tuple(found)


def blocks() -> list[Block]:
    out = []
    for doc in documents(ROOT):
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text[: match.start("body")].count("\n")
            out.append(
                Block(
                    f"{doc.relative_to(ROOT)}:{line}",
                    (match["mark"] or "run").split(" ")[0],
                    commands(match["body"]),
                )
            )
    return out


BLOCKS = blocks()


def memesent_words(words: tuple[str, ...]) -> list[str] | None:
    """The arguments of a `memesent` or `python -m memesent` command, else None."""
    if words[0] == "memesent":
        return list(words[1:])
    if words[:3] == ("python", "-m", "memesent"):
        return list(words[3:])
    return None


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder with the repository's `assets/`, as the working directory."""
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_block_is_run_or_marked():
    unmarked = [
        f"{b.where}: {' '.join(words)}"
        for b in BLOCKS
        if b.mark == "run"
        for words in b.commands
        if memesent_words(words) is None
    ]
    assert not unmarked, "mark these blocks <!-- commands: long --> or shown (why):\n" + "\n".join(
        unmarked
    )
    assert sum(b.mark == "run" for b in BLOCKS) >= 4


@pytest.mark.slow  # the model on the example memes, a command at a time
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark == "run"], ids=lambda b: b.where)
def test_the_block_runs_as_printed(block: Block, folder: Path, memesent_cli):
    for words in block.commands:
        args = memesent_words(words)
        assert args is not None
        done = memesent_cli(*args)
        assert done.returncode == 0, f"{' '.join(words)}\n{done.stderr[-2000:]}"


@pytest.mark.slow
@pytest.mark.skipif(
    not LONG, reason="long blocks run with MEMESENT_DOCS_LONG=1 (docs/development.md)"
)
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark == "long"], ids=lambda b: b.where)
def test_the_long_block_runs_as_printed(block: Block, tmp_path: Path):
    if not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("the real data sets are not beside the repository (../shared/data)")
    for words in block.commands:
        command = [sys.executable, *words[1:]] if words[0] == "python" else list(words)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(words)}\n{done.stderr[-2000:]}"
