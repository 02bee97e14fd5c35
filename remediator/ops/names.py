"""Names a person types (a job, a rule, an error type) against the names that exist.

A misspelt name must not read as "nothing is broken": a name that matches nothing is an
error naming the closest one that exists, while an empty answer for a real name stays an
answer. Jobs come from the job registry (one Query of its partition, never a scan), then,
for a job whose registration has not landed, from the first item of its own partition.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import datetime

from observability.audit import AuditStore
from observability.clients import AwsClients
from remediator.errors import RemediatorError
from remediator.ops.jobs import registered

__all__ = ["UnknownName", "check_job", "check_name", "closest"]


class UnknownName(RemediatorError):
    """A job, rule or error type that nothing in the table has ever carried."""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The existing name nearest to `name` (case aside), or None when none is near."""
    by_folded = {k.casefold(): k for k in sorted(known)}
    found = difflib.get_close_matches(name.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[found[0]] if found else None


def _unknown(kind: str, name: str, known: Iterable[str]) -> UnknownName:
    near = closest(name, known)
    hint = f"; did you mean {near!r}?" if near else ""
    return UnknownName(f"no {kind} named {name!r}{hint}")


def check_name(kind: str, name: str, known: Iterable[str]) -> None:
    """Raise UnknownName unless `name` is one of `known` (exactly)."""
    names = set(known)
    if name not in names:
        raise _unknown(kind, name, names)


def check_job(clients: AwsClients, store: AuditStore, job_id: str, now: datetime) -> None:
    """Raise UnknownName unless the table has seen job `job_id`."""
    jobs = registered(clients, store.table_name, now)
    if job_id in jobs:
        return
    if next(iter(store.states(job_id, now)), None) is not None:
        return  # recorded, and its registration not (yet) written
    raise _unknown("job", job_id, jobs)
