"""The Lambda entry point: `remediator.alerts.handler`, one router per process.

The router (settings, clients, resolved secrets) is built on the first invocation, not at
import, and reused by every warm invocation after it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from remediator.alerts.router import AlertRouter, BatchResponse

__all__ = ["default_router", "handler", "use_router"]

_router: AlertRouter | None = None
_lock = threading.Lock()


def default_router() -> AlertRouter:
    """The process-wide router, built from the environment on first call."""
    global _router
    if _router is None:
        with _lock:
            if _router is None:
                _router = AlertRouter()
    return _router


def use_router(router: AlertRouter | None) -> None:
    """Install a router (tests, custom wiring); None forgets it, like a new cold start."""
    global _router
    with _lock:
        _router = router


def handler(event: Mapping[str, Any], context: Any) -> BatchResponse:
    """SQS event in, partial batch response out, before the invocation's deadline."""
    return default_router().handle(event, context)
