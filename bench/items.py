"""Batch items shaped exactly as the producer library stores them, built by its own modules.

`observability.transitions` plans each write and `observability.models.keys` names each key;
`stored` applies a planned write the way DynamoDB applies the request the store sends
(a put replaces the item; an update sets, removes, and appends its events to the history
list, or replaces the list after an archive), stamping a write id as the store does. An
item loaded here is the item the library would have left after the same transitions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from observability.models import BatchState, Item, Plain, av
from observability.models.keys import BatchKey
from observability.retry.backoff import RetryAt
from observability.transitions import TableConfig, Write, failure, start_new, success

__all__ = ["failed_item", "rekeyed", "stored", "success_item", "to_ddb", "to_state"]

ACTOR = "bench"


def stored(before: Mapping[str, Plain] | None, write: Write) -> dict[str, Plain]:
    """The item a committed write leaves in the table."""
    write_id = uuid.uuid4().hex[:16]
    if write.put or before is None:
        return {**write.item(), "write_id": write_id}
    after = {**before, **write.set, "write_id": write_id}
    for name in write.remove:
        after.pop(name, None)
    if write.events:
        kept = [] if write.archive is not None else list(before.get("events") or [])
        after["events"] = [*kept, *write.events]
    return after


def to_ddb(values: Mapping[str, Plain]) -> Item:
    return {k: av(v) for k, v in values.items()}


def to_state(values: Mapping[str, Plain]) -> BatchState:
    return BatchState.from_item(to_ddb(values))


def _started(key: BatchKey, cfg: TableConfig, now: datetime, trigger_json: str | None) -> Write:
    run_id = uuid.uuid4().hex
    return start_new(
        key, cfg, now=now, run_id=run_id, trace_id=run_id, actor=ACTOR,
        trigger_json=trigger_json, incarnation=run_id[:16],
    )  # fmt: skip


def success_item(
    key: BatchKey, cfg: TableConfig, now: datetime, trigger_json: str | None
) -> dict[str, Plain]:
    """STARTED then SUCCESS: no due-index keys (the sparse index never sees it)."""
    item = stored(None, _started(key, cfg, now, trigger_json))
    done = success(to_state(item), cfg, now=now + timedelta(seconds=1), actor=ACTOR)
    return stored(item, done)


def failed_item(
    key: BatchKey, cfg: TableConfig, now: datetime, trigger_json: str | None, due: datetime
) -> dict[str, Plain]:
    """STARTED then FAILED (retryable): indexed under FAILED#<shard>, due at `due`."""
    item = stored(None, _started(key, cfg, now, trigger_json))
    failed = failure(
        to_state(item),
        cfg,
        now=now,
        actor=ACTOR,
        error_type="RuntimeError",
        error_message="bench failure",
        retryable=True,
        verdict=RetryAt(due, 2),
    )
    return stored(item, failed)


def rekeyed(template: Mapping[str, Plain], key: BatchKey) -> dict[str, Plain]:
    """The template item moved to another batch: its keys and run ids replaced (those it
    holds: a put leaves out the ones its readers take from another)."""
    run_id = uuid.uuid4().hex
    ids = {"run_id": run_id, "trace_id": run_id, "incarnation": run_id[:16]}
    events = [
        {**e, "trace_id": run_id} if "trace_id" in e else e for e in template.get("events") or []
    ]
    return {
        **template,
        "pk": key.pk,
        "sk": key.sk,
        **{name: value for name, value in ids.items() if name in template},
        "events": events,
        "write_id": uuid.uuid4().hex[:16],
    }
