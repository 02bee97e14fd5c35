"""Operator verbs as a library: ids and options in, data out, never printed.

The CLI (and any other client) parses, calls these, and renders with `remediator.views`.
"""

from __future__ import annotations

__all__: list[str] = []
