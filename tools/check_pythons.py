"""Every Python memesent claims, tried as a new user would: a fresh virtual environment each.

    python -m tools.check_pythons [--python 3.12 ...] [--quick-tier] [--keep DIR] [--json FILE]

For each Python in `pyproject.toml`'s `requires-python` (or those named), it makes a fresh
virtual environment, installs `requirements.txt` (what a Hugging Face Space installs), starts
the app (`python app.py` in that environment) and reads an example meme through the app's
`/predict` endpoint; with `--quick-tier` it also installs `requirements-dev.txt` and runs
`pytest -m "not slow"`. Interpreters are found as `python3.X` on the PATH or among pyenv's
versions. Not part of CI's run: each environment downloads several GB (torch) and takes minutes.
Exit status 1 when any Python fails a step. The table it prints is quoted in the issue that
made it and in docs/development.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "rocket.jpg"
HIGHEST_MINOR = 20  # 3.20: far past any Python a range here could name


def requires_python(root: Path = ROOT) -> SpecifierSet:
    """`requires-python` of the project's `pyproject.toml`."""
    with open(root / "pyproject.toml", "rb") as handle:
        return SpecifierSet(tomllib.load(handle)["project"]["requires-python"])


def supported_pythons(root: Path = ROOT) -> list[str]:
    """The Python 3 minor versions (`"3.11"`, …) that `requires-python` admits; `ValueError`
    when it admits no version or leaves the top open (a claim no check can cover)."""
    spec = requires_python(root)
    versions = [f"3.{m}" for m in range(HIGHEST_MINOR + 1) if spec.contains(f"3.{m}.0")]
    if not versions:
        raise ValueError(f"requires-python {spec} admits no Python 3 version")
    if versions[-1] == f"3.{HIGHEST_MINOR}":
        raise ValueError(f"requires-python {spec} has no upper bound: name the last version tried")
    return versions


def runs_as(interpreter: Path, version: str) -> bool:
    """Whether `interpreter` starts and is Python `version` (a pyenv shim of a version that
    is installed but not selected is on the PATH and fails)."""
    said = subprocess.run(
        [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return said.returncode == 0 and said.stdout.strip() == version


def find_python(version: str) -> Path | None:
    """An interpreter of `version` ("3.12"): `python3.12` on the PATH, else pyenv's newest."""
    found = shutil.which(f"python{version}")
    if found and runs_as(Path(found), version):
        return Path(found)
    if shutil.which("pyenv") is None:
        return None
    listed = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    matching = [v for v in listed if re.fullmatch(rf"{re.escape(version)}\.\d+", v)]
    if not matching:
        return None
    newest = max(matching, key=Version)
    prefix = subprocess.run(
        ["pyenv", "prefix", newest], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(prefix) / "bin" / "python"


@dataclass
class Step:
    """One step for one Python: whether it worked, how long it took, what it said last."""

    ok: bool
    seconds: float
    said: str


@dataclass
class Outcome:
    """What happened to one Python: its interpreter and each step tried, in order."""

    python: str
    interpreter: str = ""
    steps: dict[str, Step] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps.values())


def run_step(command: list[str], env: dict[str, str] | None = None) -> Step:
    """Run `command` in the checkout; its last lines of output are what it said."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    tail = " | ".join(line for line in lines[-3:] if line.strip())
    return Step(done.returncode == 0, round(time.perf_counter() - started, 1), tail[-400:])


def check(version: str, folder: Path, quick_tier: bool) -> Outcome:
    """Install, start the app and read a meme (and run the quick tier) on `version`."""
    outcome = Outcome(version)
    interpreter = find_python(version)
    if interpreter is None:
        outcome.steps["find"] = Step(False, 0.0, f"no python{version} on the PATH or in pyenv")
        return outcome
    outcome.interpreter = str(interpreter)
    venv = folder / f"venv-{version}"
    python = str(venv / "bin" / "python")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("VIRTUAL_ENV", None)
    steps = {
        "venv": [str(interpreter), "-m", "venv", "--clear", str(venv)],
        "install": [python, "-m", "pip", "install", "-q", "-r", "requirements.txt"],
        "app": [python, "-m", "tools.check_pythons", "--read-example"],
    }
    if quick_tier:
        steps["install dev"] = [python, "-m", "pip", "install", "-q", "-r", "requirements-dev.txt"]
        steps["quick tier"] = [python, "-m", "pytest", "-m", "not slow", "-q"]
    for name, command in steps.items():
        step = run_step(command, env)
        outcome.steps[name] = step
        print(f"  {version} {name}: {'ok' if step.ok else 'FAILED'} ({step.seconds:.0f} s)")
        if not step.ok:
            print(f"    {step.said}")
            break
    return outcome


def read_example() -> int:
    """In the environment under test: start the app, read the rocket meme through `/predict`
    (with `gradio_client`, which Gradio installs), and print Python's version and the answer."""
    from gradio_client import Client, handle_file

    from webapp.server import AppServer

    with AppServer() as server:
        levels, *_ = Client(server.url, verbose=False).predict(
            handle_file(str(EXAMPLE)), "", api_name="/predict"
        )
    print(f"Python {sys.version.split()[0]}: {EXAMPLE.name} read as {levels['label']}")
    return 0


def table(outcomes: list[Outcome]) -> str:
    """A Markdown table: one row per Python, one column per step."""
    names = list(dict.fromkeys(n for o in outcomes for n in o.steps))
    rows = [
        "| Python | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for o in outcomes:
        cells = []
        for name in names:
            step = o.steps.get(name)
            said = "ok" if step is not None and step.ok else "**failed**"
            cells.append("–" if step is None else f"{said} ({step.seconds:.0f} s)")
        rows.append(f"| {o.python} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check_pythons", description=__doc__)
    parser.add_argument("--python", action="append", metavar="3.X", help="only these versions")
    parser.add_argument(
        "--quick-tier", action="store_true", help='also install the tests and run -m "not slow"'
    )
    parser.add_argument("--keep", type=Path, help="make the environments here and keep them")
    parser.add_argument("--json", type=Path, help="write each Python's steps here")
    parser.add_argument("--read-example", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.read_example:
        return read_example()
    versions = args.python or supported_pythons()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="memesent-pythons-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        outcomes = [check(v, folder, args.quick_tier) for v in versions]
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(table(outcomes))
    for o in outcomes:
        said = o.steps.get("app")
        if said is not None and said.ok:
            print(said.said)
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
