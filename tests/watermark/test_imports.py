"""Imports point one way: eval -> attacks -> watermark. The library never imports its users."""

import ast
from pathlib import Path

import watermark


def test_watermark_imports_neither_attacks_nor_eval():
    offenders = []
    for path in Path(watermark.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in ("attacks", "eval")]
    assert offenders == []
