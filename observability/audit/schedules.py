"""A job's schedule item: its calendar, where the deadline sweep stands, and the change log.

One item per job, beside its batches (pk JOB#<job>, sk SCHEDULE), set by a person
(`remediator schedule set`) or by the pipeline (`AuditTrail.expect`), audited like a
policy: who, when, what it was, what it became (the last `MAX_CHANGES`, as one line each,
so that a calendar of 10,000 ids is stored once). While the job expects a batch, the item
carries due-index keys (`DEADLINE#<n>`, due at the next deadline, or at the next look at a
late or running batch): the sweep reads only the schedules whose time has come, however
many jobs and periods there are.

The sweep's state: `cursor` (the calendar resumes after it), `late` (batch id to its
deadline: missed and alerted, waiting to land), `slow` (batch id to the attempt flagged
too slow). A change of calendar keeps `checked_through` (no deadline already handled is
handled again) and drops the cursor, which belongs to the old calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.audit.jobs import MAX_CHANGES
from observability.audit.store import AuditStore
from observability.errors import StoreUnavailable
from observability.models.calendar import Calendar
from observability.models.keys import (
    DUE_INDEX,
    BatchKey,
    deadline_partition,
    deadline_partitions,
    job_id_from_pk,
    schedule_key,
)
from observability.models.records import Plain, av_map, iso
from observability.transitions import Write

__all__ = [
    "SCHEDULE_SK",
    "UNPAGED",
    "JobSchedule",
    "change_schedule",
    "due_schedules",
    "late_counts",
    "read_schedule",
    "step_schedule",
]

SCHEDULE_SK = schedule_key("-")[1]
UNPAGED = "="  # marks the deadline, in `late`, of a batch counted in a summary alert


def _text(data: Mapping[str, Plain], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """A job's stored schedule and the sweep's place in it."""

    job_id: str
    calendar: Calendar | None = None
    version: int = 0
    updated_at: str | None = None
    updated_by: str | None = None
    changes: tuple[dict[str, Any], ...] = ()
    cursor: str | None = None
    checked_through: str | None = None
    late: dict[str, str] = field(default_factory=dict)
    slow: dict[str, int] = field(default_factory=dict)
    due_at: str | None = None

    @classmethod
    def from_plain(cls, job_id: str, data: Mapping[str, Plain]) -> JobSchedule:
        raw = data.get("calendar")
        late, slow, changes = data.get("late"), data.get("slow"), data.get("changes")
        return cls(
            job_id=job_id,
            calendar=Calendar.from_json(raw) if isinstance(raw, str) else None,
            version=int(data.get("version") or 0),
            updated_at=_text(data, "updated_at"),
            updated_by=_text(data, "updated_by"),
            changes=tuple(c for c in changes if isinstance(c, dict))
            if isinstance(changes, list)
            else (),
            cursor=_text(data, "cursor"),
            checked_through=_text(data, "checked_through"),
            late={k: str(v) for k, v in late.items()} if isinstance(late, dict) else {},
            slow={k: int(v) for k, v in slow.items() if isinstance(v, int)}
            if isinstance(slow, dict)
            else {},
            due_at=_text(data, "due_at"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of `remediator schedule show`."""
        cal = self.calendar
        return {
            "job_id": self.job_id,
            "calendar": None if cal is None else {
                "every": cal.every, "cron": cal.cron, "format": cal.format, "start": cal.start,
                "tz": cal.tz, "deadline_seconds": cal.deadline_seconds,
                "batches": len(cal.batches) or None, "due_at": cal.due_at,
                "max_run_seconds": cal.max_run_seconds, "describe": cal.describe(),
            },
            "next_check_at": self.due_at,
            "checked_through": self.checked_through,
            "late": {k: v.removeprefix(UNPAGED) for k, v in sorted(self.late.items())},
            "version": self.version,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "changes": list(self.changes),
        }  # fmt: skip


def read_schedule(store: AuditStore, job_id: str) -> JobSchedule | None:
    """The job's schedule item (consistent read), or None."""
    pk, sk = schedule_key(job_id)
    item = store.other_item({"pk": {"S": pk}, "sk": {"S": sk}})
    return JobSchedule.from_plain(job_id, item) if item is not None else None


def due_schedules(store: AuditStore, shards: int, until: datetime) -> list[str]:
    """The jobs whose schedule is due by `until`: one Query per `DEADLINE#` shard of the
    due-index, returning only those (hints: the schedule item is the fact)."""
    jobs: list[str] = []
    paginator = store.clients.client("dynamodb").get_paginator("query")
    try:
        for partition in deadline_partitions(shards):
            for page in paginator.paginate(
                TableName=store.table_name,
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_pk = :p AND due_at <= :until",
                ExpressionAttributeValues=av_map({":p": partition, ":until": iso(until)}),
            ):
                jobs += [job_id_from_pk(i["pk"]["S"]) for i in page.get("Items", [])]
    except (ClientError, BotoCoreError) as exc:
        raise StoreUnavailable(
            f"Query of {DUE_INDEX} on {store.table_name!r} failed: {exc}"
        ) from exc
    return jobs


def late_counts(store: AuditStore, job_ids: list[str]) -> dict[str, int]:
    """How many batches each job's schedule holds late (BatchGetItem, 100 jobs a call)."""
    ddb = store.clients.client("dynamodb")
    counts: dict[str, int] = {}
    for start in range(0, len(job_ids), 100):
        keys = [dict(zip(("pk", "sk"), ({"S": k} for k in schedule_key(j)), strict=True))
                for j in job_ids[start : start + 100]]  # fmt: skip
        request: dict[str, Any] = {
            store.table_name: {
                "Keys": keys,
                "ProjectionExpression": "#pk, #late",
                "ExpressionAttributeNames": {"#pk": "pk", "#late": "late"},
            }
        }
        try:
            while request:
                reply = ddb.batch_get_item(RequestItems=request)
                for item in reply.get("Responses", {}).get(store.table_name, []):
                    counts[job_id_from_pk(item["pk"]["S"])] = len(item.get("late", {}).get("M", {}))
                request = reply.get("UnprocessedKeys") or {}
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(f"BatchGetItem on {store.table_name!r} failed: {exc}") from exc
    return counts


def _write(current: JobSchedule, sets: dict[str, Plain], remove: tuple[str, ...]) -> Write:
    return Write(
        key=BatchKey(current.job_id, SCHEDULE_SK),
        sort_key=SCHEDULE_SK,
        condition="attribute_not_exists(#pk) OR #version = :version",
        values={":version": current.version},
        set={**sets, "version": current.version + 1},
        remove=remove,
    )


def change_schedule(
    current: JobSchedule, calendar: Calendar | None, *, actor: str, now: datetime, shards: int,
    operator: str | None = None,
) -> Write:  # fmt: skip
    """Set (a calendar) or clear (None) the job's schedule, on condition that nobody changed
    the item since `current`. A set is due at once: the next sweep places its deadline."""
    old = current.calendar.describe() if current.calendar else None
    change: dict[str, Plain] = {"at": iso(now), "by": actor, "field": "schedule"}
    if operator:
        change["operator"] = operator
    if old is not None:
        change["old"] = old
    sets: dict[str, Plain] = {"updated_at": iso(now), "updated_by": actor}
    remove: tuple[str, ...] = ("cursor",)
    if calendar is None:
        remove = ("calendar", "cursor", "late", "slow", "due_pk", "due_at")
    else:
        change["new"] = calendar.describe()
        sets["calendar"] = calendar.to_json()
        sets["due_pk"] = deadline_partition(current.job_id, shards)
        sets["due_at"] = iso(now)
        if current.calendar is not None and current.calendar == calendar:
            remove = ()  # the same calendar again: the sweep keeps its place
    sets["changes"] = [*current.changes, change][-MAX_CHANGES:]
    return _write(current, sets, remove)


def step_schedule(
    current: JobSchedule, *, cursor: str | None, checked_through: str | None,
    late: Mapping[str, str], slow: Mapping[str, int], next_at: datetime | None, shards: int,
) -> Write:  # fmt: skip
    """The sweep's step: where the calendar now stands, and when to look again (None: the
    calendar has nothing more to expect and nothing is late, so it leaves the index)."""
    sets: dict[str, Plain] = {"late": dict(late), "slow": dict(slow)}
    remove: list[str] = []
    for name, value in (("cursor", cursor), ("checked_through", checked_through)):
        if value is None:
            remove.append(name)
        else:
            sets[name] = value
    if next_at is None:
        remove += ["due_pk", "due_at"]
    else:
        sets["due_pk"] = deadline_partition(current.job_id, shards)
        sets["due_at"] = iso(next_at)
    return _write(current, sets, tuple(remove))
