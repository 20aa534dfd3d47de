"""Build hook: the shipped model (assets/model/) goes into the package, so that an installed
memesent finds it (`memesent.checkpoint.DEFAULT_MODEL_DIR`). Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "metrics.json",
    "MODEL_CARD.md",
    "shares_reference.json",  # what `memesent shares` knows of the calibration memes
)


class BuildWithModel(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "assets" / "model"
        target = Path(self.build_lib) / "memesent" / "model"
        target.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:
            shutil.copy2(source / name, target / name)


setup(cmdclass={"build_py": BuildWithModel})
