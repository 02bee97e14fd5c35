"""What an alert says, per destination (Slack, PagerDuty); pure."""

from __future__ import annotations

__all__: list[str] = []
