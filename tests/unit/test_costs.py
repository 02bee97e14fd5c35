"""The deploy guide's cost table is the one scripts/costs.py computes from the defaults."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def costs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("costs", ROOT / "scripts" / "costs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["costs"] = module
    spec.loader.exec_module(module)
    return module


def test_the_readme_table_is_the_scripts():
    script = costs()
    assert script.readme_table(script.README.read_text()) == script.costs_table(), (
        "run: python scripts/costs.py --write"
    )


def test_the_table_follows_the_module_and_the_benchmarks():
    table = costs().costs_table()
    assert "| standing | Fargate: 1 task of 0.25 vCPU, 512 MB, X86_64, 24/7 | 9.01 |" in table
    assert "| per million batches | successful: 4 write units each | 2.50 |" in table
    assert "**standing stack**" in table
