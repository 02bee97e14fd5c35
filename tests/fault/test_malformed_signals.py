"""Bad signal bodies: parsing rejects them, the service survives them, SQS dead-letters them.

A body the service cannot use is never deleted: it is handed back at once (visibility 0),
so after `maxReceiveCount` receives SQS itself moves it to the DLQ. Valid signals in the
same receives are still handled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from observability.models.keys import validate_id
from observability.models.signals import Signal
from remediator.messages import MAX_BODY_BYTES, MalformedSignal, parse_signal
from remediator.stack.provision import DLQ_MAX_RECEIVE_COUNT
from tests.conftest import drain, new_id
from tests.integration.harness import Stack

SQS_MAX_BYTES = 256 * 1024
KNOWN_FIELDS = (
    "event",
    "job_id",
    "batch_id",
    "attempt",
    "version",
    "status",
    "error_type",
    "error_message",
    "retryable",
    "trace_id",
    "at",
    "next_retry_at",
    "reason",
    "actor",
    "first_failed_at",
    "attempt_floor",
    "v",
)

# -- strategies ---------------------------------------------------------------------------


def sqs_allowed(ch: str) -> bool:
    """SQS accepts #x9 #xA #xD, #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF only."""
    code = ord(ch)
    return (
        ch in "\t\n\r"
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | text | st.just("FAILED")
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=8,
    )


def enveloped(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return st.builds(lambda m: json.dumps({"Type": "Notification", "Message": m}), inner)


def bodies(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Message bodies: free text, any JSON, signal-shaped objects with any values in known
    fields, and SNS envelopes wrapping any of those (or a non-string `Message`)."""
    values = json_values(text)
    plausible = {
        "event": st.sampled_from(["FAILED", "EXHAUSTED", "RECOVERED", ""]),
        "job_id": st.sampled_from(["job-a", "a#b", " ", "x" * 201]),
        "batch_id": st.sampled_from(["b1", 7, "\x00", ""]),
        "attempt": st.integers(-1, 3),
        "version": st.integers(-1, 3),
        "next_retry_at": st.just("2024-01-01T00:00:00.000000Z"),
        "retryable": st.booleans(),
    }
    field_values = {
        name: (plausible[name] | values) if name in plausible else values for name in KNOWN_FIELDS
    }
    signals = st.fixed_dictionaries({}, optional=field_values).map(
        lambda d: json.dumps(d, ensure_ascii=False)
    )
    json_text = values.map(lambda v: json.dumps(v, ensure_ascii=False))
    inner = text | json_text | signals
    return inner | enveloped(inner | values)


# Fields parse_signal normalises (str(), bool()) or that nothing reads.
NORMALISED_FIELDS = ("status", "at", "retryable", "reason", "actor", "v")
# Fields that reach decisions and items: parse_signal checks their types too.
CHECKED_FIELDS = ("first_failed_at", "attempt_floor", "error_type", "error_message", "trace_id")


def odd_signals(text: st.SearchStrategy[str], fields: tuple[str, ...]) -> st.SearchStrategy[str]:
    """FAILED signals that parse, with anything at all in `fields`."""
    values = json_values(text)
    skeleton = {
        "event": st.just("FAILED"),
        "job_id": st.sampled_from(["job-a", "job-b"]),
        "batch_id": st.sampled_from(["b1", "b2", 3]),
        "attempt": st.integers(0, 4),
        "version": st.integers(0, 4),
        "next_retry_at": st.sampled_from(["2024-01-01T00:00:00.000000Z", "soon", ""]),
    }
    signal = st.fixed_dictionaries(skeleton, optional=dict.fromkeys(fields, values)).map(
        lambda d: json.dumps(d, ensure_ascii=False)
    )
    return signal | enveloped(signal)


# Anything Python can hold, lone surrogates included: parse_signal is pure.
ANY_TEXT = st.text(max_size=20)
ANY_BODY = bodies(ANY_TEXT) | odd_signals(ANY_TEXT, NORMALISED_FIELDS + CHECKED_FIELDS)
# What an SQS message can carry.
SQS_TEXT = st.text(st.characters().filter(sqs_allowed), max_size=20)
SQS_BODY = (bodies(SQS_TEXT) | odd_signals(SQS_TEXT, NORMALISED_FIELDS + CHECKED_FIELDS)).filter(
    lambda b: 0 < len(b.encode()) <= SQS_MAX_BYTES
)

# -- parse_signal, pure --------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(ANY_BODY)
def test_parse_signal_returns_a_signal_with_valid_ids_or_raises_malformed(body: str):
    try:
        signal = parse_signal(body)
    except MalformedSignal:
        return
    assert isinstance(signal, Signal)
    assert validate_id("job_id", signal.job_id) == signal.job_id
    assert validate_id("batch_id", signal.batch_id) == signal.batch_id
    assert isinstance(signal.event, str)
    assert signal.event
    for number in (signal.attempt, signal.version):
        assert type(number) is int
        assert number >= 0


# -- through the real queue ----------------------------------------------------------------


def signal_body(job: str, batch: str, **fields: Any) -> str:
    data = {"event": "FAILED", "job_id": job, "batch_id": batch, "attempt": 1, "version": 1}
    return json.dumps({**data, **fields})


def push(stack: Stack, bodies: list[str]) -> None:
    sqs = stack.clients.sqs()
    for body in bodies:
        sqs.send_message(QueueUrl=stack.settings.queue_url, MessageBody=body)


def queue_empty(stack: Stack) -> bool:
    attributes = stack.clients.sqs().get_queue_attributes(
        QueueUrl=stack.settings.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(v == "0" for v in attributes.values())


def dead_letters(stack: Stack, resources: Any) -> list[dict[str, Any]]:
    return drain(stack.clients.sqs(), resources.dlq_url)


def run_until_quiet(stack: Stack) -> None:
    """`run --once` passes until the queue is empty: each pass must return normally."""
    for _ in range(DLQ_MAX_RECEIVE_COUNT + 2):
        stack.service.run_once()
        if queue_empty(stack):
            return
    raise AssertionError("signals left on the queue after every pass")


def test_malformed_bodies_end_in_the_dlq_and_valid_signals_are_still_handled(
    stack: Stack, resources: Any
):
    job = new_id()
    for batch in ("b1", "b2", "b3"):
        stack.fail(job, batch)  # their signals wait on the queue among the junk
    envelope = {"Type": "Notification", "MessageId": "m"}
    junk = [
        "not json",
        "{",
        "[1, 2, 3]",
        '"FAILED"',
        "null",
        "1e999",
        json.dumps({}),
        json.dumps({"event": "FAILED"}),
        signal_body(job, "b1", attempt="2"),
        signal_body(job, "b1", attempt=-1),
        signal_body(job, "b1", attempt=True),
        signal_body(job, "b1", version=1.5),
        signal_body(job, ["b1"]),
        signal_body(job, "a#b"),
        signal_body("", "b1"),
        signal_body(job, "b1", next_retry_at=5),
        json.dumps({**envelope, "Message": {"event": "FAILED"}}),
        json.dumps({**envelope, "Message": "junk inside an envelope"}),
        json.dumps({**envelope, "Message": "[]"}),
        # Over the 64 KiB parse limit, and just under SQS's 256 KiB message limit.
        signal_body(job, "b1", error_message="x" * (MAX_BODY_BYTES + 1)),
        json.dumps({"pad": "y" * (SQS_MAX_BYTES - 100)}),
    ]
    for body in junk:
        try:
            parse_signal(body)
        except MalformedSignal:
            continue
        raise AssertionError(f"expected to be malformed: {body[:80]}")
    push(stack, junk)

    run_until_quiet(stack)

    dead = dead_letters(stack, resources)
    assert sorted(m["Body"] for m in dead) == sorted(junk)
    assert all(
        int(m["Attributes"]["ApproximateReceiveCount"]) >= DLQ_MAX_RECEIVE_COUNT for m in dead
    )
    triggered = sorted((m["batch_id"], m["attempt"]) for m in stack.work())
    assert triggered == [("b1", "2"), ("b2", "2"), ("b3", "2")]


@settings(
    max_examples=3,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.generate],  # no shrinking: every example is a trip through moto
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(st.lists(SQS_BODY, min_size=15, max_size=25, unique=True))
def test_generated_bodies_through_the_queue_end_in_the_dlq_or_are_handled(
    stack: Stack, resources: Any, generated: list[str]
):
    job = new_id()
    stack.fail(job, "real")
    rejected = []
    for body in generated:
        try:
            parse_signal(body)
        except MalformedSignal:
            rejected.append(body)
    push(stack, generated)

    run_until_quiet(stack)

    assert sorted(m["Body"] for m in dead_letters(stack, resources)) == sorted(rejected)
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("real", "2")]


@pytest.mark.parametrize(
    "fields",
    [{"first_failed_at": 5}, {"first_failed_at": "yesterday"}, {"attempt_floor": "x"}],
    ids=["first_failed_at-int", "first_failed_at-text", "attempt_floor-text"],
)
def test_signal_with_a_wrongly_typed_field_is_dead_lettered_not_a_crash(
    stack: Stack, resources: Any, fields: dict[str, Any]
):
    poisoned(stack, resources, fields)


@pytest.mark.parametrize(
    "fields",
    [{"error_type": ["x"]}, {"error_type": "E", "error_message": {"x": 1}}, {"trace_id": ["t"]}],
    ids=["error_type-list", "error_message-object", "trace_id-list"],
)
def test_exhausting_signal_with_a_wrongly_typed_field_is_dead_lettered_at_once(
    stack: Stack, resources: Any, fields: dict[str, Any]
):
    poisoned(stack, resources, {"attempt": 3, **fields})  # 3 is the cap: it exhausts


def poisoned(stack: Stack, resources: Any, fields: dict[str, Any]) -> None:
    """A signal that parses but carries `fields`: dead-lettered, and the real one handled."""
    job = new_id()
    stack.fail(job, "real")
    poison = signal_body(new_id(), "b1", next_retry_at="2024-01-01T00:00:00.000000Z", **fields)
    push(stack, [poison])

    run_until_quiet(stack)

    assert [m["Body"] for m in dead_letters(stack, resources)] == [poison]
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("real", "2")]
