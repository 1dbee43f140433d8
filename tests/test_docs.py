"""What README.md and docs/*.md name in the code is there: after a module is split, the text follows."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGES = ("watermark", "attacks", "eval", "tests")


def _text(path: Path) -> str:
    return re.sub(r"\s+", " ", path.read_text())         # a reference may be broken across lines


def _defined(path: Path) -> set[str]:
    """The names ``path`` defines: functions, classes and assigned names, at any depth."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_file_the_docs_name_by_its_path_exists(doc):
    named = set(re.findall(rf"`((?:{'|'.join(PACKAGES)})/[\w/]+\.py)", _text(doc)))
    assert sorted(path for path in named if not (ROOT / path).is_file()) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_a_name_the_docs_place_in_a_file_is_defined_there(doc):
    """"`NAME` in `path/file.py`" (or "`NAME = value` in `file.py`"): ``file.py`` is one of ours, and
    defines NAME."""
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    wrong = []
    for name, file in re.findall(r"`([A-Za-z_]\w*)[^`]*` in `([\w/]+\.py)`", _text(doc)):
        matches = [path for path in files if path.as_posix().endswith("/" + file)]
        if not matches or all(name not in _defined(path) for path in matches):
            wrong.append(f"{name} in {file}")
    assert wrong == []


def test_every_module_name_the_readme_gives_resolves():
    """`watermark.x.y`, `attacks.x`, `eval.x.y` in README.md: a module, or a name in one (`eval.py`, a
    file, is not one)."""
    wrong = []
    for dotted in sorted(set(re.findall(r"`((?:watermark|attacks|eval)(?:\.\w+)+)", _text(ROOT / "README.md")))):
        if dotted.endswith(".py"):
            continue
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:end]))
            except ImportError:
                continue
            for part in parts[end:]:
                found = getattr(found, part, None)
            break
        if found is None:
            wrong.append(dotted)
    assert wrong == []
