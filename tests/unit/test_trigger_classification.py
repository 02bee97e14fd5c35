"""Trigger failures are judged in one place: permanent (TriggerRejected) or transient."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
    UnknownServiceError,
)

from remediator.errors import TriggerError, TriggerRejected
from remediator.triggers import RunTaskFailed, classify


def client_error(code: str, status: int, operation: str = "SendMessage") -> ClientError:
    reply: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(reply, operation)


PERMANENT: list[BaseException] = [
    client_error("ResourceNotFoundException", 404, "Invoke"),
    client_error("QueueDoesNotExist", 400),
    client_error("AccessDeniedException", 400),
    client_error("AccessDenied", 403),
    client_error("ValidationException", 400),
    client_error("InvalidParameterValue", 400),
    client_error("ClusterNotFoundException", 400, "RunTask"),
    client_error("StateMachineDoesNotExist", 400, "StartExecution"),
    client_error("RequestTooLargeException", 413, "Invoke"),
    client_error("MalformedDetail", 0, "PutEvents"),  # a refused PutEvents entry
    ParamValidationError(report="Invalid type for parameter MessageGroupId, value: 5"),
    NoRegionError(),
    UnknownServiceError(service_name="nope", known_service_names=["sqs"]),
    ValueError("the DAG does not exist"),  # a custom trigger's own exception
    KeyError("dag"),
    RuntimeError("boom"),
    RunTaskFailed([{"reason": "MISSING"}]),
    RunTaskFailed([{"reason": "ATTRIBUTE", "detail": "ecs.capability.x"}]),
    RunTaskFailed([]),
]
TRANSIENT: list[BaseException] = [
    client_error("ThrottlingException", 400),
    client_error("TooManyRequestsException", 429, "Invoke"),
    client_error("ProvisionedThroughputExceededException", 400),
    client_error("KMSThrottling", 400, "Publish"),
    client_error("ExecutionLimitExceeded", 400, "StartExecution"),
    client_error("InternalError", 500),
    client_error("ServiceUnavailable", 503),
    client_error("AnythingElse", 502),
    client_error("InternalFailure", 0, "PutEvents"),  # a PutEvents entry: no HTTP status
    client_error("ThrottlingException", 0, "PutEvents"),
    EndpointConnectionError(endpoint_url="https://sqs"),
    ConnectTimeoutError(endpoint_url="https://sqs"),
    ReadTimeoutError(endpoint_url="https://sqs"),
    ConnectionResetError("reset"),
    TimeoutError("slow"),
    RunTaskFailed([{"reason": "RESOURCE:MEMORY"}]),
    RunTaskFailed([{"reason": "AGENT"}]),
    RunTaskFailed(
        [
            {
                "reason": "Capacity is unavailable at this time. Please try again later or in a "
                "different availability zone"
            }
        ]
    ),
]


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_permanent_failures_are_rejections(exc: BaseException) -> None:
    judged = classify(exc, "sqs trigger of j/b")
    assert isinstance(judged, TriggerRejected)
    assert str(judged).startswith("sqs trigger of j/b: ")


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_failures_are_worth_another_try(exc: BaseException) -> None:
    assert isinstance(classify(exc, "t"), TriggerError)


def test_classified_errors_pass_through() -> None:
    rejected, error = TriggerRejected("no"), TriggerError("later")
    assert classify(rejected, "t") is rejected
    assert classify(error, "t") is error


def test_an_exception_whose_text_raises_is_still_classified() -> None:
    class Opaque(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    judged = classify(Opaque(), "custom trigger of j/b")
    assert isinstance(judged, TriggerRejected)
    assert "Opaque" in str(judged)


def test_a_mix_of_run_task_failures_is_permanent_if_one_is() -> None:
    assert isinstance(
        classify(RunTaskFailed([{"reason": "RESOURCE:CPU"}, {"reason": "MISSING"}]), "t"),
        TriggerRejected,
    )
