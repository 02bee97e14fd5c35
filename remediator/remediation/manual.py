"""The writes of a person's closing verbs: resolve and cancel. Pure.

Each is one conditional write of the batch's item, on condition that the batch is exactly as
the person's command read it (status and version): a batch that moved on in between (a
re-trigger claimed it, its re-run started) is refused, never overwritten, and the event
commits with the state change or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from observability.models import BatchState, EventType, Status, iso
from observability.models.keys import exhausted_partition
from observability.transitions import Scalar, TableConfig, Write, event_item, with_history

__all__ = ["CANCELLED", "cancelled", "resolved"]

CANCELLED = "cancelled"  # the EXHAUSTED reason of a batch whose retries a person stopped

_AS_READ = "#status = :status AND #version = :version"
# What only an open failure episode holds: its due key, its lease, its rule, its alert.
_EPISODE = (
    "due_pk",
    "due_at",
    "lease_owner",
    "lease_expires_at",
    "pending_trigger",
    "alerted",
    "first_failed_at",
    "rule",
    "cap",
    "deadline",
    "cap_override",
    "refusals",
)


def _as_read(state: BatchState) -> dict[str, Scalar]:
    return {":status": state.status.value, ":version": state.version}


def resolved(
    state: BatchState,
    cfg: TableConfig,
    *,
    actor: str,
    now: datetime,
    note: str,
    detail: Mapping[str, str],
) -> Write:
    """RESOLVED: closed by a person. Its episode ends as a SUCCESS ends one (a later run
    counts its attempts afresh); its due keys go, so no sweep ever finds it again."""
    return _closed(
        state, cfg, now=now, actor=actor,
        status=Status.RESOLVED, event=EventType.RESOLVED,
        detail={**detail, "was": state.status.value, "note": note},
        extra={"attempt_floor": state.attempt},
        remove=_EPISODE,
    )  # fmt: skip


def cancelled(
    state: BatchState,
    cfg: TableConfig,
    *,
    actor: str,
    now: datetime,
    reason: str,
    detail: Mapping[str, str],
) -> Write:
    """EXHAUSTED (`cancelled`) at once: no retry is due any more; still a failure, listed by
    `failed` and returned by `pending()`. Not `alerted`: the person asking knows."""
    return _closed(
        state, cfg, now=now, actor=actor,
        status=Status.EXHAUSTED, event=EventType.EXHAUSTED,
        detail={**detail, "reason": CANCELLED, "why": reason},
        error_type=state.error_type,
        # Listed under EXHAUSTED#, which no sweep reads: never re-triggered from here.
        extra={"due_pk": exhausted_partition(state.key, cfg.shards), "due_at": iso(now)},
        remove=("lease_owner", "lease_expires_at", "pending_trigger"),
    )  # fmt: skip


def _closed(
    state: BatchState,
    cfg: TableConfig,
    *,
    now: datetime,
    actor: str,
    status: Status,
    event: EventType,
    detail: Mapping[str, str],
    extra: Mapping[str, Scalar],
    remove: tuple[str, ...],
    error_type: str | None = None,
) -> Write:
    """A person's transition: one conditional write on the status and version read."""
    version = state.version + 1
    item = event_item(
        event=event,
        version=version,
        attempt=state.attempt,
        status=status,
        at=now,
        actor=actor,
        trace_id=state.trace_id,
        error_type=error_type,
        detail=dict(detail),
    )
    write = Write(
        key=state.key,
        condition=_AS_READ,
        values=_as_read(state),
        restates=True,
        set={
            "status": status.value,
            "version": version,
            "updated_at": iso(now),
            "expires_at": cfg.expires_at(now),
            **extra,
        },
        remove=remove,
        events=(item,),
    )
    return with_history(state, write, cfg, now)
