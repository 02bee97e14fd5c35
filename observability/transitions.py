"""What each transition writes, and on which condition. Pure: the store only executes these.

A transition is one conditional change of the state item plus its event item(s), committed
together in one TransactWriteItems. Event sort keys carry the state's new version, so two
writers can never both record "version 5" of a batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from observability.backoff import RetryAt, Verdict
from observability.keys import (
    BatchKey,
    event_sk,
    exhausted_partition,
    failed_partition,
    live_partition,
)
from observability.models import BatchState, EventType, Status, av, iso

__all__ = [
    "Scalar",
    "TableConfig",
    "Write",
    "applied",
    "event_item",
    "failure",
    "heartbeat",
    "holder",
    "settle",
    "start_again",
    "start_new",
    "success",
    "truncate",
]

Scalar = str | int | bool
MAX_ERROR_CHARS = 1024
_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class TableConfig:
    """The parts of the settings that shape items: shards, staleness, retention."""

    shards: int = 8
    stale_after_seconds: float = 3600.0
    ttl_days: int = 90

    def expires_at(self, now: datetime) -> int:
        return int((now + timedelta(days=self.ttl_days)).timestamp())

    def stale_at(self, now: datetime) -> str:
        return iso(now + timedelta(seconds=self.stale_after_seconds))


@dataclass(frozen=True, slots=True)
class Write:
    """One conditional write of a state item, and the event items that commit with it.

    `put` replaces the whole state item (a batch seen for the first time); otherwise
    `set`/`remove` become an UpdateExpression. `condition` names attributes as `#name` and
    values as `:name`; every `#name` is mapped to the attribute of the same name.
    """

    key: BatchKey
    condition: str
    values: Mapping[str, Scalar] = field(default_factory=dict)
    set: Mapping[str, Scalar] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    events: tuple[Mapping[str, Scalar], ...] = ()
    put: bool = False
    # Events normally land on a fresh version; a reserved slot must not be written twice.
    event_condition: bool = False

    def names(self) -> dict[str, str]:
        used = set(_NAME.findall(self.condition))
        if not self.put:
            used |= set(self.set) | set(self.remove)
        return {f"#{name}": name for name in sorted(used)}

    def update_expression(self) -> str:
        parts = []
        if self.set:
            parts.append("SET " + ", ".join(f"#{k} = :set_{k}" for k in self.set))
        if self.remove:
            parts.append("REMOVE " + ", ".join(f"#{k}" for k in self.remove))
        return " ".join(parts)

    def expression_values(self) -> dict[str, Scalar]:
        out: dict[str, Scalar] = dict(self.values)
        if not self.put:
            out.update({f":set_{k}": v for k, v in self.set.items()})
        return out

    def item(self) -> dict[str, Scalar]:
        """The whole state item, for a `put` write."""
        return {"pk": self.key.pk, "sk": self.key.sk, **self.set}


def applied(prev: BatchState | None, write: Write) -> BatchState:
    """The state a committed write leaves behind, without reading it back."""
    base = {} if write.put or prev is None else prev.to_scalars()
    merged = {**base, **write.set}
    for name in write.remove:
        merged.pop(name, None)
    return BatchState.from_item({k: av(v) for k, v in merged.items()})


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_item(
    key: BatchKey,
    *,
    event: EventType,
    version: int,
    attempt: int,
    status: Status,
    at: datetime,
    actor: str,
    trace_id: str | None,
    expires_at: int,
    error_type: str | None = None,
    error_message: str | None = None,
    duration_ms: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Scalar]:
    item: dict[str, Scalar] = {
        "pk": key.pk,
        "sk": event_sk(key.batch_id, version),
        "job_id": key.job_id,
        "batch_id": key.batch_id,
        "event": event.value,
        "version": version,
        "attempt": attempt,
        "status": status.value,
        "at": iso(at),
        "actor": actor,
        "expires_at": expires_at,
    }
    if trace_id:
        item["trace_id"] = trace_id
    if error_type:
        item["error_type"] = error_type
        item["error_message"] = error_message or ""
    if duration_ms is not None:
        item["duration_ms"] = duration_ms
    if detail:
        item["detail"] = json.dumps(dict(detail), separators=(",", ":"), default=str)
    return item


def holder(state: BatchState, now: datetime, stale_after_seconds: float) -> tuple[str, str] | None:
    """Who holds the batch right now, and until when; None when it is free to start.

    Only a live run holds a batch. A remediator's lease marks a re-trigger in flight: the
    run it triggers must be able to start at once, even before the trigger is recorded.
    """
    stamp = iso(now)
    if state.status is Status.STARTED and state.heartbeat_at:
        until = iso(
            datetime.fromisoformat(state.heartbeat_at.replace("Z", "+00:00"))
            + timedelta(seconds=stale_after_seconds)
        )
        if until > stamp:
            return (f"run {state.run_id}", until)
    return None


def _started_set(
    key: BatchKey,
    cfg: TableConfig,
    *,
    now: datetime,
    attempt: int,
    version: int,
    run_id: str,
    trace_id: str,
    trigger_json: str | None,
) -> dict[str, Scalar]:
    values: dict[str, Scalar] = {
        "job_id": key.job_id,
        "batch_id": key.batch_id,
        "status": Status.STARTED.value,
        "attempt": attempt,
        "version": version,
        "run_id": run_id,
        "trace_id": trace_id,
        "started_at": iso(now),
        "heartbeat_at": iso(now),
        "updated_at": iso(now),
        "due_pk": live_partition(key, cfg.shards),
        "due_at": cfg.stale_at(now),
        "expires_at": cfg.expires_at(now),
    }
    if trigger_json is not None:
        values["trigger"] = trigger_json
    return values


def start_new(
    key: BatchKey,
    cfg: TableConfig,
    *,
    now: datetime,
    run_id: str,
    trace_id: str,
    actor: str,
    trigger_json: str | None,
) -> Write:
    """First run of a batch: put attempt 1 unless a live item exists (an expired one may)."""
    fields = _started_set(
        key,
        cfg,
        now=now,
        attempt=1,
        version=1,
        run_id=run_id,
        trace_id=trace_id,
        trigger_json=trigger_json,
    )
    event = event_item(
        key,
        event=EventType.STARTED,
        version=1,
        attempt=1,
        status=Status.STARTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
        expires_at=cfg.expires_at(now),
    )
    return Write(
        key=key,
        condition="attribute_not_exists(#pk) OR #expires_at <= :now_epoch",
        values={":now_epoch": int(now.timestamp())},
        set=fields,
        events=(event,),
        put=True,
    )


def start_again(
    prev: BatchState,
    cfg: TableConfig,
    *,
    now: datetime,
    run_id: str,
    actor: str,
    trigger_json: str | None,
) -> Write:
    """A later run: attempt = previous + 1, on condition that nothing changed since `prev`.

    The caller has checked `holder(prev, ...)`; the version condition makes that check hold
    at commit time too.
    """
    key = prev.key
    attempt, version = prev.attempt + 1, prev.version + 1
    trace_id = prev.trace_id or run_id
    fields = _started_set(
        key,
        cfg,
        now=now,
        attempt=attempt,
        version=version,
        run_id=run_id,
        trace_id=trace_id,
        trigger_json=trigger_json,
    )
    event = event_item(
        key,
        event=EventType.STARTED,
        version=version,
        attempt=attempt,
        status=Status.STARTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
        expires_at=cfg.expires_at(now),
    )
    return Write(
        key=key,
        condition="#version = :version AND #expires_at > :now_epoch",
        values={":version": prev.version, ":now_epoch": int(now.timestamp())},
        set=fields,
        remove=(
            "finished_at",
            "duration_ms",
            "error_type",
            "error_message",
            "lease_owner",
            "lease_expires_at",
        ),
        events=(event,),
    )


def _own_run_condition(run: BatchState, now: datetime) -> tuple[str, dict[str, Scalar]]:
    return (
        "#run_id = :run_id AND #status = :started AND #version = :version",
        {":run_id": run.run_id or "", ":started": Status.STARTED.value, ":version": run.version},
    )


def _duration_ms(run: BatchState, now: datetime) -> int:
    started = datetime.fromisoformat((run.started_at or iso(now)).replace("Z", "+00:00"))
    return max(0, int((now - started).total_seconds() * 1000))


def success(run: BatchState, cfg: TableConfig, *, now: datetime, actor: str) -> Write:
    """SUCCESS, only from the run that wrote STARTED (same run id and version)."""
    version = run.version + 1
    duration = _duration_ms(run, now)
    condition, values = _own_run_condition(run, now)
    detail: dict[str, Any] = {}
    if run.first_failed_at:
        first = datetime.fromisoformat(run.first_failed_at.replace("Z", "+00:00"))
        detail["recovered_after_seconds"] = round((now - first).total_seconds(), 3)
    event = event_item(
        run.key,
        event=EventType.SUCCESS,
        version=version,
        attempt=run.attempt,
        status=Status.SUCCESS,
        at=now,
        actor=actor,
        trace_id=run.trace_id,
        expires_at=cfg.expires_at(now),
        duration_ms=duration,
        detail=detail,
    )
    return Write(
        key=run.key,
        condition=condition,
        values=values,
        set={
            "status": Status.SUCCESS.value,
            "version": version,
            "finished_at": iso(now),
            "updated_at": iso(now),
            "duration_ms": duration,
            "expires_at": cfg.expires_at(now),
        },
        remove=("due_pk", "due_at", "error_type", "error_message", "first_failed_at", "alerted"),
        events=(event,),
    )


def settle(
    key: BatchKey,
    cfg: TableConfig,
    verdict: Verdict,
    *,
    version: int,
    attempt: int,
    now: datetime,
    actor: str,
    trace_id: str | None,
    error_type: str | None,
    error_message: str | None,
) -> tuple[dict[str, Scalar], tuple[dict[str, Scalar], ...]]:
    """Where a failure recorded at `version` leaves the batch: FAILED and due for its retry,
    or EXHAUSTED (one more event, listed under EXHAUSTED#, never swept).

    Returns the fields to set and the events that follow the failure's own event.
    """
    if isinstance(verdict, RetryAt):
        due = {"due_pk": failed_partition(key, cfg.shards), "due_at": iso(verdict.at)}
        return {"status": Status.FAILED.value, "version": version, **due}, ()
    exhausted = event_item(
        key,
        event=EventType.EXHAUSTED,
        version=version + 1,
        attempt=attempt,
        status=Status.EXHAUSTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
        expires_at=cfg.expires_at(now),
        error_type=error_type,
        error_message=error_message,
        detail={"reason": verdict.reason},
    )
    fields: dict[str, Scalar] = {
        "status": Status.EXHAUSTED.value,
        "version": version + 1,
        "alerted": True,
        "due_pk": exhausted_partition(key, cfg.shards),
        "due_at": iso(now),
    }
    return fields, (exhausted,)


def failure(
    run: BatchState,
    cfg: TableConfig,
    *,
    now: datetime,
    actor: str,
    error_type: str,
    error_message: str,
    retryable: bool,
    verdict: Verdict,
) -> Write:
    """FAILED (indexed for its retry) or, when no retry is allowed, FAILED then EXHAUSTED."""
    version = run.version + 1
    duration = _duration_ms(run, now)
    message = truncate(error_message)
    condition, values = _own_run_condition(run, now)
    failed_detail: dict[str, Any] = {"retryable": retryable}
    if isinstance(verdict, RetryAt):
        failed_detail["next_retry_at"] = iso(verdict.at)
    failed = event_item(
        run.key,
        event=EventType.FAILED,
        version=version,
        attempt=run.attempt,
        status=Status.FAILED,
        at=now,
        actor=actor,
        trace_id=run.trace_id,
        expires_at=cfg.expires_at(now),
        error_type=error_type,
        error_message=message,
        duration_ms=duration,
        detail=failed_detail,
    )
    outcome, after = settle(
        run.key,
        cfg,
        verdict,
        version=version,
        attempt=run.attempt,
        now=now,
        actor=actor,
        trace_id=run.trace_id,
        error_type=error_type,
        error_message=message,
    )
    return Write(
        key=run.key,
        condition=condition,
        values=values,
        set={
            "finished_at": iso(now),
            "updated_at": iso(now),
            "duration_ms": duration,
            "error_type": error_type,
            "error_message": message,
            "retryable": retryable,
            "first_failed_at": run.first_failed_at or iso(now),
            "expires_at": cfg.expires_at(now),
            **outcome,
        },
        events=(failed, *after),
    )


def heartbeat(run: BatchState, cfg: TableConfig, *, now: datetime) -> Write:
    """Keep a long run's claim alive: moves its stale deadline; not a transition (no event)."""
    return Write(
        key=run.key,
        condition="#run_id = :run_id AND #status = :started",
        values={":run_id": run.run_id or "", ":started": Status.STARTED.value},
        set={"heartbeat_at": iso(now), "due_at": cfg.stale_at(now)},
    )
