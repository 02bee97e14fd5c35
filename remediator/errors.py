"""Exceptions of the remediator; every one derives from RemediatorError."""

from __future__ import annotations

__all__ = ["ProvisionError", "RemediatorError", "TriggerError", "TriggerRejected"]


class RemediatorError(Exception):
    """Root of every error the remediator raises on its own account."""


class ProvisionError(RemediatorError):
    """A resource could not be created, or exists with a shape the code does not expect."""


class TriggerError(RemediatorError):
    """A re-trigger failed in a way worth retrying (throttling, timeouts, 5xx)."""


class TriggerRejected(RemediatorError):
    """A re-trigger was refused for good (missing target, bad parameters, denied)."""
