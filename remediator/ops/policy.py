"""`remediator policy`: a job's default retry policy and trigger, shown, set and cleared.

The logic of a change (what is written, on which condition, how it is audited) is
`observability.audit.jobs.change_policy`'s; this module reads what a person typed and shows the
result (rendered by `remediator.views.render.render_policy`). A change is recorded by the
caller's AWS identity (`by`), the declared operator beside it (`operator`).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from observability.audit import AuditStore, ConditionFailed
from observability.audit.jobs import JobPolicy, change_policy
from observability.errors import ConcurrentChange, InvalidInput
from observability.retry import RetryPolicy
from observability.transitions import Write
from observability.triggers import trigger_from_dict
from remediator.events.sources import parse_source
from remediator.ops.identity import Actor
from remediator.ops.sources import claim_source, release_source

__all__ = ["apply_change", "parse_json_argument"]


def parse_json_argument(option: str, text: str) -> Any:
    """JSON given inline, or `@path` to a file holding it; InvalidInput naming the option."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(option, f"cannot read {text[1:]!r}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(option, f"is not JSON: {exc}") from None


def apply_change(
    store: AuditStore,
    job_id: str,
    *,
    actor: Actor,
    now: datetime,
    retry: Any = None,
    trigger: Any = None,
    clear_retry: bool = False,
    clear_trigger: bool = False,
    source: str | None = None,
    clear_source: bool = False,
) -> tuple[JobPolicy | None, JobPolicy]:
    """Validate, then write one audited change; returns (before, after). A source is
    claimed for the job before the change is written (refused when another job has it),
    and the one it replaces is released after."""
    changes: dict[str, Any] = {}
    if source is not None:
        changes["source"] = parse_source(source)
    if clear_source:
        changes["source"] = None
    if retry is not None:
        changes["retry"] = RetryPolicy.from_dict(retry)
    if trigger is not None:
        changes["trigger"] = trigger_from_dict(trigger) if isinstance(trigger, dict) else trigger
    if clear_retry:
        changes["retry"] = None
    if clear_trigger:
        changes["trigger"] = None
    before = store.job_policy(job_id)
    current = before or JobPolicy(job_id)
    write = change_policy(current, actor=actor.arn, now=now, **changes)
    write = _declared(write, current, actor)
    if changes.get("source"):
        claim_source(store, changes["source"], job_id, actor=actor.arn, now=now)
    try:
        after = store.set_job_policy(write)
    except ConditionFailed:
        raise ConcurrentChange(
            f"the policy of job {job_id!r} changed while this change was made: run it again"
        ) from None
    if current.source and current.source != after.source:
        release_source(store, current.source, job_id)
    return before, after


def _declared(write: Write, current: JobPolicy, actor: Actor) -> Write:
    """The change log's new entries with the declared operator beside their `by`."""
    if not actor.operator:
        return write
    kept = write.set.get("changes")
    if not isinstance(kept, list):
        return write
    marked = [
        c if c in current.changes else {**c, "operator": actor.operator}
        for c in kept
        if isinstance(c, dict)
    ]
    return dataclasses.replace(write, set={**write.set, "changes": marked})
