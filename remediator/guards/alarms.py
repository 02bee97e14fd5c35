"""The alerts a replica raises: circuits opened (by a job's re-runs, by a target), and any
signal it publishes for people (EXHAUSTED). A publish that fails is logged, never raised:
the batch's state is already written."""

from __future__ import annotations

import logging
from datetime import datetime

from observability.errors import ObservabilityError
from observability.models import BatchState, iso
from observability.models.keys import breaker_key, target_breaker_key
from observability.models.signals import CIRCUIT_OPEN, Signal
from observability.notifier import Notifier
from remediator.guards.breaker import CircuitBreaker

__all__ = ["Alarms"]

log = logging.getLogger("remediator")


class Alarms:
    """Counts failures on the breaker and says so when a circuit opens."""

    def __init__(self, notifier: Notifier, breaker: CircuitBreaker, replica: str) -> None:
        self.notifier = notifier
        self.breaker = breaker
        self.replica = replica

    def failed_rerun(self, job_id: str, failure: str, now: datetime) -> None:
        """A re-run of the job failed (`failure` is `batch#attempt`, counted once)."""
        until = self.breaker.record_failure(breaker_key(job_id), failure, now)
        if until:
            log.error("circuit open: retries of job %s paused until %s", job_id, until)
            self._circuit_alert(
                job_id, until, now, error_type=None, reason="circuit_open",
                message=(
                    f"{self.breaker.failures} failed re-runs within "
                    f"{int(self.breaker.window.total_seconds())} s; retries paused"
                ),
            )  # fmt: skip

    def failed_trigger(self, claimed: BatchState, target: str, failure: str, now: datetime) -> None:
        """A re-trigger to `target` did not go out; its circuit, not the job's, counts it."""
        until = self.breaker.record_failure(target_breaker_key(target), failure, now)
        if not until:
            return
        log.error("circuit open: re-triggers to %s paused until %s", target, until)
        self._circuit_alert(
            claimed.job_id, until, now, error_type="TriggerTarget", reason="target_circuit_open",
            message=(
                f"{self.breaker.failures} re-triggers to {target} failed within "
                f"{int(self.breaker.window.total_seconds())} s; re-triggers to it paused "
                "(other targets go on)"
            ),
        )  # fmt: skip

    def _circuit_alert(
        self, job_id: str, until: str, now: datetime, *, error_type: str | None, reason: str,
        message: str,
    ) -> None:  # fmt: skip
        """CIRCUIT_OPEN for a job (no batch): its re-runs, or one of its targets, paused."""
        self.alert(
            Signal(
                event=CIRCUIT_OPEN,
                job_id=job_id,
                batch_id="",  # a job-wide alert: no batch
                attempt=0,
                version=0,
                status="PAUSED",
                error_type=error_type,
                error_message=message,
                retryable=True,
                trace_id=None,
                at=iso(now),
                next_retry_at=until,
                reason=reason,
                actor=self.replica,
            )
        )

    def alert(self, signal: Signal) -> None:
        try:
            self.notifier.publish(signal)
        except ObservabilityError as exc:
            log.error("alert not published: %s", exc)
