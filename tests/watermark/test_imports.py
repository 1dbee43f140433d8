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


def _imports(modules: dict[str, Path], name: str) -> set[str]:
    """The modules of ``modules`` that ``name`` imports, at its top or inside a function."""
    path = modules[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            parts = parts[:len(parts) - node.level + 1] if node.level else []
            prefix = ".".join(parts + ([node.module] if node.module else []))
            targets = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _our_modules() -> dict[str, Path]:
    """Every module of ``watermark``, ``attacks`` and ``eval``, by dotted name, with its file."""
    root = Path(watermark.__file__).parent.parent
    modules = {}
    for package in ("watermark", "attacks", "eval"):
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_no_import_cycles_not_even_inside_functions():
    """STYLE.md: no import cycles anywhere, not even hidden behind a function-level import (a package's
    ``__init__`` naming its own submodules is not one: ``from . import x`` reads ``x``, not the package)."""
    modules = _our_modules()
    graph = {name: _imports(modules, name) for name in modules}
    cycles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def _private_uses(modules: dict[str, Path], name: str, path: Path) -> list[tuple[str, str]]:
    """(x, where) for each ``from x import _name`` in the file ``path`` (the module ``name``, x another),
    and each ``x._name`` with ``x`` bound to one of ``modules``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    bound = {}                          # name -> the module of ours this module binds it to
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            parts = parts[:len(parts) - node.level + 1] if node.level else []
            prefix = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{prefix}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{prefix}.{alias.name}"
                elif alias.name.startswith("_") and not alias.name.startswith("__") and prefix != name:
                    uses.append((prefix, f"{path.name}:{node.lineno}: from {prefix} import {alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                head = alias.name if alias.asname else alias.name.partition(".")[0]
                if head in modules:
                    bound[alias.asname or head] = head
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        chain, value = [], node.value           # x._name, x.y._name, ... with x bound to one of ours
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in bound and ".".join([bound[value.id], *chain]) in modules:
            uses.append((".".join([bound[value.id], *chain]), f"{path.name}:{node.lineno}: "
                                                               f"{'.'.join([value.id, *chain, node.attr])}"))
    return uses


def test_no_module_uses_another_modules_private_name():
    """STYLE.md: public names only across modules. ``from x import _name`` and ``x._name``, where ``x``
    is another of our modules, are what a module's ``_`` promises no other module does (a private
    module, such as ``attacks._spec``, may still be imported: its public names are its package's)."""
    modules = _our_modules()
    offenders = [where for name, path in modules.items() for _, where in _private_uses(modules, name, path)]
    assert offenders == []


def test_tests_use_only_the_public_names_of_the_packages_they_do_not_test():
    """A test may look inside the package it tests (``tests/watermark/`` into ``watermark``, a private
    helper tested where it lives), but uses the other packages as their users do: a test of the
    fingerprint that needs photographs loads them through ``eval.images``' public names."""
    modules = _our_modules()
    tests = Path(__file__).parent.parent
    offenders = []
    for path in tests.rglob("*.py"):
        parts = path.relative_to(tests.parent).with_suffix("").parts
        tested = parts[1] if len(parts) > 2 else ""         # tests/test_docs.py and the helpers test none
        offenders += [where for module, where in _private_uses(modules, ".".join(parts), path)
                      if module.partition(".")[0] in {"watermark", "attacks", "eval"} - {tested}]
    assert offenders == []
