"""Firing a stored trigger: one sender per AWS target, custom ones, failures classified."""

from __future__ import annotations

from remediator.triggers.dispatch import (
    ENTRY_POINT_GROUP,
    Firer,
    RunTaskFailed,
    TriggerContext,
    classify,
    execution_name,
    fire,
    register_trigger,
    target_of,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Firer",
    "RunTaskFailed",
    "TriggerContext",
    "classify",
    "execution_name",
    "fire",
    "register_trigger",
    "target_of",
]
