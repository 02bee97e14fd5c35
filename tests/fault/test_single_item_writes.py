"""One write per transition, under the faults moto never shows by itself.

- A lost reply: the proxy lets moto do the write, then closes the connection unanswered;
  botocore retries, and the retry fails its condition because the first one landed. The
  writer must see its own write (the item handed back carries its write id), not a rival.
- A writer that dies between its archive put and its trim: the next writer repeats the
  archive under the same name (a no-op) and trims; no event is lost or shown twice.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from observability import AuditTrail, Status
from observability.audit import AuditStore
from observability.audit.store import ConditionFailed
from observability.clients import AwsClients
from observability.errors import StoreUnavailable
from observability.models import EventType, iso
from observability.models.keys import job_pk
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from observability.transitions import HISTORY_BYTES, archive_if_full, start_again
from remediator.remediation import Remediator, claims
from tests.conftest import REGION, drain, new_id
from tests.integration.harness import Stack
from tests.proxy import FaultProxy, Request


def proxied(proxy: FaultProxy) -> AwsClients:
    # Two attempts per call: the retry of a write whose reply was lost is the point here.
    return AwsClients(region=REGION, endpoint_url=proxy.url, max_attempts=2, read_timeout=5)


def trail_through(stack: Stack, proxy: FaultProxy) -> AuditTrail:
    shared = Settings(
        **stack.settings.model_dump(include=set(Settings.model_fields)), _env_file=None
    )
    return AuditTrail(
        shared, clients=proxied(proxy), clock=stack.clock, metrics=Metrics(stream=io.StringIO())
    )


def state_write(operation: str, marker: bytes) -> Any:
    """A write of a batch's item: an UpdateItem whose request holds `marker`, or a PutItem of
    the item whose status is `marker` (a quoted status; archive items have none)."""

    def match(request: Request) -> bool:
        if request.operation != operation:
            return False
        if operation == "PutItem":
            status = request.json().get("Item", {}).get("status", {}).get("S", "")
            return f'"{status}"'.encode() == marker
        return marker in request.body

    return match


def events_of(stack: Stack, job: str, batch: str) -> list[tuple[str, int]]:
    return [(e.event.value, e.version) for e in stack.trail.history(job, batch)]


@pytest.mark.parametrize("marker", [b'"STARTED"', b'"SUCCESS"'], ids=["started", "success"])
def test_a_lost_reply_on_a_producer_write_is_its_own_success(
    stack: Stack, proxy: FaultProxy, marker: bytes
):
    trail = trail_through(stack, proxy)
    job = new_id()
    proxy.drop_reply(state_write("PutItem", marker))
    ran = []
    with trail.batch(job, "b1", trigger=stack.trigger("b1")) as run:
        ran.append(run.attempt)
    assert len(proxy.dropped) == 1, "the reply was dropped once, and botocore sent it again"
    # Both writes are puts of the whole item (the second over the first): one sent twice.
    assert proxy.counts["DynamoDB_20120810.PutItem"] == 3
    # The one UpdateItem is the job's registration (observability.audit.registry), at its first
    # outcome in this process; no write of the batch's item is an update.
    assert proxy.counts["DynamoDB_20120810.UpdateItem"] == 1
    assert ran == [1]
    assert trail.get(job, "b1").status is Status.SUCCESS  # type: ignore[union-attr]
    assert events_of(stack, job, "b1") == [("STARTED", 1), ("SUCCESS", 2)]


def test_a_lost_reply_on_a_failed_write_records_the_failure_once(stack: Stack, proxy: FaultProxy):
    trail = trail_through(stack, proxy)
    job = new_id()
    proxy.drop_reply(state_write("PutItem", b'"FAILED"'))
    with pytest.raises(RuntimeError) as raised, trail.batch(job, "b1", trigger=stack.trigger("b1")):
        raise RuntimeError("boom")
    assert len(proxy.dropped) == 1
    # The user's own error, with no note that the failure went unrecorded.
    assert not getattr(raised.value, "__notes__", [])
    assert trail.get(job, "b1").status is Status.FAILED  # type: ignore[union-attr]
    assert events_of(stack, job, "b1") == [("STARTED", 1), ("FAILED", 2)]
    signals = drain(stack.clients.sqs(), stack.settings.queue_url or "")
    assert len(signals) == 1


def test_a_lost_reply_on_a_heartbeat_keeps_the_run(stack: Stack, proxy: FaultProxy):
    trail = trail_through(stack, proxy)
    job = new_id()
    with trail.batch(job, "b1", trigger=stack.trigger("b1")) as run:
        proxy.drop_reply(state_write("UpdateItem", b"heartbeat_at"))
        stack.clock.advance(60)
        assert run.heartbeat(force=True)
        assert len(proxy.dropped) == 1
    assert trail.get(job, "b1").status is Status.SUCCESS  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("operation", "marker"),
    # The claim acts on a hint (an update); the record knows the item the claim returned.
    [("UpdateItem", b'"RETRYING"'), ("PutItem", b'"RETRYING"')],
    ids=["claim", "record"],
)
def test_a_lost_reply_on_the_claim_or_the_record_triggers_once(
    stack: Stack, proxy: FaultProxy, operation: str, marker: bytes
):
    clients = proxied(proxy)
    remediator = Remediator(
        stack.settings.model_copy(update={"replica_id": "replica-1"}),
        clients=clients,
        trigger_clients=AwsClients(region=REGION, endpoint_url=stack.endpoint, max_attempts=1),
        metrics=Metrics(stream=io.StringIO()),
        clock=stack.clock,
        sleep=lambda _: None,
    )
    job = new_id()
    stack.fail(job, "b1")
    proxy.drop_reply(state_write(operation, marker))
    state = stack.trail.get(job, "b1")
    assert state is not None
    outcome = remediator.remediate(state)
    assert len(proxy.dropped) == 1
    assert outcome.kind == "triggered", outcome
    assert remediator.counts == Counter({"triggered": 1})
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]
    assert events_of(stack, job, "b1") == [("STARTED", 1), ("FAILED", 2), ("RETRY_TRIGGERED", 3)]


def _runs(trail: AuditTrail, job: str, batch: str, count: int) -> None:
    for _ in range(count):
        with trail.batch(job, batch):
            pass


def _archives(stack: Stack, job: str) -> list[dict[str, Any]]:
    reply = stack.clients.dynamodb().query(
        TableName=stack.settings.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
        ExpressionAttributeValues={":pk": {"S": job_pk(job)}, ":a": {"S": "ARCHIVE#"}},
        ConsistentRead=True,
    )
    return list(reply["Items"])


def test_a_batch_with_more_history_than_its_item_keeps_reads_back_whole(stack: Stack):
    job = new_id()
    _runs(stack.trail, job, "b1", 40)  # a Lambda handler running the same batch id
    history = stack.trail.history(job, "b1")
    assert [e.version for e in history] == list(range(1, 81))
    assert [e.event for e in history] == [EventType.STARTED, EventType.SUCCESS] * 40
    assert len(_archives(stack, job)) >= 5
    # The item itself stays small: one write unit of history, whatever the batch's age.
    raw = stack.clients.dynamodb().get_item(
        TableName=stack.settings.table_name,
        Key={"pk": {"S": job_pk(job)}, "sk": {"S": "STATE#b1"}},
    )["Item"]
    assert len(raw["events"]["L"]) < 8
    # And the CLI's reader (the store) agrees with the trail's.
    store = AuditStore(stack.clients, stack.settings.table_name)
    assert [e.version for e in store.history(stack.trail.get(job, "b1").key, stack.clock.now)] == [  # type: ignore[union-attr]
        e.version for e in history
    ]


def test_events_leave_out_the_items_trace_id_and_every_reader_still_has_it(stack: Stack):
    """The item's own events leave out the trace id they share with it (archives spell it
    out); `history`, from the trail and from the CLI's store, shows it on every event."""
    job = new_id()
    _runs(stack.trail, job, "b1", 8)
    state = stack.trail.get(job, "b1")
    assert state is not None
    assert state.trace_id
    raw = stack.clients.dynamodb().get_item(
        TableName=stack.settings.table_name,
        Key={"pk": {"S": job_pk(job)}, "sk": {"S": "STATE#b1"}},
    )["Item"]
    assert raw["events"]["L"]
    assert all("trace_id" not in e["M"] for e in raw["events"]["L"])
    archived = [e["M"] for a in _archives(stack, job) for e in a["events"]["L"]]
    assert archived, "nothing was archived"
    assert {e["trace_id"]["S"] for e in archived} == {state.trace_id}
    store = AuditStore(stack.clients, stack.settings.table_name)
    for history in (stack.trail.history(job, "b1"), store.history(state.key, stack.clock.now)):
        assert [e.version for e in history] == list(range(1, 17))
        assert {e.trace_id for e in history} == {state.trace_id}


def test_an_item_of_the_earlier_layout_reads_the_same_and_runs_on(stack: Stack):
    """A table in production holds items written before: events with their trace id, the
    recording process's defaults spelt out, a heartbeat kept after the run ended."""
    job = new_id()
    trace = "5b8aa5a2d2c872e8321cf37308d69df2"
    events = [
        {"event": "STARTED", "version": 1, "attempt": 1, "status": "STARTED"},
        {"event": "SUCCESS", "version": 2, "attempt": 1, "status": "SUCCESS"},
    ]
    stamp = "2026-01-01T00:00:00.000000Z"
    old = {
        "pk": {"S": job_pk(job)},
        "sk": {"S": "STATE#b1"},
        "status": {"S": "SUCCESS"},
        "attempt": {"N": "1"},
        "version": {"N": "2"},
        "run_id": {"S": "r" * 32},
        "trace_id": {"S": trace},
        "started_at": {"S": stamp},
        "heartbeat_at": {"S": stamp},
        "updated_at": {"S": stamp},
        "finished_at": {"S": stamp},
        "attempt_floor": {"N": "1"},
        "incarnation": {"S": "0123456789abcdef"},
        "write_id": {"S": "fedcba9876543210"},
        "expires_at": {"N": str(int(stack.clock.now.timestamp()) + 86400)},
        "retry": {
            "S": '{"env":{"default":{"base_seconds":60.0,"max_attempts":3,'
            '"max_seconds":3600.0,"name":"default"}}}'
        },
        "events": {
            "L": [
                {
                    "M": {
                        **{
                            k: {"S": v} if isinstance(v, str) else {"N": str(v)}
                            for k, v in e.items()
                        },
                        "at": {"S": stamp},
                        "actor": {"S": "old"},
                        "trace_id": {"S": trace},
                    }
                }
                for e in events
            ]
        },
    }
    stack.clients.dynamodb().put_item(TableName=stack.settings.table_name, Item=old)
    state = stack.trail.get(job, "b1")
    assert state is not None
    assert state.retry is not None
    assert state.heartbeat_at == stamp
    assert [e.trace_id for e in state.history()] == [trace, trace]
    _runs(stack.trail, job, "b1", 3)
    history = stack.trail.history(job, "b1")
    assert [e.version for e in history] == list(range(1, 9))
    assert {e.trace_id for e in history} == {trace}  # the batch kept its trace
    after = stack.trail.get(job, "b1")
    assert after is not None
    assert after.heartbeat_at is None


def test_a_writer_killed_between_archive_and_trim_loses_and_repeats_nothing(
    stack: Stack, proxy: FaultProxy
):
    trail = trail_through(stack, proxy)
    job = new_id()
    # Run the batch until its next STARTED has to archive the history first.
    for _ in range(40):
        _runs(trail, job, "b1", 1)
        state = trail.get(job, "b1")
        assert state is not None
        planned = start_again(
            state, trail.table, now=stack.clock.now, run_id="x", actor="a", trigger_json=None
        )
        if archive_if_full(state, planned.events, trail.table, stack.clock.now, planned):
            break
    else:
        pytest.fail(f"the history never passed {HISTORY_BYTES} bytes")
    before = len(_archives(stack, job))

    # The archive put lands; the trim that follows never reaches the table.
    proxy.cut_when(state_write("PutItem", b'"STARTED"'), after_forward=False)
    with pytest.raises(StoreUnavailable), trail.batch(job, "b1"):
        pytest.fail("the work must not run when STARTED was not recorded")
    proxy.restore()
    assert len(_archives(stack, job)) == before + 1, "the archive was put"

    # Another process runs the batch: it archives the same events under the same name
    # (refused: they are there), then goes on archiving newer ones as its runs fill the item.
    fresh = trail_through(stack, proxy)
    _runs(fresh, job, "b1", 2)
    archived = [
        int(e["M"]["version"]["N"]) for a in _archives(stack, job) for e in a["events"]["L"]
    ]
    assert len(archived) == len(set(archived)), "no second copy of any event"
    history = stack.trail.history(job, "b1")
    versions = [e.version for e in history]
    assert versions == list(range(1, len(versions) + 1)), "each event once, in order"
    assert [e.event for e in history][-4:] == [EventType.STARTED, EventType.SUCCESS] * 2


def _raw(stack: Stack, job: str, batch: str) -> dict[str, Any]:
    return dict(
        stack.clients.dynamodb().get_item(
            TableName=stack.settings.table_name,
            Key={"pk": {"S": job_pk(job)}, "sk": {"S": f"STATE#{batch}"}},
            ConsistentRead=True,
        )["Item"]
    )


def test_an_item_leaves_out_what_its_readers_can_tell_and_every_reader_has_it(stack: Stack):
    """Every write of a batch's item pays for all its bytes: a run id that is the trace id,
    an incarnation that is the run id's first digits, an event's status that its name
    gives, an unset field of the trigger and a lease expiry that is the due time are not
    written, and read back."""
    job = new_id()
    with stack.trail.batch(job, "live") as run:
        assert "run_id" not in _raw(stack, job, "live")
        stack.clock.advance(30)
        assert run.heartbeat(force=True)  # an UpdateItem of its own item, without its run id
        assert _raw(stack, job, "live")["heartbeat_at"]["S"] == iso(stack.clock.now)
    live = stack.trail.get(job, "live")
    assert live is not None
    assert live.status is Status.SUCCESS
    assert live.run_id == run.run_id
    stack.fail(job, "b1")
    raw = _raw(stack, job, "b1")
    assert not {"run_id", "incarnation"} & set(raw)
    assert [e["M"].get("status") for e in raw["events"]["L"]] == [None, None]
    assert "message_group_id" not in raw["trigger"]["S"]
    failed = stack.trail.get(job, "b1")
    assert failed is not None
    assert failed.run_id
    assert failed.trace_id == failed.run_id
    assert failed.incarnation == failed.run_id[:16]
    assert [(e.event.value, e.status.value) for e in failed.history()] == [
        ("STARTED", "STARTED"),
        ("FAILED", "FAILED"),
    ]
    assert failed.trigger == {"kind": "sqs", "queue_url": stack.work_queue, "body": {"batch": "b1"}}

    # A claim writes its lease's end as the batch's due time only.
    now = stack.clock.now
    claimed = stack.remediator.store.update(
        claims.claim(failed, stack.remediator.table, owner="r9", now=now, lease_seconds=60)
    )
    raw = _raw(stack, job, "b1")
    assert "lease_expires_at" not in raw
    assert claimed.lease_expires_at == raw["due_at"]["S"] > iso(now)
    # ...and another replica's claim is refused while it lasts.
    with pytest.raises(ConditionFailed):
        stack.remediator.store.update(
            claims.claim(claimed, stack.remediator.table, owner="r8", now=now,
                         lease_seconds=60, require_due=False)
        )  # fmt: skip
    stack.remediator.store.apply(claims.release(claimed, owner="r9", retry_at=now))

    # The remediator re-triggers it, and the re-runs keep the batch's first incarnation (its
    # archives' names) and trace id, though their run ids differ.
    outcome = stack.remediator.remediate(stack.trail.get(job, "b1"))  # type: ignore[arg-type]
    assert outcome.kind == "triggered", outcome
    stack.rerun(stack.work(), job, lambda _: None)
    _runs(stack.trail, job, "b1", 6)
    after = stack.trail.get(job, "b1")
    assert after is not None
    assert after.run_id != failed.run_id
    assert (after.incarnation, after.trace_id) == (failed.incarnation, failed.trace_id)
    assert {a["sk"]["S"].split("#")[2] for a in _archives(stack, job)} == {failed.incarnation}
    history = stack.trail.history(job, "b1")
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    assert {e.trace_id for e in history} == {failed.trace_id}


def test_an_item_with_the_earlier_layouts_lease_and_statuses_reads_the_same(stack: Stack):
    """Items written before: a lease with its own expiry, events with their status, a
    trigger with its unset fields spelt out."""
    job = new_id()
    stack.fail(job, "b1")
    failed = stack.trail.get(job, "b1")
    assert failed is not None
    now = stack.clock.now
    lease_end = iso(now + timedelta(seconds=60))
    trigger = json.dumps({**(failed.trigger or {}), "message_group_id": None})
    stack.clients.dynamodb().update_item(
        TableName=stack.settings.table_name,
        Key={"pk": {"S": job_pk(job)}, "sk": {"S": "STATE#b1"}},
        UpdateExpression="SET lease_owner = :o, lease_expires_at = :e, due_at = :e, "
        "#t = :t, events[0].#s = :st, write_id = :w",
        ExpressionAttributeNames={"#t": "trigger", "#s": "status"},
        ExpressionAttributeValues={
            ":o": {"S": "old-replica"},
            ":e": {"S": lease_end},
            ":t": {"S": trigger},
            ":st": {"S": "STARTED"},
            ":w": {"S": "0123456789abcdef"},
        },
    )
    held = stack.trail.get(job, "b1")
    assert held is not None
    assert (held.lease_owner, held.lease_expires_at) == ("old-replica", lease_end)
    assert held.trigger == {**(failed.trigger or {}), "message_group_id": None}
    assert [e.status.value for e in held.history()] == ["STARTED", "FAILED"]
    with pytest.raises(ConditionFailed):  # the old lease holds
        stack.remediator.store.update(
            claims.claim(held, stack.remediator.table, owner="r9", now=now,
                         lease_seconds=60, require_due=False)
        )  # fmt: skip
    stack.clock.advance(61)  # it ran out: another replica takes it over
    outcome = stack.remediator.remediate(stack.trail.get(job, "b1"))  # type: ignore[arg-type]
    assert outcome.kind == "triggered", outcome
    raw = _raw(stack, job, "b1")
    assert "lease_expires_at" not in raw
    assert "lease_owner" not in raw
    assert [m["attempt"] for m in stack.work()] == ["2"]
