"""`pause` / `resume`: hold a job's (or a trigger target's) re-triggers, and let them go.

While a pause holds, failures are still recorded and signalled and due times are kept;
the service triggers, exhausts and marks stale nothing it holds (remediator.remediation.hold).
Each verb is one UpdateItem of the pauses item; a job's resume also closes its open circuit
(one conditional UpdateItem of its breaker), so its due batches go at the budget's pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from observability.errors import InvalidInput
from observability.models import iso
from observability.models.keys import breaker_key, validate_id
from remediator.errors import RemediatorError
from remediator.guards.item import Item
from remediator.guards.pause_item import mark_resumed, read_pauses, write_pause
from remediator.guards.pauses import JOB, TARGET, Pause, PauseSet, scope_attribute
from remediator.ops.identity import Actor

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["MAX_REASON", "NotPaused", "Scope", "pause", "pauses", "plan_pause", "resume"]

MAX_REASON = 1_000


class NotPaused(RemediatorError):
    """`resume` of a scope that holds no pause: nothing was written."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a pause holds: a job, or a trigger target (as the person named it)."""

    kind: str
    name: str

    @classmethod
    def of(cls, job_id: str | None, target: str | None) -> Scope:
        if bool(job_id) == bool(target):
            raise InvalidInput("JOB / --target", "name a job, or a target with --target (one)")
        if job_id:
            return cls(JOB, validate_id("job_id", job_id))
        assert target is not None
        name = target.strip()
        if not name or len(name) > 2048:
            raise InvalidInput("--target", "must be 1 to 2048 characters")
        return cls(TARGET, name)


def plan_pause(
    scope: Scope, *, actor: Actor, now: datetime, reason: str, until: datetime | None = None
) -> Pause:
    """The pause to write, checked: a reason, and an end in the future if any."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput("--reason", "say why (it is shown to whoever finds the job paused)")
    if len(reason) > MAX_REASON:
        raise InvalidInput("--reason", f"at most {MAX_REASON} characters")
    if until is not None and until <= now:
        raise InvalidInput("--until", f"{iso(until)} is not in the future (now {iso(now)})")
    return Pause(
        scope=scope.kind, name=scope.name, reason=reason, actor=actor.arn, at=iso(now),
        operator=actor.operator, until=iso(until) if until else None,
    )  # fmt: skip


def pause(clients: AwsClients, table: str, planned: Pause) -> dict[str, Any]:
    """Write the pause (replacing any of the same scope); returns it and what it replaced."""
    replaced = write_pause(clients, table, planned)
    return {"pause": planned.as_dict(), "replaced": replaced.as_dict() if replaced else None}


def resume(
    clients: AwsClients, table: str, scope: Scope, *, actor: Actor, now: datetime
) -> dict[str, Any]:
    """Mark the scope's pause resumed; a job's open circuit is closed too."""
    was = mark_resumed(
        clients, table, scope_attribute(scope.kind, scope.name),
        actor=actor.arn, operator=actor.operator, at=iso(now),
    )  # fmt: skip
    if was is None:
        raise NotPaused(f"{scope.kind} {scope.name!r} is not paused: nothing was written")
    closed = scope.kind == JOB and _close_circuit(clients, table, scope.name, now)
    return {"resumed": was.as_dict(), "circuit_closed": closed, "by": str(actor)}


def pauses(clients: AwsClients, table: str) -> PauseSet:
    return read_pauses(clients, table)


def _close_circuit(clients: AwsClients, table: str, job_id: str, now: datetime) -> bool:
    """The job's circuit, if open, closed now: its failures counted afresh from here."""
    closed = Item(clients, table).update(
        breaker_key(job_id),
        UpdateExpression="SET #start = :now REMOVE #open, #seen",
        ConditionExpression="attribute_exists(#open) AND #open > :now",
        ExpressionAttributeNames={
            "#open": "open_until",
            "#seen": "seen",
            "#start": "window_start",
        },
        ExpressionAttributeValues={":now": {"S": iso(now)}},
    )
    return closed is not None
