"""The layout shows the architecture: no import cycle, no module over 400 lines, folders of at
most 8 modules, and the README and docs/ARCHITECTURE.md name the producer's folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
MAX_MODULES = 8

PACKAGES = [
    "observability",
    pytest.param(
        "remediator",
        marks=pytest.mark.xfail(strict=False, reason="its folders land separately"),
    ),
]


def _modules(package: str) -> dict[str, Path]:
    """Dotted name of every module of `package`; a package by its own name."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The imports a module runs when it is imported: not in functions, not TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            found += _runtime_imports(node.body) + _runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                found += _runtime_imports(block)
            for handler in node.handlers:
                found += _runtime_imports(handler.body)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` its import runs, each with the `__init__` of every
    package above it that the importer is not itself inside."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
        edges: set[str] = set()
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                above = ".".join(parts[:i])
                if above in modules and not name.startswith(above + ".") and above != name:
                    edges.add(above)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package: str) -> None:
    cycle = _cycle(_graph(package))
    assert cycle is None, " -> ".join(cycle or ())


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_400_lines(package: str) -> None:
    long = {
        name: n
        for name, path in _modules(package).items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_a_folder_holds_at_most_8_modules(package: str) -> None:
    crowded = {
        str(folder.relative_to(ROOT)): n
        for folder in (ROOT / package).rglob("*")
        if folder.is_dir() and (folder / "__init__.py").exists() and folder.name != package
        if (n := len([p for p in folder.glob("*.py") if p.name != "__init__.py"])) > MAX_MODULES
    }
    assert crowded == {}


def _folders(package: str) -> set[str]:
    return {p.parent.name for p in (ROOT / package).glob("*/__init__.py")}


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_layout_names_the_producer_folders() -> None:
    development = _section((ROOT / "README.md").read_text(), "Development")
    named = set(re.findall(r"`observability/(\w+)/`", development))
    assert named == _folders("observability")


def test_the_architecture_lists_the_producer_folders() -> None:
    components = _section((ROOT / "docs" / "ARCHITECTURE.md").read_text(), "Components")
    producer = components.split("- `observability`", 1)[1].split("\n- `", 1)[0]
    named = re.findall(r"^  - `(\w+)/`", producer, re.M)
    assert sorted(named) == sorted(_folders("observability"))
    assert len(named) == len(set(named))
