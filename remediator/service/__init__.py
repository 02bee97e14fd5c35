"""The long-running process: the loop's threads, the SQS poll, the index sweep, health."""

from __future__ import annotations

from remediator.service.loop import Service, Summary

__all__ = ["Service", "Summary"]
