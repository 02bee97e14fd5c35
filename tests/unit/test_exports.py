"""The public surface of `observability`: the names a pipeline author needs, pinned.

A name added here is a promise kept for every pipeline; everything else is imported from its
module (the README's "Development" section says where).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import observability

EXPORTS = [
    "AuditTrail",
    "Batch",
    "BatchAlreadyRunning",
    "BatchRun",
    "ConfigError",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EventBridgeTrigger",
    "InvalidInput",
    "JobPolicy",
    "LambdaTrigger",
    "Metrics",
    "NonRetryableError",
    "ObservabilityError",
    "Rerun",
    "RetryPolicy",
    "RetryRule",
    "RunSuperseded",
    "SqsTrigger",
    "SqsWorker",
    "Status",
    "StepFunctionsTrigger",
    "StoreUnavailable",
    "Trigger",
    "batch_handler",
    "configure_logging",
    "configure_tracing",
    "context_from",
    "load_settings",
    "run_task",
]


def test_the_exports_are_pinned() -> None:
    assert observability.__all__ == EXPORTS
    assert len(EXPORTS) <= 30


@pytest.mark.parametrize("name", EXPORTS)
def test_every_export_resolves(name: str) -> None:
    value = getattr(observability, name)
    assert getattr(value, "__name__", name) == name


def test_an_internal_name_is_not_exported() -> None:
    with pytest.raises(AttributeError):
        getattr(observability, "AuditStore")  # noqa: B009 (a name no module attribute has)


def test_importing_the_package_loads_nothing_else() -> None:
    # The names load on first use: a bare import pulls in neither boto3 nor a submodule.
    code = (
        "import sys, observability\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('observability.', 'boto')))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
