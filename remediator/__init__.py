"""The remediator: hears failure signals, sweeps the retry index, and re-triggers batches.

Its names load on first use, so that the command's entry point (remediator.entry) can
install its signal handler before anything heavy is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ProvisionError",
    "RemediatorError",
    "Resources",
    "TriggerError",
    "TriggerRejected",
    "bootstrap",
]

_WHERE = {
    "ProvisionError": "remediator.errors",
    "RemediatorError": "remediator.errors",
    "TriggerError": "remediator.errors",
    "TriggerRejected": "remediator.errors",
    "Resources": "remediator.stack.provision",
    "bootstrap": "remediator.stack.provision",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'remediator' has no attribute {name!r}")
