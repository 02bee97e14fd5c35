"""Reading a re-run request back from each delivery (observability/rerun/request.py). Pure."""

from __future__ import annotations

import json

import pytest

from observability.rerun import FirstRun, MalformedRerun, RerunRequest

FIELDS = {"job_id": "ingest", "batch_id": "2024-05", "attempt": 2, "trace_id": "t1"}


def sqs_message(attributes: dict[str, str], body: str = '{"month": "2024-05"}') -> dict:
    """The ReceiveMessage shape of what the remediator's SQS trigger sends."""
    return {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": body,
        "MessageAttributes": {
            name: {"StringValue": value, "DataType": "Number" if name == "attempt" else "String"}
            for name, value in attributes.items()
        },
    }


def sqs_record(attributes: dict[str, str], body: str = '{"month": "2024-05"}') -> dict:
    """The Lambda event-source shape of the same message."""
    return {
        "messageId": "m1",
        "body": body,
        "messageAttributes": {
            name: {"stringValue": value, "dataType": "String"} for name, value in attributes.items()
        },
        "eventSource": "aws:sqs",
    }


TRIGGERED = {
    "job_id": "ingest",
    "batch_id": "2024-05",
    "attempt": "2",
    "trace_id": "t1",
    "reason": "retry",
}


@pytest.mark.parametrize("parse", [
    lambda a, b: RerunRequest.from_sqs_message(sqs_message(a, b)),
    lambda a, b: RerunRequest.from_sqs_record(sqs_record(a, b)),
])  # fmt: skip
def test_both_sqs_shapes_give_the_same_request(parse):
    request = parse(TRIGGERED, '{"month": "2024-05"}')
    assert request == RerunRequest(
        job_id="ingest",
        batch_id="2024-05",
        attempt=2,
        body={"month": "2024-05"},
        trace_id="t1",
        reason="retry",
    )
    assert request.is_rerun
    assert parse({**TRIGGERED, "trace_id": "-"}, "null").trace_id is None
    assert parse(TRIGGERED, "plain text").body == "plain text"


def test_sqs_messages_that_are_not_requests_are_refused_or_named_by_the_first_run():
    with pytest.raises(MalformedRerun, match="MessageAttributes"):
        RerunRequest.from_sqs_message(sqs_message({}))
    first = FirstRun("ingest", lambda body: body["month"])
    request = RerunRequest.from_sqs_message(sqs_message({}), first)
    assert (request.job_id, request.batch_id, request.attempt) == ("ingest", "2024-05", None)
    assert not request.is_rerun
    with pytest.raises(MalformedRerun, match=r"^batch_id: could not be read .*KeyError"):
        RerunRequest.from_sqs_message(sqs_message({}, "{}"), first)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"job_id": "ingest", "attempt": "2"}, "^batch_id: is missing"),
        ({**TRIGGERED, "attempt": "two"}, "^attempt: must be a whole number, got 'two'"),
        ({**TRIGGERED, "attempt": "0"}, "^attempt: must be at least 1"),
        ({**TRIGGERED, "batch_id": "a#b"}, "^batch_id: must not contain the key delimiter"),
        ({**TRIGGERED, "job_id": " "}, "^job_id: must not be empty"),
    ],
)
def test_a_bad_request_names_the_field(attributes, message):
    with pytest.raises(MalformedRerun, match=message):
        RerunRequest.from_sqs_message(sqs_message(attributes))


def test_direct_lambda_step_functions_and_eventbridge_events():
    # The documents the remediator's triggers send (see remediator/triggers/targets.py).
    lam = {"payload": {"m": 5}, **FIELDS, "reason": "replay"}
    sfn = {"input": {"m": 5}, **FIELDS, "reason": "retry"}
    bridge = {"version": "0", "detail-type": "BatchRetryRequested", "source": "pipelines",
              "detail": {"detail": {"m": 5}, **FIELDS, "reason": "retry"}}  # fmt: skip
    for event in (lam, sfn, bridge):
        request = RerunRequest.from_event(json.loads(json.dumps(event)))
        assert (request.job_id, request.batch_id, request.attempt) == ("ingest", "2024-05", 2)
        assert request.body == {"m": 5}
        assert request.trace_id == "t1"
    assert RerunRequest.from_event(lam).reason == "replay"


def test_an_ordinary_event_is_a_first_run_only_when_the_caller_names_it():
    with pytest.raises(MalformedRerun, match=r"^event: has no job_id"):
        RerunRequest.from_event({"day": "2024-05-01"})
    first = FirstRun("daily", lambda event: event["day"])
    request = RerunRequest.from_event({"day": "2024-05-01"}, first)
    assert (request.job_id, request.batch_id, request.attempt) == ("daily", "2024-05-01", None)
    assert request.body == {"day": "2024-05-01"}


def test_ecs_environment():
    env = {
        "PIPELINE_JOB_ID": "ingest",
        "PIPELINE_BATCH_ID": "2024-05",
        "PIPELINE_ATTEMPT": "3",
        "PIPELINE_TRACE_ID": "t1",
        "HOME": "/root",
    }
    request = RerunRequest.from_environment(env)
    assert (request.job_id, request.batch_id, request.attempt, request.trace_id) == (
        "ingest",
        "2024-05",
        3,
        "t1",
    )
    first = RerunRequest.from_environment({k: v for k, v in env.items() if k != "PIPELINE_ATTEMPT"})
    assert first.attempt is None  # a scheduled first run of the batch named
    with pytest.raises(MalformedRerun, match=r"^PIPELINE_BATCH_ID: is not set"):
        RerunRequest.from_environment({"PIPELINE_JOB_ID": "ingest"})
    with pytest.raises(MalformedRerun, match=r"^PIPELINE_ATTEMPT: must be a whole number"):
        RerunRequest.from_environment({**env, "PIPELINE_ATTEMPT": "x"})
    with pytest.raises(MalformedRerun, match=r"^PIPELINE_JOB_ID: is not set"):
        RerunRequest.from_environment({"HOME": "/root"})
