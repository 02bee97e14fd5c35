"""`history`: the audit events of one batch, oldest first."""

from __future__ import annotations

from datetime import datetime

from observability.audit import AuditStore
from observability.models import AuditEvent
from observability.models.keys import BatchKey

__all__ = ["history"]


def history(store: AuditStore, job_id: str, batch_id: str, now: datetime) -> list[AuditEvent]:
    return list(store.history(BatchKey.of(job_id, batch_id), now))
