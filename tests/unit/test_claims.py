"""The remediator's writes, as data: conditions, versions, the reserved event slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from observability.models import BatchState, EventType, Status, iso
from observability.retry.backoff import Exhaust, RetryAt
from observability.transitions import TableConfig
from remediator.remediation import claims

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CFG = TableConfig(shards=4, stale_after_seconds=600, ttl_days=30)


def failed(**kw: object) -> BatchState:
    base: dict[str, object] = {
        "job_id": "j",
        "batch_id": "b",
        "status": Status.FAILED,
        "attempt": 1,
        "version": 2,
        "due_pk": "FAILED#1",
        "due_at": iso(NOW),
        "trigger": {"kind": "sqs", "queue_url": "q"},
    }
    return BatchState(**{**base, **kw})  # type: ignore[arg-type]


def test_claim_is_conditional_on_exactly_what_was_seen_and_reserves_a_version():
    write = claims.claim(failed(), CFG, owner="r1", now=NOW, lease_seconds=60)
    for clause in (
        "#status = :status",
        "#attempt = :attempt",
        "#version = :version",
        "#due_at <= :now",
        "#expires_at > :now_epoch",
    ):
        assert clause in write.condition
    assert write.values[":version"] == 2
    lease = iso(NOW + timedelta(seconds=60))
    assert write.set["status"] == "RETRYING"
    assert write.set["version"] == 3  # the slot of the trigger's event
    assert write.set["pending_trigger"] == 3
    assert write.set["due_pk"].startswith("LIVE#")
    # The lease runs out at the batch's due time, written there only.
    assert write.set["due_at"] == lease
    assert "lease_expires_at" not in write.set
    assert "lease_owner" not in write.condition  # due now: no lease can be live
    assert write.events == ()


def test_taking_over_an_expired_claim_keeps_the_version():
    retrying = failed(status=Status.RETRYING, version=3, lease_owner="dead", due_pk="LIVE#1")
    write = claims.claim(retrying, CFG, owner="r2", now=NOW, lease_seconds=60)
    assert "version" not in write.set
    assert "status" not in write.set
    assert write.set["lease_owner"] == "r2"


def test_recorded_writes_the_event_in_the_reserved_slot_once():
    claimed = failed(status=Status.RETRYING, version=3, lease_owner="r1", pending_trigger=3)
    write = claims.recorded(
        claimed,
        CFG,
        owner="r1",
        actor="r1",
        now=NOW,
        event=EventType.RETRY_TRIGGERED,
        detail={"response_id": "m-1"},
        write_id="w-1",
    )
    [event] = write.events
    assert (event["version"], event["attempt"]) == (3, 2)
    assert "#lease_owner = :owner" in write.condition
    assert "#version = :version" in write.condition
    assert set(write.remove) == {"lease_owner", "lease_expires_at", "pending_trigger"}
    # A re-run waits for a queue, a cold start or a container: an hour, not a few beats.
    assert write.set["due_at"] == CFG.start_by(NOW) == iso(NOW + timedelta(hours=1))


def test_a_late_record_goes_into_the_reserved_slot_only_once_the_lease_is_gone():
    started = failed(status=Status.STARTED, attempt=2, version=4, pending_trigger=3)
    event = claims.trigger_event(
        failed(status=Status.RETRYING, version=3, pending_trigger=3),
        actor="r1",
        now=NOW,
        event=EventType.RETRY_TRIGGERED,
        detail={},
    )
    write = claims.recorded_late(started, (event,), "w-1")
    assert write.condition == "#pending_trigger = :slot AND attribute_not_exists(#lease_owner)"
    assert write.values == {":slot": 3}
    assert write.remove == ("pending_trigger",)
    assert write.archive is None  # appended: a late record never trims
    assert "version" not in write.set  # the run that started owns the versions now


def test_release_lets_the_lease_end_at_the_retry_time():
    claimed = failed(status=Status.RETRYING, version=3, lease_owner="r1")
    later = NOW + timedelta(seconds=90)
    write = claims.release(claimed, owner="r1", retry_at=later)
    assert write.set == {"due_at": iso(later)}


def test_stale_run_becomes_failed_and_due():
    started = failed(status=Status.STARTED, version=1, heartbeat_at=iso(NOW), due_pk="LIVE#1")
    retry = RetryAt(NOW + timedelta(seconds=5), 2)
    write = claims.mark_stale(started, CFG, actor="r1", now=NOW, verdict=retry)
    assert write.set["status"] == "FAILED"
    assert write.set["attempt"] == 1
    assert [e["event"] for e in write.events] == ["STALE"]
    assert "#due_at = :due_at" in write.condition  # a heartbeat since the read wins


def test_a_trigger_that_never_started_counts_as_an_attempt_and_can_exhaust():
    retrying = failed(status=Status.RETRYING, attempt=2, version=5, due_pk="LIVE#1")
    write = claims.mark_stale(retrying, CFG, actor="r1", now=NOW, verdict=Exhaust("max_attempts"))
    assert write.set["attempt"] == 3
    assert write.set["status"] == "EXHAUSTED"
    assert [(e["event"], e["version"]) for e in write.events] == [("STALE", 6), ("EXHAUSTED", 7)]
    assert write.set["due_pk"].startswith("EXHAUSTED#")


def test_exhaust_from_own_claim_or_unclaimed():
    mine = claims.exhaust(failed(), CFG, actor="r1", now=NOW, reason="no_trigger", owner="r1")
    assert "#lease_owner = :owner" in mine.condition
    free = claims.exhaust(failed(), CFG, actor="r1", now=NOW, reason="max_age")
    assert "attribute_not_exists(#lease_owner) OR #due_at <= :now" in free.condition
    assert free.events[0]["event"] == "EXHAUSTED"
    assert free.set["version"] == 3


def held(state: BatchState) -> BatchState:
    """`state` as a writer that read the whole item (with its write id) holds it."""
    return BatchState.from_plain({**state.to_scalars(), "events": [], "write_id": "w-seen"})


def test_a_replica_holding_the_item_puts_it_over_the_item_it_holds():
    claimed = held(failed(status=Status.RETRYING, version=3, lease_owner="r1", pending_trigger=3))
    record = claims.recorded(
        claimed, CFG, owner="r1", actor="r1", now=NOW, event=EventType.RETRY_TRIGGERED,
        detail={}, write_id="w-1",
    )  # fmt: skip
    assert record.put
    assert (record.condition, record.values) == ("#write_id = :seen", {":seen": "w-seen"})
    assert "lease_owner" not in record.item()
    mine = claims.exhaust(claimed, CFG, actor="r1", now=NOW, reason="no_trigger", owner="r1")
    assert (mine.put, mine.condition) == (True, "#write_id = :seen")
    started = held(failed(status=Status.STARTED, version=1, due_pk="LIVE#1"))
    stale = claims.mark_stale(started, CFG, actor="r1", now=NOW, verdict=Exhaust("max_attempts"))
    assert (stale.put, stale.condition) == (True, "#write_id = :seen")


def test_a_put_over_a_batch_another_replica_may_hold_keeps_the_lease_check():
    """Exhausting a batch this replica has not claimed depends on the time of the write (no
    live lease by then): that condition stays beside the write id."""
    free = claims.exhaust(held(failed()), CFG, actor="r1", now=NOW, reason="max_age")
    assert free.put
    assert "attribute_not_exists(#lease_owner) OR #due_at <= :now" in free.condition
    assert free.condition.endswith("AND #write_id = :seen")
    # Another replica's record is not restated by this one's lease either.
    theirs = held(failed(status=Status.RETRYING, version=3, lease_owner="r2", pending_trigger=3))
    record = claims.recorded(
        theirs, CFG, owner="r1", actor="r1", now=NOW, event=EventType.RETRY_TRIGGERED,
        detail={}, write_id="w-1",
    )  # fmt: skip
    assert "#lease_owner = :owner" in record.condition


def test_a_typical_failed_batch_stays_within_one_write_unit_with_its_lease_on_it() -> None:
    """What makes a retry cost 1 table unit a write (bench.costs, docs/BENCHMARKS.md): a
    write is billed on the larger of the item before and after it, so the failed item and
    the claimed one must both stay within 1 KB, with a 41-character error message, an SQS
    trigger and the recording process's own retry settings (as the bench's)."""
    from observability import SqsTrigger
    from observability.models import av
    from observability.models.keys import BatchKey
    from observability.retry import RetryPolicy, StoredRetry
    from observability.retry.backoff import Governed, RetryRule
    from observability.transitions import ITEM_BYTES, applied, failure, start_new
    from observability.transitions.sizing import item_size

    run_id = "0f" * 16
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/warehouse-loads"
    trigger = SqsTrigger(queue_url=queue, body={"batch": "2024-05-01"}).to_json()
    settings = StoredRetry(None, RetryPolicy(default=RetryRule(base_seconds=0))).to_json()
    started = start_new(
        BatchKey("warehouse-loads", "2024-05-01"), CFG, now=NOW, run_id=run_id,
        trace_id=run_id, actor="pipeline", trigger_json=trigger, incarnation=run_id[:16],
        retry_json=settings,
    )  # fmt: skip
    run = applied(None, started)
    failed_write = failure(
        run, CFG, now=NOW + timedelta(seconds=5), actor="pipeline",
        error_type="WarehouseTimeout", error_message="warehouse connection timed out after 30 s",
        retryable=True, verdict=RetryAt(NOW + timedelta(seconds=5), 2),
        governed=Governed("default", 3, 1),
    )  # fmt: skip
    failed_state = applied(run, failed_write)
    claimed = applied(
        failed_state,
        claims.claim(failed_state, CFG, owner="remediator-1", now=NOW + timedelta(seconds=6),
                     lease_seconds=180),
    )  # fmt: skip

    def size(state: BatchState) -> int:
        return item_size({k: av(v) for k, v in (state.stored or {}).items()})

    # 981 and 1,021 bytes here; 1,114 and 1,197 in the layout before the lean item.
    assert size(failed_state) <= size(claimed) <= ITEM_BYTES
