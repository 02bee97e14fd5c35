"""The failure signal and alert message (observability/models/signals.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.models import BatchState, EventType, Status, iso
from observability.models.describe import MAX_ERROR_CHARS
from observability.models.keys import DELIMITER, MAX_ID_BYTES
from observability.models.signals import EXHAUSTED, FAILED, MAX_SIGNAL_BYTES, SCHEMA_VERSION, Signal

AT = iso(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))

ids = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=DELIMITER),
        min_size=1,
    )
    .filter(lambda s: s.strip())
    .map(lambda s: s.encode("utf-8")[:MAX_ID_BYTES].decode("utf-8", "ignore") or "x")
)


def _state(**overrides: Any) -> BatchState:
    fields: dict[str, Any] = {
        "job_id": "ingest-sales",
        "batch_id": "2024-05",
        "status": Status.FAILED,
        "attempt": 2,
        "version": 4,
        "trace_id": "trace-1",
        "error_type": "ValueError",
        "error_message": "bad row 17",
        "retryable": True,
        "due_pk": "FAILED#3",
        "due_at": AT,
    }
    fields.update(overrides)
    return BatchState(**fields)


def test_of_copies_the_state() -> None:
    signal = Signal.of(EventType.FAILED, _state(), at=AT, actor="pipe")
    assert signal == Signal(
        event="FAILED",
        job_id="ingest-sales",
        batch_id="2024-05",
        attempt=2,
        version=4,
        status="FAILED",
        error_type="ValueError",
        error_message="bad row 17",
        retryable=True,
        trace_id="trace-1",
        at=AT,
        next_retry_at=AT,
        reason=None,
        actor="pipe",
        v=SCHEMA_VERSION,
    )


def test_of_an_exhausted_state_has_no_retry_time() -> None:
    state = _state(status=Status.EXHAUSTED, due_pk=None, due_at=None, retryable=False)
    signal = Signal.of(EXHAUSTED, state, at=AT, reason="max_attempts")
    assert (signal.event, signal.status, signal.next_retry_at) == ("EXHAUSTED", "EXHAUSTED", None)
    assert signal.reason == "max_attempts"


def test_of_truncates_the_error_and_drops_an_empty_one() -> None:
    long = Signal.of(FAILED, _state(error_message="e" * 5000), at=AT)
    assert long.error_message is not None
    assert len(long.error_message) == MAX_ERROR_CHARS
    assert Signal.of(FAILED, _state(error_message=None), at=AT).error_message is None
    assert Signal.of(FAILED, _state(error_message=""), at=AT).error_message is None


def test_body_is_the_signal_as_json() -> None:
    signal = Signal.of(FAILED, _state(error_message="échec ✗"), at=AT)
    body = signal.body()
    assert "échec ✗" in body  # UTF-8, not \\u escapes
    assert Signal.from_dict(json.loads(body)) == signal
    assert json.loads(body)["v"] == SCHEMA_VERSION


@given(
    job_id=ids,
    batch_id=ids,
    message=st.text(max_size=20_000) | st.just("\x00" * 20_000) | st.just("😀" * 20_000),
    error_type=st.text(max_size=200),
)
def test_body_stays_under_8_kib_even_with_a_huge_error(
    job_id: str, batch_id: str, message: str, error_type: str
) -> None:
    signal = Signal(
        event=FAILED,
        job_id=job_id,
        batch_id=batch_id,
        attempt=1,
        version=2,
        status="FAILED",
        error_type=error_type,
        error_message=message,
        retryable=True,
        trace_id="t" * 36,
        at=AT,
        next_retry_at=AT,
        reason="max_attempts",
        actor="a" * 100,
    )
    body = signal.body()
    assert len(body.encode("utf-8")) <= MAX_SIGNAL_BYTES
    data = json.loads(body)
    assert (data["job_id"], data["batch_id"], data["error_type"]) == (job_id, batch_id, error_type)
    assert message.startswith(data["error_message"].removesuffix("…"))


def test_oversized_body_shrinks_only_the_error_message() -> None:
    signal = Signal.of(FAILED, _state(), at=AT)
    huge = Signal(**{**json.loads(signal.body()), "error_message": "x" * 50_000})
    data = json.loads(huge.body())
    assert data["error_message"] == "x" * 255 + "…"
    assert {k: v for k, v in data.items() if k != "error_message"} == {
        k: v for k, v in json.loads(signal.body()).items() if k != "error_message"
    }


def test_body_under_the_limit_keeps_the_whole_message() -> None:
    message = "m" * 5000
    signal = Signal(
        **{**json.loads(Signal.of(FAILED, _state(), at=AT).body()), "error_message": message}
    )
    assert json.loads(signal.body())["error_message"] == message


@pytest.mark.parametrize(
    ("retryable", "reason", "expected"),
    [
        (True, None, {"event": "FAILED", "job_id": "ingest-sales", "retryable": "true"}),
        (
            False,
            "non_retryable",
            {
                "event": "FAILED",
                "job_id": "ingest-sales",
                "retryable": "false",
                "reason": "non_retryable",
            },
        ),
    ],
)
def test_attributes_are_sns_strings(
    retryable: bool, reason: str | None, expected: dict[str, str]
) -> None:
    signal = Signal.of(FAILED, _state(retryable=retryable), at=AT, reason=reason)
    assert signal.attributes() == {
        name: {"DataType": "String", "StringValue": value} for name, value in expected.items()
    }


def test_from_dict_ignores_unknown_keys() -> None:
    signal = Signal.of(FAILED, _state(), at=AT)
    data = {**json.loads(signal.body()), "added_in_v2": {"x": 1}, "Type": "Notification"}
    assert Signal.from_dict(data) == signal


def test_from_dict_keeps_the_schema_version_it_reads() -> None:
    data = {**json.loads(Signal.of(FAILED, _state(), at=AT).body()), "v": 2}
    assert Signal.from_dict(data).v == 2
