"""Exceptions of the producer library; every one derives from ObservabilityError."""

from __future__ import annotations

__all__ = [
    "BatchAlreadyRunning",
    "ConcurrentChange",
    "ConfigError",
    "InvalidInput",
    "NonRetryableError",
    "NotifierUnavailable",
    "ObservabilityError",
    "OutcomeUnknown",
    "RunSuperseded",
    "StoreUnavailable",
]


class ObservabilityError(Exception):
    """Root of every error this library raises on its own account."""


class ConfigError(ObservabilityError):
    """A setting is missing or out of range; the message names the variable."""


class InvalidInput(ObservabilityError, ValueError):
    """An argument was rejected before anything was written; the message names field and limit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class BatchAlreadyRunning(ObservabilityError):
    """A live run (recent heartbeat, or a remediator's unexpired claim) holds this batch."""

    def __init__(self, job_id: str, batch_id: str, holder: str, until: str) -> None:
        super().__init__(
            f"batch {job_id}/{batch_id} is held by {holder} until {until}; not starting it twice"
        )
        self.job_id = job_id
        self.batch_id = batch_id
        self.holder = holder
        self.until = until


class ConcurrentChange(ObservabilityError):
    """Someone else changed the same record since it was read: read it again, then decide."""


class RunSuperseded(ObservabilityError):
    """This run lost its batch (declared stale and taken over): its result is not recorded."""


class StoreUnavailable(ObservabilityError):
    """The audit table could not be read or written (after botocore's own retries)."""


class NotifierUnavailable(ObservabilityError):
    """The failure signal could not be published."""


class NonRetryableError(Exception):
    """Raise (or subclass) inside a batch to fail it without automatic retries and alert at once.

    Deliberately not an ObservabilityError: it is the pipeline's error, not the library's.
    """


class OutcomeUnknown(StoreUnavailable):
    """A write's reply never came and the item could not be read back: it may have landed."""
