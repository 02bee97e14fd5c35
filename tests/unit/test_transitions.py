"""What each transition writes, and on which condition (observability/transitions/)."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from observability.models import AuditEvent, BatchState, EventType, Status, av, iso
from observability.models.describe import MAX_ERROR_CHARS
from observability.models.keys import (
    BatchKey,
    archive_sk,
    failed_partition,
    live_partition,
    shard_of,
)
from observability.retry.backoff import Exhaust, RetryAt
from observability.transitions import (
    HISTORY_BYTES,
    ITEM_BYTES,
    TableConfig,
    Write,
    applied,
    failure,
    heartbeat,
    holder,
    start_again,
    start_new,
    success,
    truncate,
)
from observability.transitions.finish import OWN_RUN
from observability.transitions.history import _history_size, _surely_fits
from observability.transitions.sizing import item_size
from observability.transitions.writes import lean_history, with_traces

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CFG = TableConfig(shards=8, stale_after_seconds=600, ttl_days=90)
KEY = BatchKey.of("ingest-sales", "2024-05")
TRIGGER = '{"kind":"sqs","queue_url":"q"}'


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _start() -> Write:
    return start_new(
        KEY,
        CFG,
        now=T0,
        run_id="run-1",
        trace_id="trace-1",
        actor="pipe",
        trigger_json=TRIGGER,
        incarnation="inc-1",
    )


def _running() -> BatchState:
    return applied(None, _start())


def _hint(state: BatchState) -> BatchState:
    """The state as a writer that does not hold the whole item knows it: it writes updates."""
    return dataclasses.replace(state, stored=None)


def _placeholders(text: str) -> tuple[set[str], set[str]]:
    return set(re.findall(r"#\w+", text)), set(re.findall(r":\w+", text))


def assert_well_formed(write: Write) -> None:
    """Every #name and :value the expressions use is defined, and nothing extra is."""
    names, values = _placeholders(write.condition)
    if not write.put:
        more_names, more_values = _placeholders(write.update_expression())
        names |= more_names
        values |= more_values
    assert set(write.names()) == names
    assert all(write.names()[n] == n[1:] for n in names)
    assert set(write.expression_values()) == values


# --- Write ---------------------------------------------------------------------------------


def test_write_expressions_for_an_update() -> None:
    write = Write(
        key=KEY,
        condition="#version = :version AND #status = :s",
        values={":version": 3, ":s": "STARTED"},
        set={"version": 4, "status": "SUCCESS"},
        remove=("due_pk", "due_at"),
    )
    assert write.names() == {
        "#due_at": "due_at",
        "#due_pk": "due_pk",
        "#status": "status",
        "#version": "version",
    }
    assert write.update_expression() == (
        "SET #version = :set_version, #status = :set_status REMOVE #due_pk, #due_at"
    )
    assert write.expression_values() == {
        ":version": 3,
        ":s": "STARTED",
        ":set_version": 4,
        ":set_status": "SUCCESS",
    }
    assert int(write.set["version"]) == 4
    assert_well_formed(write)


def test_write_expressions_for_a_put_only_name_the_condition() -> None:
    write = _start()
    assert write.put
    assert write.names() == {"#expires_at": "expires_at", "#pk": "pk"}
    assert write.expression_values() == {":now_epoch": int(T0.timestamp())}
    item = write.item()
    assert (item["pk"], item["sk"]) == (KEY.pk, KEY.sk)
    assert item["status"] == "STARTED"


@pytest.mark.parametrize(
    ("set_", "remove", "expected"),
    [
        ({"a": 1}, (), "SET #a = :set_a"),
        ({}, ("a", "b"), "REMOVE #a, #b"),
        ({}, (), ""),
    ],
)
def test_update_expression_parts(
    set_: dict[str, Any], remove: tuple[str, ...], expected: str
) -> None:
    assert Write(key=KEY, condition="", set=set_, remove=remove).update_expression() == expected


# --- start_new -----------------------------------------------------------------------------


def test_start_new_puts_attempt_one_unless_a_live_item_exists() -> None:
    write = _start()
    assert write.condition == "attribute_not_exists(#pk) OR #expires_at <= :now_epoch"
    assert int(write.set["version"]) == 1
    fields = write.set
    assert fields["status"] == "STARTED"
    assert (fields["attempt"], fields["version"]) == (1, 1)
    assert "job_id" not in fields  # the ids are the keys': not stored twice
    assert fields["incarnation"] == "inc-1"
    assert fields["run_id"] == "run-1"
    assert fields["trace_id"] == "trace-1"
    assert fields["started_at"] == fields["heartbeat_at"] == fields["updated_at"] == iso(T0)
    assert fields["due_pk"] == live_partition(KEY, 8)
    assert fields["due_at"] == iso(at(600))
    assert fields["expires_at"] == int((T0 + timedelta(days=90)).timestamp())
    assert fields["trigger"] == TRIGGER
    assert_well_formed(write)


def test_start_new_without_trigger_omits_it() -> None:
    write = start_new(
        KEY, CFG, now=T0, run_id="r", trace_id="t", actor="a", trigger_json=None, incarnation="i"
    )
    assert "trigger" not in write.set


def started_status(event: dict[str, object]) -> str:
    return AuditEvent.from_record("j", "b", event).status.value


def test_start_new_writes_a_started_event_at_version_one() -> None:
    write = _start()
    (event,) = write.events
    assert event == {
        "event": "STARTED",
        "version": 1,
        "attempt": 1,
        "at": iso(T0),
        "actor": "pipe",
        "trace_id": "trace-1",
    }  # no `status`: the event names it (readers take it from there)
    assert started_status(event) == "STARTED"
    # The event is in the item itself: state and history are one put. It leaves out the
    # trace id it shares with the item (40 bytes); readers take the item's.
    lean = {k: v for k, v in event.items() if k != "trace_id"}
    assert write.item()["events"] == [lean]
    started = applied(None, write)
    assert [e.trace_id for e in started.history()] == ["trace-1"]


# --- start_again ---------------------------------------------------------------------------


def _failed(retry_in: float = 60) -> BatchState:
    run = _running()
    return applied(
        run,
        failure(
            run,
            CFG,
            now=at(10),
            actor="pipe",
            error_type="ValueError",
            error_message="boom",
            retryable=True,
            verdict=RetryAt(at(10 + retry_in), 2),
        ),
    )


def test_start_again_bumps_attempt_and_version_on_an_unchanged_item() -> None:
    prev = _hint(_failed())
    write = start_again(prev, CFG, now=at(100), run_id="run-2", actor="pipe", trigger_json=None)
    assert write.condition == "#version = :version AND #expires_at > :now_epoch"
    assert write.values == {":version": prev.version, ":now_epoch": int(at(100).timestamp())}
    assert not write.put
    assert (write.set["attempt"], write.set["version"]) == (prev.attempt + 1, prev.version + 1)
    assert write.set["run_id"] == "run-2"
    assert write.set["trace_id"] == "trace-1"  # the trace follows the batch across retries
    assert write.set["due_pk"] == live_partition(KEY, 8)
    assert write.set["due_at"] == iso(at(700))
    # Only what the item holds is removed (the writer knows the whole item).
    assert set(write.remove) == {"finished_at", "duration_ms", "error_type"}
    (event,) = write.events
    assert (event["event"], event["version"], event["attempt"]) == ("STARTED", 3, 2)
    assert write.archive is None
    assert "#events = list_append(#events, :events)" in (write.update_expression())
    assert_well_formed(write)


def test_start_again_without_a_trace_uses_the_run_id() -> None:
    prev = BatchState(job_id="j", batch_id="b", status=Status.SUCCESS, attempt=1, version=2)
    write = start_again(prev, CFG, now=T0, run_id="run-9", actor="a", trigger_json=None)
    assert write.set["trace_id"] == "run-9"


def test_start_again_applied_clears_the_previous_error() -> None:
    prev = _failed()
    state = applied(
        prev, start_again(prev, CFG, now=at(100), run_id="run-2", actor="p", trigger_json=None)
    )
    assert state.status is Status.STARTED
    assert state.error_type is None
    assert state.finished_at is None
    assert state.first_failed_at == iso(at(10))  # kept: recovery time is measured from it


# --- success -------------------------------------------------------------------------------


def test_success_only_from_the_run_that_started() -> None:
    run = _hint(_running())
    write = success(run, CFG, now=at(2.5), actor="pipe")
    assert write.condition == f"{OWN_RUN} AND #status = :started AND #version = :version"
    assert write.values == {":run_id": "run-1", ":started": "STARTED", ":version": 1}
    assert write.set["status"] == "SUCCESS"
    assert int(write.set["version"]) == 2
    assert write.set["duration_ms"] == 2500
    assert write.set["finished_at"] == iso(at(2.5))
    assert {"due_pk", "due_at"} <= set(write.remove)
    assert "error_type" not in write.remove  # not in the item: nothing to remove
    hint = BatchState(
        job_id=run.job_id, batch_id=run.batch_id, status=run.status, attempt=1, version=1,
        run_id=run.run_id,
    )  # fmt: skip
    assert "error_type" in success(hint, CFG, now=at(1), actor="p").remove  # unknown: all
    (event,) = write.events
    assert (event["event"], event["version"], event["duration_ms"]) == ("SUCCESS", 2, 2500)
    assert "detail" not in event
    assert_well_formed(write)


def test_success_after_failures_records_time_to_recovery() -> None:
    prev = _failed()
    run = applied(
        prev, start_again(prev, CFG, now=at(100), run_id="run-2", actor="p", trigger_json=None)
    )
    write = success(run, CFG, now=at(130), actor="pipe")
    (event,) = write.events
    assert json.loads(str(event["detail"])) == {"recovered_after_seconds": 120.0}
    state = applied(run, write)
    assert state.status is Status.SUCCESS
    assert state.due_pk is None
    assert state.first_failed_at is None
    assert state.next_retry_at is None


def test_duration_is_never_negative() -> None:
    assert success(_running(), CFG, now=at(-5), actor="p").set["duration_ms"] == 0


# --- failure -------------------------------------------------------------------------------


def test_retryable_failure_indexes_the_batch_for_its_retry() -> None:
    run = _hint(_running())
    write = failure(
        run,
        CFG,
        now=at(10),
        actor="pipe",
        error_type="ValueError",
        error_message="boom",
        retryable=True,
        verdict=RetryAt(at(70), 2),
    )
    assert write.condition == f"{OWN_RUN} AND #status = :started AND #version = :version"
    assert write.set["status"] == "FAILED"
    assert int(write.set["version"]) == 2
    assert write.set["due_pk"] == failed_partition(KEY, 8)
    assert write.set["due_at"] == iso(at(70))
    assert write.set["first_failed_at"] == iso(at(10))
    assert write.set["retryable"] is True
    assert write.remove == ("heartbeat_at",)  # only a STARTED run's heartbeat means anything
    (event,) = write.events
    assert (event["event"], event["version"], event["attempt"]) == ("FAILED", 2, 1)
    assert (event["error_type"], event["error_message"]) == ("ValueError", "boom")
    assert json.loads(str(event["detail"])) == {"retryable": True, "next_retry_at": iso(at(70))}
    assert_well_formed(write)
    state = applied(run, write)
    assert state.next_retry_at == iso(at(70))


def test_later_failure_keeps_the_first_failure_time() -> None:
    prev = _failed()
    run = applied(
        prev, start_again(prev, CFG, now=at(100), run_id="run-2", actor="p", trigger_json=None)
    )
    write = failure(
        run,
        CFG,
        now=at(200),
        actor="p",
        error_type="E",
        error_message="m",
        retryable=True,
        verdict=RetryAt(at(300), 3),
    )
    assert write.set["first_failed_at"] == iso(at(10))


@pytest.mark.parametrize("reason", ["max_attempts", "max_age", "non_retryable"])
def test_exhausted_failure_writes_two_events_with_consecutive_versions(reason: str) -> None:
    run = _running()
    write = failure(
        run,
        CFG,
        now=at(10),
        actor="pipe",
        error_type="ValueError",
        error_message="boom",
        retryable=reason != "non_retryable",
        verdict=Exhaust(reason),
    )
    failed, exhausted = write.events
    assert (failed["event"], exhausted["event"]) == ("FAILED", "EXHAUSTED")
    assert (failed["version"], exhausted["version"]) == (2, 3)
    assert "error_message" not in exhausted  # the FAILED event carries it, once
    assert int(write.set["version"]) == 3
    assert write.set["status"] == "EXHAUSTED"
    assert write.set["alerted"] is True
    assert json.loads(str(exhausted["detail"])) == {"reason": reason}
    assert "next_retry_at" not in json.loads(str(failed["detail"]))
    assert_well_formed(write)
    state = applied(run, write)
    assert state.status is Status.EXHAUSTED
    assert state.next_retry_at is None
    # Out of the retry (FAILED#) and stale-run (LIVE#) partitions: either unindexed, or
    # indexed apart for people (EXHAUSTED#<shard>), never swept as a retry.
    assert state.due_pk in (None, f"EXHAUSTED#{shard_of(KEY, 8)}")
    assert (state.due_pk is None) == (state.due_at is None)


def test_event_items_read_back_as_audit_events() -> None:
    write = failure(
        _running(),
        CFG,
        now=at(10),
        actor="pipe",
        error_type="ValueError",
        error_message="boom",
        retryable=False,
        verdict=Exhaust("non_retryable"),
    )
    failed, exhausted = (
        AuditEvent.from_record(KEY.job_id, KEY.batch_id, item) for item in write.events
    )
    assert (failed.event, failed.status, failed.version) == (EventType.FAILED, Status.FAILED, 2)
    assert (failed.duration_ms, failed.detail) == (10_000, {"retryable": False})
    assert (exhausted.event, exhausted.version) == (EventType.EXHAUSTED, 3)
    assert exhausted.as_dict()["reason"] == "non_retryable"
    assert (exhausted.at, exhausted.actor, exhausted.trace_id) == (iso(at(10)), "pipe", "trace-1")


def test_failure_truncates_the_error_message_everywhere() -> None:
    write = failure(
        _running(),
        CFG,
        now=at(1),
        actor="p",
        error_type="E",
        error_message="x" * 10_000,
        retryable=True,
        verdict=RetryAt(at(2), 2),
    )
    assert "error_message" not in write.set  # stored once, in the event
    assert len(str(write.events[0]["error_message"])) == MAX_ERROR_CHARS
    assert len(applied(_running(), write).error_message or "") == MAX_ERROR_CHARS


# --- heartbeat -----------------------------------------------------------------------------


def test_heartbeat_moves_the_stale_deadline_without_an_event() -> None:
    run = _running()
    write = heartbeat(run, CFG, now=at(300))
    assert write.condition == f"{OWN_RUN} AND #status = :started"
    assert write.values == {":run_id": "run-1", ":started": "STARTED"}
    assert write.set == {"heartbeat_at": iso(at(300)), "due_at": iso(at(900))}
    assert write.events == ()
    assert "version" not in write.set  # not a transition
    assert_well_formed(write)
    state = applied(run, write)
    assert (state.version, state.heartbeat_at) == (run.version, iso(at(300)))


# --- holder --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "held"),
    [(0, True), (599, True), (600, False), (601, False)],
)
def test_holder_of_a_started_run_until_it_goes_stale(elapsed: float, held: bool) -> None:
    run = _running()
    expected = ("run run-1", iso(at(600))) if held else None
    assert holder(run, at(elapsed), 600) == expected


@pytest.mark.parametrize("status", [Status.SUCCESS, Status.FAILED, Status.EXHAUSTED])
def test_finished_batches_are_free(status: Status) -> None:
    state = BatchState(
        job_id="j", batch_id="b", status=status, attempt=1, version=2, heartbeat_at=iso(T0)
    )
    assert holder(state, T0, 600) is None


def test_started_without_heartbeat_is_free() -> None:
    state = BatchState(job_id="j", batch_id="b", status=Status.STARTED, attempt=1, version=1)
    assert holder(state, T0, 600) is None


@pytest.mark.parametrize("expires_in", [30, 0, -1])
def test_a_remediator_lease_never_blocks_the_run_it_triggers(expires_in: float) -> None:
    # The claim marks a re-trigger in flight; the triggered run may start at once.
    state = BatchState(
        job_id="j",
        batch_id="b",
        status=Status.RETRYING,
        attempt=1,
        version=3,
        lease_owner="remediator-7",
        lease_expires_at=iso(at(expires_in)),
    )
    assert holder(state, T0, 600) is None


def test_only_a_live_run_holds_a_batch() -> None:
    stale = BatchState(
        job_id="j",
        batch_id="b",
        status=Status.STARTED,
        attempt=1,
        version=1,
        heartbeat_at=iso(at(-10_000)),
        lease_owner="r",
        lease_expires_at=iso(at(60)),
    )
    assert holder(stale, T0, 600) is None


# --- applied / truncate --------------------------------------------------------------------


def test_applied_matches_the_written_fields() -> None:
    state = _running()
    assert state.key == KEY
    assert state.status is Status.STARTED
    assert (state.attempt, state.version) == (1, 1)
    assert state.trigger == json.loads(TRIGGER)
    assert state.due_pk == live_partition(KEY, 8)


def test_applied_merges_into_the_previous_state_and_removes() -> None:
    prev = _failed()
    write = Write(key=KEY, condition="", set={"attempt": 9}, remove=("first_failed_at",))
    state = applied(prev, write)
    assert state.attempt == 9
    assert prev.first_failed_at is not None
    assert state.first_failed_at is None
    assert (state.error_type, state.error_message) == ("ValueError", "boom")
    assert state.version == prev.version
    assert state.events == prev.events


def test_applied_put_replaces_the_previous_state() -> None:
    state = applied(_failed(), _start())
    assert state.error_type is None
    assert state.first_failed_at is None
    assert state.version == 1


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven chrs", 10, "eleven ch…"),
        ("", 5, ""),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


def test_truncate_default_limit() -> None:
    assert truncate("y" * MAX_ERROR_CHARS) == "y" * MAX_ERROR_CHARS
    out = truncate("y" * (MAX_ERROR_CHARS + 1))
    assert len(out) == MAX_ERROR_CHARS
    assert out.endswith("…")


def test_table_config_times() -> None:
    assert CFG.stale_at(T0) == iso(at(600))
    assert CFG.expires_at(T0) == int(T0.timestamp()) + 90 * 86_400


# --- history in the item, archives -----------------------------------------------------------


def _cycle(prev: BatchState, n: int) -> BatchState:
    """One more run of the same batch id: STARTED then SUCCESS, as a Lambda handler does."""
    started = applied(
        prev,
        start_again(prev, CFG, now=at(n), run_id=f"run-{n}", actor="pipe", trigger_json=None),
    )
    return applied(started, success(started, CFG, now=at(n + 1), actor="pipe"))


def test_history_stays_in_the_item_while_it_fits() -> None:
    run = _running()
    done = applied(run, success(run, CFG, now=at(1), actor="pipe"))
    assert [e["event"] for e in done.events or ()] == ["STARTED", "SUCCESS"]
    assert [e.version for e in done.history()] == [1, 2]


@pytest.mark.parametrize("holds_item", [False, True], ids=["update", "put"])
def test_a_full_history_is_archived_then_trimmed_in_the_same_conditional_write(
    holds_item: bool,
) -> None:
    state = _running() if holds_item else _hint(_running())
    archived: list[int] = []
    for n in range(1, 60):
        write = (
            success(state, CFG, now=at(n), actor="pipe")
            if n % 2
            else start_again(state, CFG, now=at(n), run_id=f"r{n}", actor="pipe", trigger_json=None)
        )
        assert write.put is holds_item
        if write.archive is not None:
            # Everything the item held, each event with its trace id written out.
            assert write.archive.events == with_traces(state.events or (), state.trace_id)
            versions = [int(e["version"]) for e in write.archive.events]
            assert write.archive.sk == archive_sk(
                KEY.batch_id, "inc-1", max(versions), len(versions)
            )
            if holds_item:
                # The item put over is the one archived (its write id): the new list is
                # only what this write adds.
                assert write.condition == "#write_id = :seen"
                assert write.item()["events"] == lean_history(write.events, None, "trace-1")
            else:
                assert write.condition.endswith("AND size(#events) = :history_len")
                assert write.values[":history_len"] == len(versions)
                assert "#events = :events" in write.update_expression()
            assert_well_formed(write)
            archived += versions
        state = applied(state, write)
        assert (state.stored is not None) is holds_item
        if write.archive is not None:
            assert [int(e["version"]) for e in state.events or ()] == [state.version]
    assert archived, "nothing was ever archived"
    kept = [int(e["version"]) for e in state.events or ()]
    # Every version exactly once, archive and item together, oldest first.
    assert sorted(archived + kept) == list(range(1, state.version + 1))
    size = sum(1 + len(json.dumps(e)) for e in state.events or ())
    assert size < 2 * HISTORY_BYTES


# --- a writer that holds the whole item puts it --------------------------------------------


def test_a_writer_holding_the_item_puts_what_the_update_would_leave() -> None:
    run = _running()
    assert run.stored is not None
    assert run.write_id
    update = success(_hint(run), CFG, now=at(2), actor="pipe")
    put = success(run, CFG, now=at(2), actor="pipe")
    assert not update.put
    assert put.put
    # Over the very item it was planned from: its write id says nothing changed since.
    assert put.condition == "#write_id = :seen"
    assert put.values == {":seen": run.write_id}
    assert_well_formed(put)
    after = applied(_hint(run), update)
    item = put.item()
    expected = {k: v for k, v in after.to_scalars().items() if k != "write_id" and k in item}
    # The same events, less the trace id each shares with the item.
    expected["events"] = lean_history(after.events or (), None, after.trace_id)
    assert item == expected
    assert set(item) >= {"pk", "sk", "status", "version", "run_id", "trigger", "events"}
    assert not {"due_pk", "due_at"} & set(item)
    assert [e["event"] for e in item["events"]] == ["STARTED", "SUCCESS"]  # type: ignore[union-attr]
    assert applied(run, put).write_id == put.write_id


def test_a_put_keeps_attributes_this_version_does_not_know() -> None:
    start = _start()
    item = {**start.item(), "write_id": "w-0", "added_by_a_newer_version": "kept"}
    run = BatchState.from_plain(item)
    put = success(run, CFG, now=at(1), actor="pipe")
    assert put.put
    assert put.item()["added_by_a_newer_version"] == "kept"


def test_a_put_keeps_a_condition_on_the_clock() -> None:
    prev = _failed()
    # The item expired before the re-run: only the table can tell when the write lands.
    expired = start_again(prev, CFG, now=at(91 * 86_400), run_id="r", actor="p", trigger_json=None)
    assert expired.put
    assert expired.condition.startswith("(#version = :version AND #expires_at > :now_epoch)")
    assert expired.condition.endswith("AND #write_id = :seen")
    assert_well_formed(expired)
    fresh = start_again(prev, CFG, now=at(100), run_id="r", actor="p", trigger_json=None)
    assert fresh.condition == "#write_id = :seen"


def test_an_item_without_a_write_id_is_updated() -> None:
    start = _start()
    unstamped = BatchState.from_plain(start.item())  # no write_id: written before it existed
    assert not success(unstamped, CFG, now=at(1), actor="p").put


def _item_bytes(state: BatchState) -> int:
    return item_size({k: av(v) for k, v in (state.stored or {}).items()})


def test_a_rerun_archives_when_its_item_would_pass_one_write_unit() -> None:
    """The budget is "1 KB less the state": a batch that has run before archives as soon as
    its item would pass one write unit with its older events and would not without them,
    so every write of a retry is one unit; the list's own 1 KB bound stays beside it."""
    state = _running()
    archives = 0
    for n in range(2, 40, 2):
        started = start_again(state, CFG, now=at(n), run_id=f"r{n}", actor="p", trigger_json=None)
        state = applied(state, started)
        done = success(state, CFG, now=at(n + 1), actor="p")
        state = applied(state, done)
        for write in (started, done):
            archives += write.archive is not None
        assert _item_bytes(state) <= ITEM_BYTES
    assert archives, "nothing was ever archived"
    assert _history_size(state.events or ()) < HISTORY_BYTES


def test_a_first_run_never_archives_whatever_its_size() -> None:
    """A first run's STARTED and its outcome are the floor's two calls: no archive put
    between them, even when its item passes one write unit (a long error message)."""
    run = _running()
    write = failure(
        run,
        CFG,
        now=at(1),
        actor="pipe",
        error_type="ValueError",
        error_message="x" * 500,
        retryable=True,
        verdict=RetryAt(at(60), 2),
    )
    assert write.archive is None
    assert _item_bytes(applied(run, write)) > ITEM_BYTES


def test_a_run_that_ends_drops_its_heartbeat() -> None:
    """A heartbeat means something only while the run is STARTED."""
    run = _running()
    assert run.heartbeat_at
    done = applied(run, success(run, CFG, now=at(1), actor="pipe"))
    assert done.heartbeat_at is None
    assert "heartbeat_at" not in (done.stored or {})
    failed = applied(
        run,
        failure(
            run,
            CFG,
            now=at(1),
            actor="pipe",
            error_type="E",
            error_message="m",
            retryable=True,
            verdict=RetryAt(at(60), 2),
        ),
    )
    assert failed.heartbeat_at is None
    assert "heartbeat_at" not in (failed.stored or {})


def test_a_run_that_brings_another_trace_writes_the_old_one_back_into_earlier_events() -> None:
    """Events in the item leave out the item's trace id: a put that gives the item another
    one spells the previous one out in the events before it; a writer that does not hold
    the list (an update on a hint) keeps the item's trace id."""
    done = _cycle(_running(), 2)  # trace-1
    write = start_again(
        done, CFG, now=at(10), run_id="r2", actor="p", trigger_json=None, trace_id="trace-2"
    )
    assert write.put
    stored = write.item()["events"]
    assert isinstance(stored, list)
    assert [e.get("trace_id") for e in stored] == ["trace-1"] * (len(stored) - 1) + [None]
    after = applied(done, write)
    assert after.trace_id == "trace-2"
    traces = [e.trace_id for e in after.history()]
    assert traces == ["trace-1"] * (len(traces) - 1) + ["trace-2"]
    on_hint = start_again(
        _hint(done), CFG, now=at(10), run_id="r3", actor="p", trigger_json=None, trace_id="t-3"
    )
    assert not on_hint.put
    assert on_hint.set["trace_id"] == "trace-1"


def test_the_same_item_always_archives_under_the_same_name() -> None:
    state = _running()
    for n in range(2, 40, 2):
        state = _cycle(state, n)
        write = start_again(state, CFG, now=at(99), run_id="x", actor="p", trigger_json=None)
        again = start_again(state, CFG, now=at(120), run_id="y", actor="q", trigger_json=None)
        if write.archive is None:  # the SUCCESS of the run it starts may archive instead
            started = applied(state, write)
            write = success(started, CFG, now=at(100), actor="p")
            again = success(started, CFG, now=at(121), actor="q")
        if write.archive is not None:
            assert again.archive is not None
            assert (again.archive.sk, again.archive.events) == (
                write.archive.sk,
                write.archive.events,
            )
            return
    raise AssertionError("the history never filled up")


def test_a_writer_that_does_not_know_the_events_appends_without_archiving() -> None:
    state = _running()
    for n in range(2, 40, 2):
        state = _cycle(state, n)
    hint = BatchState(
        job_id=KEY.job_id,
        batch_id=KEY.batch_id,
        status=state.status,
        attempt=state.attempt,
        version=state.version,
        incarnation="inc-1",
    )  # what the due-index or a signal knows: no events
    write = start_again(hint, CFG, now=at(99), run_id="z", actor="p", trigger_json=None)
    assert write.archive is None
    assert applied(hint, write).events is None


def test_merge_keeps_one_event_per_version_in_order() -> None:
    state = _cycle(_cycle(_running(), 2), 4)
    events = list(state.events or ())
    # A writer died between its archive put and its trim: the same events in both places,
    # and an event recorded late sits after a newer one in the list.
    merged = AuditEvent.merge(KEY.job_id, KEY.batch_id, events[:3], [events[3], events[1]], events)
    assert [e.version for e in merged] == [1, 2, 3, 4, 5]
    assert merged[0].event is EventType.STARTED


def test_the_quick_size_bound_never_lets_a_full_history_through() -> None:
    """archive_if_full skips DynamoDB's exact sizing when compact JSON says the list fits:
    JSON must never be shorter than the exact size, whatever the events hold."""
    rng = random.Random(7)
    texts = ["", "x", "é", "日本", "😀", '"quoted"', "\\", "a" * 300, "ü" * 200]
    for _ in range(500):
        events = [
            {
                "event": rng.choice(["STARTED", "FAILED"]),
                "version": rng.choice([0, 7, 10, 123456789]),
                "attempt": rng.randint(0, 9),
                "error_message": rng.choice(texts),
                "retryable": rng.choice([True, False]),
            }
            for _ in range(rng.randint(1, 6))
        ]
        text = json.dumps(events, separators=(",", ":"))
        assert _history_size(events) <= len(text) + 3 * len(events)
        assert _surely_fits(events) <= (_history_size(events) <= HISTORY_BYTES)
