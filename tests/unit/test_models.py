"""Statuses, records and their item form (observability/models/records.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.models import (
    AuditEvent,
    BatchState,
    EventType,
    Status,
    av,
    from_iso,
    is_expired,
    iso,
    plain,
)
from observability.models.keys import BatchKey

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
aware = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive by API
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)


def test_iso_format() -> None:
    assert iso(datetime(2024, 5, 1, 12, 3, 4, 5, tzinfo=UTC)) == "2024-05-01T12:03:04.000005Z"


def test_iso_converts_other_offsets_to_utc() -> None:
    moment = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert iso(moment) == "2024-05-01T12:00:00.000000Z"


def test_iso_rejects_naive_datetimes() -> None:
    naive = datetime(2024, 5, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        iso(naive)


@given(aware)
def test_iso_is_fixed_width_and_round_trips(moment: datetime) -> None:
    text = iso(moment)
    assert len(text) == len("2024-05-01T12:00:00.000000Z")
    assert text.endswith("Z")
    assert from_iso(text) == moment
    assert from_iso(text).tzinfo == UTC


@given(aware, aware)
def test_iso_sorts_like_time(a: datetime, b: datetime) -> None:
    assert (iso(a) < iso(b)) == (a < b)
    assert (iso(a) == iso(b)) == (a == b)


@pytest.mark.parametrize(
    ("value", "attr"),
    [
        ("x", {"S": "x"}),
        ("", {"S": ""}),
        (0, {"N": "0"}),
        (-12, {"N": "-12"}),
        (True, {"BOOL": True}),
        (False, {"BOOL": False}),
    ],
)
def test_av_picks_the_attribute_type(value: str | int | bool, attr: dict[str, Any]) -> None:
    assert av(value) == attr
    assert plain(attr) == value
    assert type(plain(attr)) is type(value)


@given(st.one_of(st.text(), st.integers(), st.booleans()))
def test_av_plain_round_trip(value: str | int | bool) -> None:
    back = plain(av(value))
    assert back == value
    assert type(back) is type(value)


def test_plain_of_an_unknown_type_is_none() -> None:
    assert plain({"NULL": True}) is None


@pytest.mark.parametrize(
    ("item", "expired"),
    [
        ({}, False),
        ({"expires_at": {"N": str(int(NOW.timestamp()) + 1)}}, False),
        ({"expires_at": {"N": str(int(NOW.timestamp()))}}, True),
        ({"expires_at": {"N": str(int(NOW.timestamp()) - 1)}}, True),
    ],
)
def test_is_expired(item: dict[str, Any], expired: bool) -> None:
    assert is_expired(item, NOW) is expired


def _state(**overrides: Any) -> BatchState:
    fields: dict[str, Any] = {
        "job_id": "job",
        "batch_id": "2024-05",
        "status": Status.FAILED,
        "attempt": 2,
        "version": 4,
        "run_id": "run-1",
        "trace_id": "trace-1",
        "incarnation": "inc-1",
        "started_at": iso(NOW),
        "heartbeat_at": iso(NOW),
        "finished_at": iso(NOW + timedelta(seconds=3)),
        "updated_at": iso(NOW + timedelta(seconds=3)),
        "duration_ms": 3000,
        "error_type": "ValueError",
        "error_message": "bad row",
        "retryable": False,
        "trigger": {"kind": "sqs", "queue_url": "q", "body": {"month": 5}},
        "lease_owner": "remediator-1",
        "lease_expires_at": iso(NOW + timedelta(minutes=1)),  # a lease ends at `due_at`
        "due_pk": "FAILED#3",
        "due_at": iso(NOW + timedelta(minutes=1)),
        "first_failed_at": iso(NOW),
        "attempt_floor": 1,
        "alerted": True,
        "expires_at": 1_800_000_000,
    }
    fields.update(overrides)
    return BatchState(**fields)


def _item(state: BatchState) -> dict[str, dict[str, Any]]:
    return {k: av(v) for k, v in state.to_scalars().items()}


@pytest.mark.parametrize(
    "state",
    [
        _state(),
        BatchState(job_id="j", batch_id="b", status=Status.STARTED, attempt=1, version=1),
        _state(duration_ms=0, attempt_floor=0, alerted=False, retryable=True, expires_at=0),
    ],
)
def test_state_item_round_trip(state: BatchState) -> None:
    assert BatchState.from_item(_item(state)) == state


def test_to_scalars_omits_unset_fields_and_stores_plain_values() -> None:
    scalars = BatchState(
        job_id="j", batch_id="b", status=Status.SUCCESS, attempt=1, version=2
    ).to_scalars()
    assert scalars == {
        "pk": "JOB#j",
        "sk": "STATE#b",
        "status": "SUCCESS",
        "attempt": 1,
        "version": 2,
        "retryable": True,
        "attempt_floor": 0,
        "alerted": False,
        "expires_at": 0,
        "refusals": 0,
    }
    assert type(scalars["status"]) is str


def test_trigger_is_stored_as_compact_sorted_json() -> None:
    stored = _state(trigger={"b": 1, "a": [1, 2]}).to_scalars()["trigger"]
    assert stored == '{"a":[1,2],"b":1}'


def test_from_item_defaults_and_batch_id_from_sort_key() -> None:
    state = BatchState.from_item(
        {"job_id": {"S": "j"}, "sk": {"S": "STATE#m5"}, "status": {"S": "STARTED"}}
    )
    assert (state.batch_id, state.attempt, state.version) == ("m5", 0, 0)
    assert state.retryable is True
    assert state.alerted is False
    assert state.trigger is None
    assert state.duration_ms is None
    assert state.key == BatchKey("j", "m5")


def test_from_item_rejects_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="BOGUS"):
        BatchState.from_item(
            {"job_id": {"S": "j"}, "batch_id": {"S": "b"}, "status": {"S": "BOGUS"}}
        )


@pytest.mark.parametrize(
    ("status", "due_pk", "expected"),
    [
        (Status.FAILED, "FAILED#3", "DUE"),
        (Status.FAILED, None, None),
        (Status.STARTED, "LIVE#3", None),
        (Status.RETRYING, "LIVE#3", None),
        (Status.EXHAUSTED, None, None),
        (Status.SUCCESS, None, None),
    ],
)
def test_next_retry_at_only_for_indexed_failures(
    status: Status, due_pk: str | None, expected: str | None
) -> None:
    state = _state(status=status, due_pk=due_pk, due_at="DUE")
    assert state.next_retry_at == expected
    assert state.as_dict()["next_retry_at"] == expected


def test_state_as_dict_shape() -> None:
    out = _state().as_dict()
    assert {"batch_id", "status", "attempt"} <= set(out)
    assert out["status"] == "FAILED"
    assert out["attempt"] == 2
    assert out["next_retry_at"] == iso(NOW + timedelta(minutes=1))
    # Internal bookkeeping stays out of the CLI's JSON.
    assert not {"due_pk", "due_at", "attempt_floor", "trigger", "run_id"} & set(out)
    assert json.loads(json.dumps(out)) == out


def _event(**overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "job_id": "job",
        "batch_id": "b",
        "event": EventType.FAILED,
        "attempt": 2,
        "version": 5,
        "at": iso(NOW),
        "actor": "pipeline",
        "status": Status.FAILED,
        "trace_id": "t",
        "error_type": "KeyError",
        "error_message": "'x'",
        "duration_ms": 12,
        "detail": {"retryable": True, "next_retry_at": iso(NOW)},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def test_event_item_round_trip() -> None:
    event = _event()
    stored: dict[str, str | int] = {
        "event": "FAILED",
        "attempt": 2,
        "version": 5,
        "at": iso(NOW),
        "actor": "pipeline",
        "status": "FAILED",
        "trace_id": "t",
        "error_type": "KeyError",
        "error_message": "'x'",
        "duration_ms": 12,
        "detail": json.dumps(event.detail),
    }
    assert AuditEvent.from_record("job", "b", stored) == event


def test_event_as_dict_shape() -> None:
    out = _event().as_dict()
    assert out == {
        "event": "FAILED",
        "attempt": 2,
        "at": iso(NOW),
        "actor": "pipeline",
        "status": "FAILED",
        "version": 5,
        "trace_id": "t",
        "error_type": "KeyError",
        "error_message": "'x'",
        "duration_ms": 12,
        "retryable": True,
        "next_retry_at": iso(NOW),
    }
    assert from_iso(out["at"]) == NOW


def test_event_as_dict_leaves_out_absent_error_and_duration() -> None:
    out = _event(
        event=EventType.STARTED,
        status=Status.STARTED,
        error_type=None,
        error_message=None,
        duration_ms=None,
        detail={},
    ).as_dict()
    assert set(out) == {"event", "attempt", "at", "actor", "status", "version", "trace_id"}


def test_status_and_event_names_match_the_contract() -> None:
    assert [s.value for s in Status] == [
        "STARTED",
        "SUCCESS",
        "FAILED",
        "RETRYING",
        "EXHAUSTED",
        "RESOLVED",
    ]
    assert {e.value for e in EventType} == {
        "STARTED",
        "SUCCESS",
        "FAILED",
        "STALE",
        "RETRY_TRIGGERED",
        "REPLAY_TRIGGERED",
        "EXHAUSTED",
        "RESOLVED",
    }
