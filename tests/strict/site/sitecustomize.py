"""The strict AWS checks in a subprocess of the suite (the CLI, the service, the demo).

The strict fixture puts this directory on PYTHONPATH and names a report file in
STRICT_AWS_REPORT; Python imports this module at start-up. The checks are installed when
botocore's client module (and the project's metrics module) are first imported, so a
process that never calls AWS pays nothing. Violations are appended to the report, which
the fixture reads when the test ends; the process itself behaves as it would without them.
Another sitecustomize this one shadows is still run.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _run_shadowed() -> None:
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == _HERE:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_shadowed_sitecustomize", candidate)
            if spec and spec.loader:
                # Another site's hook must not break this one, nor the process.
                with contextlib.suppress(Exception):
                    spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


def _install(name: str, module: ModuleType) -> None:
    from tests.strict.checker import REPORT_ENV, StrictAws

    checker = _CHECKER.setdefault(
        "checker", StrictAws(raise_on_violation=False, report=os.environ[REPORT_ENV])
    )
    if name == "botocore.client":
        base = module.BaseClient
        base._make_api_call = checker.wrap_api_call(base._make_api_call)
    elif name == "observability.telemetry.metrics":
        module.emf_record = checker.wrap_emf(module.emf_record)
        module.emf_line = checker.wrap_emf_line(module.emf_line)


_CHECKER: dict[str, Any] = {}
_WATCHED = ("botocore.client", "observability.telemetry.metrics")


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _install(self._name, module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _WATCHED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, name)
        return spec


if os.environ.get("STRICT_AWS_REPORT"):
    sys.meta_path.insert(0, _Finder())
_run_shadowed()
