"""The static checks CI runs with the tests: ruff's lint and format check over the repository,
and mypy over the code it is configured for (`[tool.mypy]` in pyproject.toml). The same checks
run before each commit with pre-commit (.pre-commit-config.yaml)."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    """`python -m ARGS` in the checkout's root, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,  # mypy without a cache takes a few minutes on 2 cores
    )


def _check(*args: str) -> None:
    result = _run(*args)
    assert result.returncode == 0, (
        f"{' '.join(args)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
    )


def test_ruff_finds_nothing():
    _check("ruff", "check", ".")


def test_code_is_ruff_formatted():
    _check("ruff", "format", "--check", ".")


def test_mypy_finds_no_type_errors():
    _check("mypy")
