"""Errors a user can catch: one base, `memesent.MemesentError`, every error exported from
`memesent` by name, each keeping the built-in base it had, and catching them loads no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import memesent
from memesent import MemesentError

ROOT = Path(__file__).resolve().parents[1]
ERRORS = [name for name in memesent.__all__ if name.endswith("Error")]
# what each error was before it had a base of its own: `except ValueError` still catches these
BUILT_IN = {
    "BackboneError": RuntimeError,
    "CheckpointError": ValueError,
    "EngineMissingError": RuntimeError,
    "LabelsError": ValueError,
    "ManifestError": ValueError,
    "MetricsError": ValueError,
    "NotAnImageError": ValueError,
    "NothingToScoreError": ValueError,
    "OCRError": RuntimeError,
    "OCRTimeoutError": RuntimeError,
    "PPOCRNotFoundError": RuntimeError,
    "RayEngineError": RuntimeError,
    "ResultsError": ValueError,
    "TesseractNotFoundError": RuntimeError,
    "TooLargeError": ValueError,
}


def test_every_error_memesent_raises_is_exported_and_a_memesent_error():
    classes = {
        f"{module}.{name}"
        for path in (ROOT / "memesent").rglob("*.py")
        for module, name in _error_classes(path)
    }
    exported = {f"{getattr(memesent, name).__module__}.{name}" for name in ERRORS}
    assert classes == exported
    assert set(ERRORS) == {"MemesentError", *BUILT_IN}


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_each_error_keeps_its_built_in_base(name):
    error = getattr(memesent, name)
    assert issubclass(error, MemesentError) and issubclass(error, BUILT_IN[name])


def test_the_errors_are_the_ones_raised():
    from memesent.images import load_image
    from memesent.ocr import PPOCRNotFoundError

    with pytest.raises(memesent.NotAnImageError):
        load_image(b"not a picture")
    assert memesent.PPOCRNotFoundError is PPOCRNotFoundError
    assert "pip install rapidocr==3.7.0" in str(memesent.PPOCRNotFoundError())


def test_import_memesent_and_catching_its_errors_load_no_torch():
    script = (
        "import sys, memesent\n"
        "light = 'torch' not in sys.modules\n"
        f"errors = [getattr(memesent, name) for name in {ERRORS!r}]\n"
        "print(light, 'torch' not in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def _error_classes(path: Path) -> list[tuple[str, str]]:
    """(module, class) of each class in `path` whose name ends in Error."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    tree = ast.parse(path.read_text())
    return [
        (module, node.name)
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Error")
    ]
