"""State items shaped exactly as the producer library stores them, built by its own modules.

`observability.transitions` plans each write and `observability.keys` names each key, so
an item loaded here is the item the library would have left after the same transitions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from observability.backoff import RetryAt
from observability.keys import BatchKey
from observability.models import BatchState, Item, av
from observability.transitions import Scalar, TableConfig, Write, failure, start_new, success

__all__ = ["failed_item", "rekeyed", "stored", "success_item", "to_ddb", "to_state"]

ACTOR = "bench"


def stored(before: Mapping[str, Scalar] | None, write: Write) -> dict[str, Scalar]:
    """The item a committed write leaves in the table (a put replaces; an update merges)."""
    if write.put or before is None:
        return write.item()
    after = {**before, **write.set}
    for name in write.remove:
        after.pop(name, None)
    return after


def to_ddb(scalars: Mapping[str, Scalar]) -> Item:
    return {k: av(v) for k, v in scalars.items()}


def to_state(scalars: Mapping[str, Scalar]) -> BatchState:
    return BatchState.from_item(to_ddb(scalars))


def _started(key: BatchKey, cfg: TableConfig, now: datetime, trigger_json: str | None) -> Write:
    run_id = uuid.uuid4().hex
    return start_new(
        key, cfg, now=now, run_id=run_id, trace_id=run_id, actor=ACTOR, trigger_json=trigger_json
    )


def success_item(
    key: BatchKey, cfg: TableConfig, now: datetime, trigger_json: str | None
) -> dict[str, Scalar]:
    """STARTED then SUCCESS: no due-index keys (the sparse index never sees it)."""
    start = _started(key, cfg, now, trigger_json)
    item = stored(None, start)
    done = success(to_state(item), cfg, now=now + timedelta(seconds=1), actor=ACTOR)
    return stored(item, done)


def failed_item(
    key: BatchKey, cfg: TableConfig, now: datetime, trigger_json: str | None, due: datetime
) -> dict[str, Scalar]:
    """STARTED then FAILED (retryable): indexed under FAILED#<shard>, due at `due`."""
    start = _started(key, cfg, now, trigger_json)
    item = stored(None, start)
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


def rekeyed(template: Mapping[str, Scalar], key: BatchKey) -> dict[str, Scalar]:
    """The template item moved to another batch: its keys, ids and run ids replaced."""
    run_id = uuid.uuid4().hex
    return {
        **template,
        "pk": key.pk,
        "sk": key.sk,
        "job_id": key.job_id,
        "batch_id": key.batch_id,
        "run_id": run_id,
        "trace_id": run_id,
    }
