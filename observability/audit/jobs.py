"""A job's defaults: how its batches re-run (trigger) and are retried (policy).

One item per job, beside its batches (pk JOB#<job>, sk POLICY), set by an operator with
`remediator policy set` or by the pipeline with `AuditTrail.set_job_policy`; `source` opts in
a pipeline that does not import the library (`glue:NAME`, `states:ARN`: its runs are read
from AWS's state-change events, see remediator.events). Every change
is audited in the item itself: who, when, what it was, what it became (the last
`MAX_CHANGES`). Readers cache it for `cache_seconds` (60 by default): a change reaches every
producer and replica within that time, and costs them one read per job per minute.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from observability.errors import InvalidInput
from observability.models.keys import BatchKey, job_pk
from observability.models.records import Plain, iso
from observability.retry.rules import RetryPolicy
from observability.transitions import Write
from observability.triggers import trigger_from_dict

__all__ = [
    "MAX_CHANGES",
    "POLICY_SK",
    "JobPolicies",
    "JobPolicy",
    "change_policy",
    "policy_key",
]

POLICY_SK = "POLICY"
MAX_CHANGES = 50
_UNSET = object()


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """A job's stored defaults and their change log."""

    job_id: str
    retry: RetryPolicy | None = None
    trigger: dict[str, Any] | None = None
    source: str | None = None
    version: int = 0
    updated_at: str | None = None
    updated_by: str | None = None
    changes: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_plain(cls, job_id: str, data: Mapping[str, Plain]) -> JobPolicy:
        retry, trigger, source = data.get("retry"), data.get("trigger"), data.get("source")
        changes = data.get("changes")
        return cls(
            job_id=job_id,
            retry=RetryPolicy.from_json(retry) if isinstance(retry, str) else None,
            trigger=json.loads(trigger) if isinstance(trigger, str) else None,
            source=source if isinstance(source, str) else None,
            version=int(data.get("version") or 0),
            updated_at=data.get("updated_at") if isinstance(data.get("updated_at"), str) else None,
            updated_by=data.get("updated_by") if isinstance(data.get("updated_by"), str) else None,
            changes=tuple(c for c in changes if isinstance(c, dict))
            if isinstance(changes, list)
            else (),
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of `remediator policy show`."""
        return {
            "job_id": self.job_id,
            "retry": self.retry.to_dict() if self.retry else None,
            "trigger": self.trigger,
            **({"source": self.source} if self.source else {}),
            "version": self.version,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "changes": [
                {
                    **c,
                    "old": json.loads(c["old"]) if c.get("old") else None,
                    "new": json.loads(c["new"]) if c.get("new") else None,
                }
                for c in self.changes
            ],
        }


def _trigger_json(trigger: Any) -> str:
    data = trigger.to_dict() if hasattr(trigger, "to_dict") else trigger
    if not isinstance(data, dict):
        raise InvalidInput("trigger", "must be a Trigger or its JSON object")
    spec = trigger_from_dict(dict(data))  # validated as the producer validates it
    return spec.to_json()


def change_policy(
    current: JobPolicy,
    *,
    actor: str,
    now: datetime,
    retry: RetryPolicy | object | None = _UNSET,
    trigger: Any = _UNSET,
    source: str | object | None = _UNSET,
) -> Write:
    """The conditional write that sets (a value) or clears (None) the retry policy, the
    default trigger and/or the source, on condition that nobody changed the item since
    `current`."""
    sets: dict[str, Plain] = {}
    remove: list[str] = []
    changes: list[dict[str, Plain]] = []
    for name, value, old in (
        ("retry", retry, current.retry.to_json() if current.retry else None),
        ("trigger", trigger, json.dumps(current.trigger, sort_keys=True, separators=(",", ":"))
         if current.trigger else None),
        ("source", source, current.source),
    ):  # fmt: skip
        if value is _UNSET:
            continue
        if value is None:
            new = None
            remove.append(name)
        elif name == "retry":
            if not isinstance(value, RetryPolicy):
                raise InvalidInput("retry", "must be a RetryPolicy")
            new = value.to_json()
            sets[name] = new
        elif name == "source":
            new = str(value)
            sets[name] = new
        else:
            new = _trigger_json(value)
            sets[name] = new
        if new != old:
            change: dict[str, Plain] = {"at": iso(now), "by": actor, "field": name}
            # The log holds JSON, as retry and trigger are stored; a source is plain text.
            logged = json.dumps if name == "source" else str
            if old is not None:
                change["old"] = logged(old)
            if new is not None:
                change["new"] = logged(new)
            changes.append(change)
    if not sets and not remove:
        raise InvalidInput("policy", "name what to set or clear: retry, trigger, source")
    after = current.retry if retry is _UNSET else retry
    kept_trigger = sets.get("trigger", current.trigger if trigger is _UNSET else None)
    if isinstance(after, RetryPolicy) and kept_trigger:
        # A rule's overrides never take the job's trigger past its target's limits.
        after.check_trigger(
            json.loads(kept_trigger) if isinstance(kept_trigger, str) else kept_trigger
        )
    kept = [*current.changes, *changes][-MAX_CHANGES:]
    return Write(
        key=BatchKey(current.job_id, POLICY_SK),
        sort_key=POLICY_SK,
        condition="attribute_not_exists(#pk) OR #version = :version",
        values={":version": current.version},
        set={
            **sets,
            "version": current.version + 1,
            "updated_at": iso(now),
            "updated_by": actor,
            "changes": kept,
        },
        remove=tuple(remove),
    )


class JobPolicies:
    """Job policies as a process sees them: read once, then cached for `cache_seconds`."""

    def __init__(
        self,
        read: Callable[[str], JobPolicy | None],
        *,
        cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, JobPolicy | None]] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> JobPolicy | None:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(job_id)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        policy = self._read(job_id)
        with self._lock:
            self._cache[job_id] = (now, policy)
            if len(self._cache) > 10_000:
                self._cache.pop(next(iter(self._cache)))
        return policy

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._cache.pop(job_id, None)


def policy_key(job_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": job_pk(job_id)}, "sk": {"S": POLICY_SK}}
