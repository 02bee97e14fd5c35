"""Trigger specs: validation and the stored form (observability/triggers.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.errors import InvalidInput
from observability.triggers import (
    MAX_TRIGGER_BYTES,
    CustomTrigger,
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    Trigger,
    trigger_from_dict,
)

SAMPLES: list[Trigger] = [
    SqsTrigger(queue_url="https://sqs/q", body={"month": 5}),
    SqsTrigger(queue_url="https://sqs/q.fifo", body=[1, "a"], message_group_id="g"),
    LambdaTrigger(function_name="reload", payload={"x": None}),
    StepFunctionsTrigger(state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:sm", input={}),
    EventBridgeTrigger(source="pipelines", detail={"month": 5}, event_bus_name="bus"),
    EcsTaskTrigger(
        cluster="c",
        task_definition="td:3",
        container_name="app",
        command=["python", "-m", "job"],
        environment={"MONTH": "5"},
        subnets=["subnet-1"],
        security_groups=["sg-1"],
        assign_public_ip=True,
    ),
    CustomTrigger(name="airflow", params={"dag": "sales"}),
]

REQUIRED: list[tuple[type[Trigger], dict[str, Any], str]] = [
    (SqsTrigger, {}, "queue_url"),
    (LambdaTrigger, {}, "function_name"),
    (StepFunctionsTrigger, {}, "state_machine_arn"),
    (EventBridgeTrigger, {}, "source"),
    (EcsTaskTrigger, {"task_definition": "t", "container_name": "c"}, "cluster"),
    (EcsTaskTrigger, {"cluster": "c", "container_name": "c"}, "task_definition"),
    (EcsTaskTrigger, {"cluster": "c", "task_definition": "t"}, "container_name"),
    (CustomTrigger, {}, "name"),
]

PAYLOADS: list[tuple[type[Trigger], dict[str, Any], str]] = [
    (SqsTrigger, {"queue_url": "q"}, "body"),
    (LambdaTrigger, {"function_name": "f"}, "payload"),
    (StepFunctionsTrigger, {"state_machine_arn": "arn"}, "input"),
    (EventBridgeTrigger, {"source": "s"}, "detail"),
    (CustomTrigger, {"name": "n"}, "params"),
]


@pytest.mark.parametrize("trigger", SAMPLES, ids=lambda t: t.kind)
def test_round_trip_through_dict_and_json(trigger: Trigger) -> None:
    data = trigger.to_dict()
    assert data["kind"] == trigger.kind
    assert trigger_from_dict(data) == trigger
    assert trigger_from_dict(json.loads(trigger.to_json())) == trigger


def test_to_json_is_compact_and_sorted() -> None:
    text = SqsTrigger(queue_url="q", body={"b": 1, "a": 2}).to_json()
    assert text == '{"body":{"a":2,"b":1},"kind":"sqs","message_group_id":null,"queue_url":"q"}'


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_body_round_trips(body: Any) -> None:
    trigger = SqsTrigger(queue_url="q", body=body)
    assert trigger_from_dict(json.loads(trigger.to_json())) == trigger


@pytest.mark.parametrize(("cls", "kwargs", "field"), REQUIRED)
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_required_fields_are_named(
    cls: type[Trigger], kwargs: dict[str, Any], field: str, blank: str | None
) -> None:
    args = dict(kwargs)
    if blank is not None:
        args[field] = blank
    with pytest.raises(InvalidInput) as info:
        cls(**args)
    assert info.value.field == f"trigger.{field}"
    assert "required" in str(info.value)


def test_required_field_must_be_a_string() -> None:
    with pytest.raises(InvalidInput, match=r"trigger\.function_name"):
        LambdaTrigger(function_name=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "kwargs", "field"), PAYLOADS)
def test_payload_over_the_limit_names_the_field_and_the_limit(
    cls: type[Trigger], kwargs: dict[str, Any], field: str
) -> None:
    # A JSON string of n characters is n + 2 bytes: this payload is one byte over.
    payload: Any = "x" * (MAX_TRIGGER_BYTES - 1)
    if field == "params":
        payload = {"p": "x" * (MAX_TRIGGER_BYTES - 7)}  # {"p":"..."} = n + 8 bytes
    with pytest.raises(InvalidInput) as info:
        cls(**kwargs, **{field: payload})
    assert info.value.field == f"trigger.{field}"
    assert f"{MAX_TRIGGER_BYTES + 1} bytes" in str(info.value)
    assert f"limit is {MAX_TRIGGER_BYTES} bytes" in str(info.value)


def test_body_limit_is_65536_bytes_of_json() -> None:
    assert MAX_TRIGGER_BYTES == 65536
    SqsTrigger(queue_url="q", body="x" * (MAX_TRIGGER_BYTES - 100))  # comfortably inside


def test_multibyte_body_is_measured_in_bytes() -> None:
    # json.dumps escapes non-ASCII: each "é" is 6 bytes ("\\u00e9") though one character.
    with pytest.raises(InvalidInput, match=r"trigger\.body"):
        SqsTrigger(queue_url="q", body="é" * (MAX_TRIGGER_BYTES // 6 + 1))


def test_whole_trigger_over_the_limit_names_the_trigger() -> None:
    # The body alone is exactly at the limit; with the queue url the trigger is over it.
    with pytest.raises(InvalidInput) as info:
        SqsTrigger(queue_url="q", body="x" * (MAX_TRIGGER_BYTES - 2))
    assert info.value.field == "trigger"
    assert f"limit is {MAX_TRIGGER_BYTES} bytes" in str(info.value)


def test_ecs_environment_over_the_limit() -> None:
    with pytest.raises(InvalidInput) as info:
        EcsTaskTrigger(
            cluster="c",
            task_definition="t",
            container_name="a",
            environment={"BIG": "x" * MAX_TRIGGER_BYTES},
        )
    assert info.value.field == "trigger.environment"


@pytest.mark.parametrize("body", [object(), {1, 2}, b"bytes", {"when": 1j}, {(1, 2): "tuple key"}])
def test_non_json_body_is_rejected(body: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        SqsTrigger(queue_url="q", body=body)
    assert info.value.field == "trigger.body"
    assert "JSON" in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_body_is_rejected(value: float) -> None:
    with pytest.raises(InvalidInput, match=r"trigger\.body"):
        SqsTrigger(queue_url="q", body={"x": value})


@pytest.mark.parametrize("url", ["https://sqs/q.fifo", "q.fifo"])
def test_fifo_queue_needs_a_message_group(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        SqsTrigger(queue_url=url, body={})
    assert info.value.field == "trigger.message_group_id"
    assert "FIFO" in str(info.value)
    assert SqsTrigger(queue_url=url, body={}, message_group_id="g").message_group_id == "g"


def test_standard_queue_needs_no_message_group() -> None:
    assert SqsTrigger(queue_url="https://sqs/q", body={}).message_group_id is None


@pytest.mark.parametrize("data", [{"kind": "ftp"}, {}, {"kind": None}, {"kind": ""}])
def test_unknown_kind_is_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as info:
        trigger_from_dict(data)
    assert info.value.field == "trigger.kind"
    assert "sqs" in str(info.value)  # lists the known kinds


@pytest.mark.parametrize("extra", ["colour", "payload_field"])
def test_unknown_fields_are_rejected_and_named(extra: str) -> None:
    with pytest.raises(InvalidInput) as info:
        trigger_from_dict({"kind": "sqs", "queue_url": "q", extra: 1})
    assert info.value.field == "trigger"
    assert extra in str(info.value)


def test_from_dict_validates_like_the_constructor() -> None:
    with pytest.raises(InvalidInput) as info:
        trigger_from_dict({"kind": "sqs", "body": {}})
    assert info.value.field == "trigger.queue_url"


def test_triggers_are_immutable() -> None:
    trigger = SqsTrigger(queue_url="q")
    with pytest.raises(dataclasses.FrozenInstanceError):
        trigger.queue_url = "other"  # type: ignore[misc]


def test_defaults() -> None:
    event = EventBridgeTrigger(source="s")
    assert (event.detail_type, event.event_bus_name) == ("BatchRetryRequested", "default")
    ecs = EcsTaskTrigger(cluster="c", task_definition="t", container_name="a")
    assert (ecs.launch_type, ecs.assign_public_ip, ecs.environment) == ("FARGATE", False, {})
