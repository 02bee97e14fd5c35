"""Remediator settings: the shared ones plus the service's own (same REMEDIATOR_ prefix)."""

from __future__ import annotations

import os
import socket

from observability.envconfig import rule, setting
from observability.settings import Settings

__all__ = ["FIFO_DEDUPLICATION_SECONDS", "RemediatorSettings"]

# SQS FIFO drops a message whose deduplication id it saw within the last 5 minutes.
FIFO_DEDUPLICATION_SECONDS = 300.0


def _replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RemediatorSettings(Settings):
    """Everything `remediator run` reads; defaults suit one replica on Fargate."""

    replica_id: str = setting(default_factory=_replica_id, min_length=1, max_length=128)
    # 180 s: a claim's trigger, sent again by a replica that takes over a dead one's lease,
    # goes out within lease + sweep interval + trigger timeout (240 s with the defaults):
    # inside SQS FIFO's 5-minute deduplication window (see takeover_resend_seconds).
    lease_seconds: float = setting(180.0, ge=5, le=3600)
    poll_wait_seconds: int = setting(20, ge=0, le=20)
    visibility_timeout_seconds: int = setting(120, ge=10, le=43_200)
    sweep_interval_seconds: float = setting(30.0, ge=0, le=3600)
    budget_per_minute: int = setting(600, ge=0, le=1_000_000)
    breaker_failures: int = setting(5, ge=0, le=10_000)
    breaker_window_seconds: float = setting(600.0, ge=1)
    breaker_pause_seconds: float = setting(900.0, ge=1)
    trigger_attempts: int = setting(4, ge=1, le=20)
    # Refusals for good (not found, access denied, invalid) of one attempt before it is
    # EXHAUSTED with reason trigger_refused.
    trigger_refusals: int = setting(3, ge=1, le=100)
    trigger_timeout_seconds: float = setting(30.0, gt=0, le=600)
    health_host: str = "127.0.0.1"
    health_port: int = setting(8080, ge=0, le=65535)
    health_max_silence_seconds: float = setting(90.0, ge=5)
    shutdown_grace_seconds: float = setting(8.0, ge=0, le=120)
    # How old a replica's copy of the pauses item may be: a pause holds within this time.
    pause_refresh_seconds: float = setting(5.0, ge=0, le=300)

    @property
    def takeover_resend_seconds(self) -> float:
        """The latest a trigger is sent again after a replica died between sending and
        recording it: its lease runs out, the next sweep finds it, the re-send takes up to
        the trigger timeout."""
        return self.lease_seconds + self.sweep_interval_seconds + self.trigger_timeout_seconds

    @rule
    def _lease_outlasts_the_trigger(self) -> None:
        # A trigger still in flight when its lease ends is fired again by whoever takes
        # the batch over: the lease must cover the trigger's retries and the record.
        if self.lease_seconds < 2 * self.trigger_timeout_seconds:
            raise ValueError(
                f"REMEDIATOR_LEASE_SECONDS ({self.lease_seconds:g}) must be at least twice "
                f"REMEDIATOR_TRIGGER_TIMEOUT_SECONDS ({self.trigger_timeout_seconds:g})"
            )

    @rule
    def _health_outlasts_one_unit_of_work(self) -> None:
        # The loops tick between units of work (a long poll; a signal or a batch, whose
        # re-trigger is bounded by the trigger timeout): a shorter silence would call a busy
        # service stuck, and ECS would replace it mid-work.
        floor = max(2 * self.trigger_timeout_seconds, self.poll_wait_seconds + 10)
        if self.health_max_silence_seconds < floor:
            raise ValueError(
                f"REMEDIATOR_HEALTH_MAX_SILENCE_SECONDS ({self.health_max_silence_seconds:g}) "
                f"must be at least {floor:g}: twice REMEDIATOR_TRIGGER_TIMEOUT_SECONDS and "
                "more than REMEDIATOR_POLL_WAIT_SECONDS"
            )
