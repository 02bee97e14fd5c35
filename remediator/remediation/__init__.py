"""One batch at a time: decide, claim, fire, record, close; the orchestrator over them."""

from __future__ import annotations

from remediator.remediation.remediator import Outcome, Remediator

__all__ = ["Outcome", "Remediator"]
