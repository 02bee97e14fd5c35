"""`resolve` and `cancel`: a person closes batches by hand, or stops their retries.

`resolve` closes FAILED or EXHAUSTED batches for good (RESOLVED: fixed by hand, or accepted
as they are) and resolves the alert a batch raised; `cancel` stops the automatic retries of
FAILED batches now (EXHAUSTED, reason `cancelled`, no page). Each batch is one conditional
write on the status and version read here: a batch that moved on in between is reported as
a conflict, never written over and never retried blindly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from observability.audit import AuditStore, ConditionFailed
from observability.errors import InvalidInput, ObservabilityError
from observability.models import BatchState, Status, iso
from observability.models.keys import BatchKey, validate_id
from observability.models.signals import RECOVERED, Signal
from observability.notifier import Notifier
from observability.transitions import TableConfig, Write
from remediator.alerts.formats.summary import RESOLVED_BY_HAND
from remediator.errors import RemediatorError
from remediator.ops.identity import Actor
from remediator.remediation.manual import cancelled, resolved

__all__ = [
    "CANCELLABLE",
    "RESOLVABLE",
    "NotClosable",
    "cancel",
    "checked_text",
    "plan",
    "resolve",
    "select",
]

RESOLVABLE = frozenset({Status.FAILED, Status.EXHAUSTED})
# Only a FAILED batch has automatic retries to stop: an EXHAUSTED one has none left.
CANCELLABLE = frozenset({Status.FAILED})
MAX_TEXT = 1024  # a note or a reason: one paragraph, not a log file


class NotClosable(RemediatorError):
    """A named batch has no record, or its status does not allow the verb: nothing written."""


def checked_text(option: str, text: str) -> str:
    """A note or a reason as one line, not empty, not a page (InvalidInput naming `option`)."""
    flat = " ".join(text.split())
    if not flat:
        raise InvalidInput(option, "must say why, in a few words")
    if len(flat) > MAX_TEXT:
        raise InvalidInput(option, f"is {len(flat)} characters; at most {MAX_TEXT}")
    return flat


def select(
    store: AuditStore,
    job_id: str,
    batch_ids: Sequence[str],
    now: datetime,
    *,
    allowed: frozenset[Status],
    verb: str,
) -> list[BatchState]:
    """The named batches as they stand, each in one of the `allowed` statuses."""
    job = validate_id("job_id", job_id)
    keys = list(dict.fromkeys(BatchKey.of(job, b) for b in batch_ids))
    found = store.get_many(job, [k.batch_id for k in keys], now)
    missing = [k.batch_id for k in keys if k.batch_id not in found]
    if missing:
        raise NotClosable(f"no record of batch(es) {', '.join(missing)} in job {job!r}")
    chosen = [found[k.batch_id] for k in keys]
    refused = [s for s in chosen if s.status not in allowed]
    if refused:
        names = " or ".join(sorted(s.value for s in allowed))
        listing = ", ".join(f"{s.batch_id} ({s.status.value})" for s in refused)
        raise NotClosable(f"only {names} batches are {verb}; not {listing}")
    return chosen


def plan(chosen: Sequence[BatchState], becomes: str) -> list[dict[str, Any]]:
    """What the verb would do, batch by batch (the JSON of `--dry-run`)."""
    return [
        {
            "job_id": s.job_id,
            "batch_id": s.batch_id,
            "status": s.status.value,
            "attempt": s.attempt,
            "becomes": becomes,
        }
        for s in chosen
    ]


def _commit(store: AuditStore, state: BatchState, write: Write) -> dict[str, Any]:
    """One conditional write; a lost race is reported with what the batch is now."""
    result: dict[str, Any] = {"batch_id": state.batch_id, "was": state.status.value}
    try:
        store.apply(write)
    except ConditionFailed as lost:
        now = BatchState.from_item(lost.old) if lost.old else None
        where = f"now {now.status.value}, version {now.version}" if now else "now gone"
        return {
            **result,
            "outcome": "conflict",
            "detail": f"changed since it was read ({where}); nothing written: look again",
        }
    return {**result, "outcome": "done"}


def resolve(
    store: AuditStore,
    notifier: Notifier,
    chosen: Sequence[BatchState],
    *,
    actor: Actor,
    note: str,
    now: datetime,
    table: TableConfig,
) -> list[dict[str, Any]]:
    """RESOLVED, batch by batch; the alert of a batch that paged someone is resolved (a
    RECOVERED signal naming who and why, which the alert router turns into a PagerDuty
    resolve and a Slack line)."""
    note = checked_text("--note", note)
    results = []
    for state in chosen:
        write = resolved(state, table, actor=actor.arn, now=now, note=note, detail=actor.detail())
        result = _commit(store, state, write)
        if result["outcome"] == "done":
            result["outcome"] = "resolved"
            if state.alerted:
                result["alert"] = _resolve_alert(notifier, state, write, actor, note, now)
        results.append(result)
    return results


def _resolve_alert(
    notifier: Notifier, state: BatchState, write: Write, actor: Actor, note: str, now: datetime
) -> str:
    after = dataclasses.replace(
        state, status=Status.RESOLVED, version=int(write.set.get("version", state.version))
    )
    signal = Signal.of(RECOVERED, after, at=iso(now), reason=RESOLVED_BY_HAND, actor=str(actor))
    try:
        notifier.publish(dataclasses.replace(signal, note=note))
    except ObservabilityError as exc:
        # The batch is resolved either way; its page stays open until someone closes it.
        return f"not resolved: {exc}"
    return "resolved"


def cancel(
    store: AuditStore,
    chosen: Sequence[BatchState],
    *,
    actor: Actor,
    reason: str,
    now: datetime,
    table: TableConfig,
) -> list[dict[str, Any]]:
    """EXHAUSTED (`cancelled`), batch by batch: nothing re-triggers them any more."""
    reason = checked_text("--reason", reason)
    results = []
    for state in chosen:
        write = cancelled(
            state, table, actor=actor.arn, now=now, reason=reason, detail=actor.detail()
        )
        result = _commit(store, state, write)
        if result["outcome"] == "done":
            result["outcome"] = "cancelled"
        results.append(result)
    return results
