"""The Pythons memesent claims agree: `requires-python`, the Space's front matter, README's set-up
section and docs/development.md name the same range, and the Space runs one inside it
(`python -m tools.check_pythons` tries each one in a fresh environment)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from tools import check_pythons

ROOT = Path(__file__).resolve().parents[1]
RANGE = re.compile(r"Python (3\.\d+)–(3\.\d+)")


def front_matter(readme: str) -> dict[str, str]:
    """The `key: value` lines between README's opening `---` lines (the Space's settings)."""
    match = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert match, "README.md starts with the Space's front matter between --- lines"
    pairs = (line.split(":", 1) for line in match.group(1).splitlines() if ":" in line)
    return {key.strip(): value.strip().strip("\"'") for key, value in pairs}


def stated_range(text: str, where: str) -> list[str]:
    """The minor versions of the first "Python 3.X–3.Y" in `text`."""
    match = RANGE.search(text)
    assert match, f"{where} names the supported Pythons as 'Python 3.X–3.Y'"
    low, high = (int(v.split(".")[1]) for v in match.groups())
    return [f"3.{m}" for m in range(low, high + 1)]


def claims(root: Path) -> dict[str, list[str]]:
    """What each place says: the versions `requires-python` admits, README's and
    docs/development.md's stated ranges, and the Space's Python."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    body = readme.split("\n---\n", 1)[1]
    space = front_matter(readme).get("python_version")
    assert space, "README's front matter names the Space's python_version"
    return {
        "requires-python": check_pythons.supported_pythons(root),
        "README": stated_range(body, "README.md"),
        "docs/development.md": stated_range(
            (root / "docs" / "development.md").read_text(encoding="utf-8"), "docs/development.md"
        ),
        "the Space": [space],
    }


def check_claims(root: Path) -> None:
    said = claims(root)
    supported = said["requires-python"]
    for where in ("README", "docs/development.md"):
        assert said[where] == supported, f"{where} says {said[where]}, pyproject {supported}"
    assert said["the Space"][0] in supported, (
        f"the Space runs Python {said['the Space'][0]}, outside {supported}"
    )


def test_the_python_claims_agree():
    check_claims(ROOT)
    assert check_pythons.supported_pythons(ROOT)[0] == "3.11"


def test_the_checked_tools_target_the_lowest_supported_python():
    """ruff and mypy check the code as the lowest supported Python reads it."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        tools = tomllib.load(handle)["tool"]
    lowest = check_pythons.supported_pythons(ROOT)[0]
    assert tools["ruff"]["target-version"] == "py" + lowest.replace(".", "")
    assert tools["mypy"]["python_version"] == lowest


def copy_claims(root: Path, tmp: Path) -> Path:
    (tmp / "docs").mkdir()
    for name in ("README.md", "pyproject.toml", "docs/development.md"):
        (tmp / name).write_text((root / name).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp


@pytest.mark.parametrize(
    ("name", "old", "new", "says"),
    [
        ("README.md", 'python_version: "3.11"', 'python_version: "3.10"', "outside"),
        ("README.md", "Python 3.11–3.13", "Python 3.11–3.14", "README says"),
        ("pyproject.toml", '">=3.11,<3.14"', '">=3.10,<3.14"', "README says"),
        ("pyproject.toml", '">=3.11,<3.14"', '">=3.11"', "no upper bound"),
        ("docs/development.md", "Python 3.11–3.13", "Python 3.10–3.13", "docs/development"),
    ],
)
def test_a_claim_that_drifts_is_caught(tmp_path, name, old, new, says):
    root = copy_claims(ROOT, tmp_path)
    text = (root / name).read_text(encoding="utf-8")
    assert old in text
    (root / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises((AssertionError, ValueError), match=says):
        check_claims(root)


def test_interpreters_are_found_by_version():
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = check_pythons.find_python(here)
    assert found is not None and found.exists()
    assert check_pythons.find_python("3.99") is None
