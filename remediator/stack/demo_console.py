"""The demo's console: served on loopback by the demo's own process (`demo --keep`), on the
demo's table and clients, drawing each batch's trace from the spans the demo recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from observability.clients import AwsClients
    from remediator.console.server import Console
    from remediator.settings import RemediatorSettings

__all__ = ["CONSOLE_HINT", "start_console"]

CONSOLE_HINT = "pip install 'self-healing-pipelines[console]' to see it all in a browser"


def start_console(
    settings: RemediatorSettings,
    clients: AwsClients,
    recorder: Any,
    *,
    port: int = 0,
    read_only: bool = False,
) -> Console | None:
    """The console on a free port (None when its extra is not installed)."""
    try:
        from remediator.console.backend import Backend
        from remediator.console.server import Console
    except ImportError:
        return None
    from remediator.stack.timeline import span_lines

    spans = (lambda trace_id: span_lines(recorder, trace_id)) if recorder is not None else None
    backend = Backend(settings, clients, spans=spans)
    backend.read_identity()
    return Console(backend, port=port, read_only=read_only).start()
