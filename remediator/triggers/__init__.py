"""Firing a stored trigger: one sender per AWS target, custom ones, failures classified."""

from __future__ import annotations

from remediator.triggers.context import Firer, TriggerContext
from remediator.triggers.custom import ENTRY_POINT_GROUP, register_trigger
from remediator.triggers.dispatch import classify, fire, target_of
from remediator.triggers.targets import RunTaskFailed, execution_name

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
