"""The house: no import cycles, an installable package that works outside the checkout, and one
list of dependencies."""

from __future__ import annotations

import ast
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest
from helpers import draw_meme, photo
from packaging.requirements import Requirement

pytestmark = pytest.mark.slow  # an installed copy in a fresh environment

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("memesent", "train", "experiments", "webapp", "benchmarks")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    files = [ROOT / "app.py", *(f for p in PACKAGES for f in (ROOT / p).rglob("*.py"))]
    return {_module_name(f): f for f in files}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `name` imports anywhere (functions included), except under
    `if TYPE_CHECKING:`, which never runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in modules and m != name}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            connect(v)
    return groups


def test_no_module_imports_one_that_imports_it_back():
    modules = _project_modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "memesent.explain" in graph["memesent.predictor"]  # lazy imports are seen
    assert find_cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_says_what_it_holds():
    missing = [
        n for n, p in _project_modules().items() if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in lines]
    return {r.name.lower(): r for r in reqs}


def test_requirements_txt_matches_pyproject():
    """requirements.txt (the Space's install list) holds exactly the library's dependencies and
    the app and train extras, with the same version ranges; torch is pinned inside its range."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = _requirements([*project["dependencies"], *extras["app"], *extras["train"]])
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    listed = _requirements(lines)
    assert listed.keys() == declared.keys()
    for name, req in listed.items():
        if name in ("torch", "torchvision"):
            pinned = next(iter(req.specifier)).version
            assert declared[name].specifier.contains(pinned), name
        else:
            assert req.specifier == declared[name].specifier, name


def _site_dirs() -> list[str]:
    """The site-packages folders this interpreter reads, in its order: its environment's (a plain
    interpreter, a venv, a virtualenv or a conda environment), the base interpreter's when the
    environment includes them, and the user's when enabled."""
    known = {*site.getsitepackages(), *(sysconfig.get_path(k) for k in ("purelib", "platlib"))}
    if site.ENABLE_USER_SITE:
        known.add(site.getusersitepackages())
    known = {os.path.abspath(d) for d in known}
    return list(dict.fromkeys(d for d in sys.path if os.path.abspath(d) in known))


class _SeesThisEnvironment(venv.EnvBuilder):
    """A virtual environment without pip whose site-packages are read first, then (through a .pth
    file) the ones the running tests read: what it installs shadows this environment's copies,
    and everything else comes from this environment, however it was made."""

    def __init__(self) -> None:
        super().__init__(symlinks=True, with_pip=False)  # symlinks: as `python -m venv` makes it

    def post_setup(self, context) -> None:
        own = subprocess.run(
            [context.env_exe, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        lines = [f"import site; site.addsitedir({d!r})" for d in _site_dirs()]
        (Path(own) / "running_environment.pth").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with memesent installed from a copy of this checkout's
    package files (the copy keeps the build's files out of the checkout; the dependencies, pip
    and setuptools included, come from the environment the tests run in)."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "memesent", source / "memesent", ignore=ignore)
    shutil.copytree(ROOT / "assets" / "model", source / "assets" / "model")
    env = work / "env"
    _SeesThisEnvironment().create(env)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    done = subprocess.run(
        [*pip, "--no-build-isolation", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def test_installed_package_works_from_another_folder(installed, tmp_path, predictor):
    """The fresh environment's own copy of memesent, not the checkout and not the copy installed
    in the environment the tests run in, serves `memesent predict` and `Predictor.load()` from
    another folder, with the running environment's dependencies."""
    import torch

    command = installed / "bin" / "memesent"
    head = command.read_text().splitlines()[:3]  # a shebang, or sh's exec for a long path
    assert any(str(installed / "bin" / "python") in line for line in head), head
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    caption = "when the wifi comes back"
    draw_meme(photo("coffee"), caption.upper()).save(elsewhere / "meme.png")

    cli = subprocess.run(
        [
            str(command),
            "predict",
            "meme.png",
            "--caption",
            caption,
            "--json",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    row = json.loads(cli.stdout)
    want = predictor.predict(elsewhere / "meme.png", caption)
    assert row["label"] == want.label
    assert row["probs"] == pytest.approx(want.probs, abs=1e-6)

    script = (
        "import json, memesent, memesent.checkpoint as c, torch\n"
        "from memesent import Predictor\n"
        f"r = Predictor.load().predict('meme.png', {caption!r})\n"
        "from memesent.shares import Reference\n"
        "where = [memesent.__file__, str(c.DEFAULT_MODEL_DIR), torch.__file__]\n"
        "print(json.dumps([*where, r.probs, Reference.load(c.DEFAULT_MODEL_DIR) is not None]))\n"
    )
    api = subprocess.run(
        [str(installed / "bin" / "python"), "-c", script],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert api.returncode == 0, api.stderr
    module, model_dir, torch_file, probs, reference = json.loads(api.stdout)
    assert reference, "the installed model carries its shares reference"
    assert Path(module).is_relative_to(installed) and Path(model_dir).is_relative_to(installed)
    assert Path(torch_file).resolve() == Path(torch.__file__).resolve()  # the running environment's
    assert probs == pytest.approx(want.probs, abs=1e-6)

    for name in ("train", "experiments", "webapp", "benchmarks"):  # from a checkout only
        missing = subprocess.run(
            [str(installed / "bin" / "python"), "-c", f"import {name}"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
        )
        assert "ModuleNotFoundError" in missing.stderr, name


def test_installed_package_reads_captions_with_pp_ocr(installed, tmp_path):
    """The installed copy holds the `memesent.ocr` package: `memesent ocr` reads a caption with
    PP-OCR, the default engine, from the installed modules."""
    from memesent.ocr import paddle

    if not paddle.available():
        pytest.skip("PP-OCR (rapidocr, onnxruntime) is not installed")
    draw_meme(photo("rocket"), "FINALLY FRIDAY").save(tmp_path / "meme.png")
    cli = subprocess.run(
        [str(installed / "bin" / "memesent"), "ocr", "meme.png", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    row = json.loads(cli.stdout)
    assert row["engine"] == "ppocr" and {"FINALLY", "FRIDAY"} <= set(row["text"].upper().split())
    where = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import memesent.ocr.paddle as m; print(m.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stderr


TYPED_USE = """\
from memesent import MemesentError, OCRError, Predictor

p = Predictor.load()
reveal_type(Predictor.load)
reveal_type(p.predict(None, "a caption"))
reveal_type(p.explain(None, "a caption"))
reveal_type(OCRError("unreadable"))
"""
# memesent's own modules are checked; its dependencies (torch above all) are skipped, which
# keeps mypy to seconds
TYPED_USE_CONFIG = """\
[mypy]
follow_imports = skip
[mypy-memesent,memesent.*]
follow_imports = normal
"""


def test_a_users_type_checker_sees_the_real_classes(installed, tmp_path):
    """`Predictor`, `Prediction`, `Explanation` and the errors load on first use, yet a type
    checker run on a user's code against the installed package (py.typed) sees their classes,
    not Any."""
    pytest.importorskip("mypy")
    (tmp_path / "use.py").write_text(TYPED_USE)
    (tmp_path / "mypy.ini").write_text(TYPED_USE_CONFIG)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-error-summary"),
            *("--python-executable", str(installed / "bin" / "python"), "use.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    revealed = [line.split("Revealed type is ")[-1] for line in done.stdout.splitlines()]
    assert revealed == [
        '"def (path: str | pathlib.Path | None =) -> memesent.predictor.Predictor"',
        '"memesent.predictor.Prediction"',
        '"memesent.explain.Explanation"',
        '"memesent.ocr.errors.OCRError"',
    ], done.stdout + done.stderr
