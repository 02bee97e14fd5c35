"""The AWS resources: created, checked; an embedded local copy of them and the demo."""

from __future__ import annotations

__all__: list[str] = []
