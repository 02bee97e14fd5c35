"""The job registry, producer side: each job's item in the `JOBS` partition, so that
`remediator jobs` lists every job with one Query instead of a table scan.

A process writes a job's item at that job's first outcome (SUCCESS or FAILED) in the
process, and after that only to move `last_success_at` on, at most once every
`refresh_seconds` per job: one UpdateItem (1 write unit, no index keys) per job per
process, plus one per refresh while the job keeps succeeding. No other transition pays for
it. A registry write that fails is logged and forgotten: it never fails a batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from observability.models import iso
from observability.models.keys import registry_key

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["DEFAULT_REFRESH_SECONDS", "JobRegistry", "Noted", "needs_write"]

log = logging.getLogger("observability")

DEFAULT_REFRESH_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Noted:
    """What this process last wrote for a job (monotonic seconds)."""

    at: float
    success_at: float | None


def needs_write(noted: Noted | None, *, success: bool, now: float, refresh: float) -> bool:
    """Pure: whether this outcome must write the job's registry item."""
    if noted is None:
        return True  # the job's first outcome in this process registers it
    if not success:
        return False
    return noted.success_at is None or now - noted.success_at >= refresh


class JobRegistry:
    """One process's registrations. No lock: two threads racing on a job's first outcome
    write the same item twice, which is harmless, and a forked child inherits no lock."""

    def __init__(
        self,
        clients: AwsClients,
        table: str,
        *,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        ttl_days: int = 90,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self.table = table
        self.refresh_seconds = refresh_seconds
        self._ttl = timedelta(days=ttl_days)
        self._monotonic = monotonic
        self._noted: dict[str, Noted] = {}

    def noted(self, job_id: str, now: datetime, *, success: bool) -> bool:
        """A batch of `job_id` ended; returns True when the registry item was written."""
        mono = self._monotonic()
        before = self._noted.get(job_id)
        if not needs_write(before, success=success, now=mono, refresh=self.refresh_seconds):
            return False
        try:
            self._write(job_id, now, success=success)
        except (BotoCoreError, ClientError) as exc:
            log.warning("job %s not registered (retried at its next outcome): %s", job_id, exc)
            return False
        kept = before.success_at if before else None
        self._noted[job_id] = Noted(mono, mono if success else kept)
        if len(self._noted) > 10_000:
            self._noted.pop(next(iter(self._noted)))
        return True

    def _write(self, job_id: str, now: datetime, *, success: bool) -> None:
        pk, sk = registry_key(job_id)
        sets = [
            "#job = :job",
            "#first = if_not_exists(#first, :now)",
            "#seen = :now",
            "#exp = :exp",
        ]
        names = {"#job": "job_id", "#first": "first_seen_at", "#seen": "seen_at"}
        names["#exp"] = "expires_at"
        if success:
            sets.append("#success = :now")
            names["#success"] = "last_success_at"
        self._clients.dynamodb().update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":job": {"S": job_id},
                ":now": {"S": iso(now)},
                ":exp": {"N": str(int((now + self._ttl).timestamp()))},
            },
        )
