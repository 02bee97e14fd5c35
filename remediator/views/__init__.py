"""Text for a terminal: tables, progress, the trace waterfall. Pure: strings out."""

from __future__ import annotations

__all__: list[str] = []
