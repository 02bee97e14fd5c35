"""A person's closing writes, as data: one condition on what was read, the event with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from observability.models import BatchState, Status, iso
from observability.models.keys import exhausted_partition
from observability.transitions import TableConfig
from remediator.remediation.claims import noted
from remediator.remediation.manual import cancelled, resolved

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CFG = TableConfig(shards=4, stale_after_seconds=600, ttl_days=30)


def exhausted(**kw: object) -> BatchState:
    base: dict[str, object] = {
        "job_id": "j",
        "batch_id": "b",
        "status": Status.EXHAUSTED,
        "attempt": 3,
        "version": 7,
        "due_pk": "EXHAUSTED#1",
        "due_at": iso(NOW),
        "alerted": True,
        "error_type": "ValueError",
    }
    return BatchState(**{**base, **kw})  # type: ignore[arg-type]


def test_resolve_is_conditional_on_the_status_and_version_read_and_drops_the_episode():
    write = resolved(
        exhausted(), CFG, actor="arn:x", now=NOW, note="fixed", detail={"operator": "o"}
    )
    assert write.condition == "#status = :status AND #version = :version"
    assert (write.values[":status"], write.values[":version"]) == ("EXHAUSTED", 7)
    assert (write.set["status"], write.set["version"], write.set["attempt_floor"]) == (
        "RESOLVED",
        8,
        3,
    )
    assert {"due_pk", "due_at", "alerted", "lease_owner"} <= set(write.remove)
    [event] = write.events
    assert (event["event"], event["version"], event["actor"]) == ("RESOLVED", 8, "arn:x")
    assert json.loads(event["detail"]) == {"operator": "o", "was": "EXHAUSTED", "note": "fixed"}


def test_cancel_exhausts_into_the_unswept_partition_without_a_page():
    state = exhausted(status=Status.FAILED, alerted=False, due_pk="FAILED#1")
    write = cancelled(state, CFG, actor="arn:x", now=NOW, reason="down", detail={})
    assert write.values[":status"] == "FAILED"
    assert write.set["status"] == "EXHAUSTED"
    assert write.set["due_pk"] == exhausted_partition(state.key, CFG.shards)
    assert "alerted" not in write.set
    [event] = write.events
    assert (event["event"], event["error_type"]) == ("EXHAUSTED", "ValueError")
    assert json.loads(event["detail"]) == {"reason": "cancelled", "why": "down"}


def test_noted_adds_beside_without_overriding_what_an_event_says():
    [event] = noted(({"event": "EXHAUSTED", "detail": '{"reason":"x"}'},), {"replica": "r"})
    assert json.loads(event["detail"]) == {"replica": "r", "reason": "x"}
    assert noted(({"event": "STALE"},), {"replica": "r"})[0]["detail"] == '{"replica":"r"}'
    assert noted(({"event": "STALE"},), None) == ({"event": "STALE"},)
