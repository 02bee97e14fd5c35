"""The layout holds: no import cycle, no module too long to read, folders the docs name.

Read from the source (the AST and the tree), nothing imported: a cycle is found even where
a lazy import would hide it at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("observability", "remediator")
# Packages whose folders are the parts the docs name.
LAID_OUT = PACKAGES
MAX_LINES = 400


def _modules(package: str) -> dict[str, Path]:
    """Every module of a package by its dotted name (a package by its own name)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules one module imports, anywhere in it (functions and
    TYPE_CHECKING blocks included): `from a import b` is `a.b` when that is a module."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return (found & known) - {name}


def _graph() -> dict[str, set[str]]:
    modules = {n: p for package in PACKAGES for n, p in _modules(package).items()}
    known = set(modules)
    return {name: _imported(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (found := visit(nxt)):
                return found
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (found := visit(start)):
            return found
    return None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_the_modules() -> None:
    graph = _graph()
    assert "remediator.cli.commands" in graph  # the walk found the packages
    assert _cycle(graph) is None


@pytest.mark.parametrize("package", LAID_OUT)
def test_no_module_is_over_the_limit(package: str) -> None:
    long = {
        name: lines
        for name, path in _modules(package).items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_orchestrator_reads_in_one_screen() -> None:
    path = ROOT / "remediator" / "remediation" / "remediator.py"
    [cls] = [
        node
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef) and node.name == "Remediator"
    ]
    assert cls.end_lineno is not None
    assert cls.end_lineno - cls.lineno + 1 < 150


def _folders(package: str) -> set[str]:
    return {p.parent.name for p in (ROOT / package).glob("*/__init__.py")}


def _section(document: str, heading: str) -> str:
    text = (ROOT / document).read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


@pytest.mark.parametrize("package", LAID_OUT)
@pytest.mark.parametrize(
    ("document", "heading"),
    [("README.md", "Development"), ("docs/ARCHITECTURE.md", "Components")],
)
def test_the_docs_name_exactly_the_folders(package: str, document: str, heading: str) -> None:
    named = set(re.findall(rf"`{package}/(\w+)/`", _section(document, heading)))
    assert named == _folders(package)
