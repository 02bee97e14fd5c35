"""Trigger specs: validation and the stored form (observability/triggers/)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.errors import InvalidInput
from observability.triggers import (
    MAX_ECS_OVERRIDES_CHARS,
    MAX_TRIGGER_BYTES,
    CustomTrigger,
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    Trigger,
    ecs_environment,
    ecs_overrides,
    overrides_chars,
    trigger_from_dict,
)

SAMPLES: list[Trigger] = [
    SqsTrigger(queue_url="https://sqs/q", body={"month": 5}),
    SqsTrigger(queue_url="https://sqs/q.fifo", body=[1, "a"], message_group_id="g"),
    LambdaTrigger(function_name="reload", payload={"x": None}),
    StepFunctionsTrigger(
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sm", input={}
    ),
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
    (EcsTaskTrigger, {"task_definition": "t", "container_name": "c", "subnets": ["s"]}, "cluster"),
    (EcsTaskTrigger, {"cluster": "c", "container_name": "c", "subnets": ["s"]}, "task_definition"),
    (EcsTaskTrigger, {"cluster": "c", "task_definition": "t", "subnets": ["s"]}, "container_name"),
    (CustomTrigger, {}, "name"),
]

PAYLOADS: list[tuple[type[Trigger], dict[str, Any], str]] = [
    (SqsTrigger, {"queue_url": "q"}, "body"),
    (LambdaTrigger, {"function_name": "f"}, "payload"),
    (
        StepFunctionsTrigger,
        {"state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm"},
        "input",
    ),
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
    # An unset optional field is left out (it reads back as its default).
    assert text == '{"body":{"a":2,"b":1},"kind":"sqs","queue_url":"q"}'


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
            subnets=["s"],
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
    ecs = EcsTaskTrigger(cluster="c", task_definition="t", container_name="a", subnets=["s"])
    assert (ecs.launch_type, ecs.assign_public_ip, ecs.environment) == ("FARGATE", False, {})


# -- types: every field of every kind, refused when built and named ------------------------

SM_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sm"
ECS_BASE: dict[str, Any] = {
    "cluster": "c",
    "task_definition": "t",
    "container_name": "a",
    "subnets": ["subnet-1"],
}
BAD_TYPES: list[tuple[type[Trigger], dict[str, Any], str]] = [
    (SqsTrigger, {"queue_url": 5}, "trigger.queue_url"),
    (SqsTrigger, {"queue_url": "q.fifo", "message_group_id": 5}, "trigger.message_group_id"),
    (SqsTrigger, {"queue_url": "q", "message_group_id": ["g"]}, "trigger.message_group_id"),
    (LambdaTrigger, {"function_name": b"fn"}, "trigger.function_name"),
    (StepFunctionsTrigger, {"state_machine_arn": None}, "trigger.state_machine_arn"),
    (EventBridgeTrigger, {"source": 1}, "trigger.source"),
    (EventBridgeTrigger, {"source": "s", "detail_type": None}, "trigger.detail_type"),
    (EventBridgeTrigger, {"source": "s", "detail_type": 7}, "trigger.detail_type"),
    (EventBridgeTrigger, {"source": "s", "event_bus_name": None}, "trigger.event_bus_name"),
    (EcsTaskTrigger, {**ECS_BASE, "cluster": 1}, "trigger.cluster"),
    (EcsTaskTrigger, {**ECS_BASE, "task_definition": 3}, "trigger.task_definition"),
    (EcsTaskTrigger, {**ECS_BASE, "container_name": ["a"]}, "trigger.container_name"),
    (EcsTaskTrigger, {**ECS_BASE, "command": "python -m job"}, "trigger.command"),
    (EcsTaskTrigger, {**ECS_BASE, "command": ["python", 3]}, "trigger.command[1]"),
    (EcsTaskTrigger, {**ECS_BASE, "environment": {"MONTH": 5}}, "trigger.environment['MONTH']"),
    (EcsTaskTrigger, {**ECS_BASE, "environment": {5: "x"}}, "trigger.environment"),
    (EcsTaskTrigger, {**ECS_BASE, "environment": [("A", "b")]}, "trigger.environment"),
    (EcsTaskTrigger, {**ECS_BASE, "launch_type": None}, "trigger.launch_type"),
    (EcsTaskTrigger, {**ECS_BASE, "subnets": "subnet-1"}, "trigger.subnets"),
    (EcsTaskTrigger, {**ECS_BASE, "subnets": [None]}, "trigger.subnets[0]"),
    (EcsTaskTrigger, {**ECS_BASE, "security_groups": "sg-1"}, "trigger.security_groups"),
    (EcsTaskTrigger, {**ECS_BASE, "assign_public_ip": "yes"}, "trigger.assign_public_ip"),
    (EcsTaskTrigger, {**ECS_BASE, "assign_public_ip": 1}, "trigger.assign_public_ip"),
    (CustomTrigger, {"name": 3}, "trigger.name"),
    (CustomTrigger, {"name": "n", "params": [1, 2]}, "trigger.params"),
    (CustomTrigger, {"name": "n", "params": {1: "x"}}, "trigger.params"),
]
# The role fields every kind has (observability.triggers.role), each kind at its least.
ROLE = "arn:aws:iam::123456789012:role/target"
LEAST: dict[type[Trigger], dict[str, Any]] = {
    SqsTrigger: {"queue_url": "q"},
    LambdaTrigger: {"function_name": "f"},
    StepFunctionsTrigger: {"state_machine_arn": SM_ARN},
    EventBridgeTrigger: {"source": "s"},
    EcsTaskTrigger: ECS_BASE,
    CustomTrigger: {"name": "n"},
}
BAD_TYPES += [
    (cls, {**least, "role_arn": 5}, "trigger.role_arn") for cls, least in LEAST.items()
] + [(cls, {**least, "external_id": ["x"]}, "trigger.external_id") for cls, least in LEAST.items()]


@pytest.mark.parametrize(("cls", "kwargs", "field"), BAD_TYPES)
def test_a_badly_typed_field_is_refused_when_built_and_named(
    cls: type[Trigger], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        cls(**kwargs)
    assert info.value.field == field
    assert "must be" in info.value.problem


def test_every_field_of_every_kind_is_type_checked() -> None:
    checked = {(cls, f.split(".")[1].split("[")[0]) for cls, _, f in BAD_TYPES}
    for cls in (SqsTrigger, LambdaTrigger, StepFunctionsTrigger, EventBridgeTrigger):
        for f in dataclasses.fields(cls):
            if f.name != cls.payload_field:  # payloads are any JSON: checked as JSON
                assert (cls, f.name) in checked, f"{cls.__name__}.{f.name} has no type test"
    for cls in (EcsTaskTrigger, CustomTrigger):
        assert {f.name for f in dataclasses.fields(cls)} <= {n for c, n in checked if c is cls}


def test_a_stored_trigger_with_a_bad_type_is_refused_on_reading() -> None:
    stored = {"kind": "eventbridge", "source": "s", "detail_type": None, "detail": {}}
    with pytest.raises(InvalidInput) as info:
        trigger_from_dict(stored)
    assert info.value.field == "trigger.detail_type"


# -- SQS FIFO message group ---------------------------------------------------------------


@pytest.mark.parametrize(
    "group", ["ingest sales", "ventes-été", "x" * 129, "", "tab\there", "line\nbreak"]
)
def test_fifo_message_group_is_128_ascii_printable_characters_at_most(group: str) -> None:
    with pytest.raises(InvalidInput) as info:
        SqsTrigger(queue_url="https://sqs/q.fifo", body={}, message_group_id=group)
    assert info.value.field == "trigger.message_group_id"


@pytest.mark.parametrize("group", ["ingest-sales", "x" * 128, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"])
def test_fifo_message_group_accepts_alphanumerics_and_punctuation(group: str) -> None:
    assert SqsTrigger(queue_url="q.fifo", message_group_id=group).message_group_id == group


# -- ECS ----------------------------------------------------------------------------------


def test_fargate_without_subnets_is_refused_saying_what_to_add() -> None:
    with pytest.raises(InvalidInput) as info:
        EcsTaskTrigger(cluster="c", task_definition="t", container_name="a")
    assert info.value.field == "trigger.subnets"
    assert "FARGATE" in str(info.value)
    assert "subnets=[" in str(info.value)


def test_ec2_launch_type_needs_no_subnets() -> None:
    spec = EcsTaskTrigger(cluster="c", task_definition="t", container_name="a", launch_type="EC2")
    assert spec.subnets == []


def test_unknown_launch_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"FARGATE") as info:
        EcsTaskTrigger(**{**ECS_BASE, "launch_type": "LAMBDA"})
    assert info.value.field == "trigger.launch_type"


def test_security_groups_without_subnets_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        EcsTaskTrigger(
            cluster="c", task_definition="t", container_name="a", launch_type="EC2",
            security_groups=["sg-1"],
        )  # fmt: skip
    assert info.value.field == "trigger.security_groups"


def test_awsvpc_limits_of_16_subnets_and_5_security_groups() -> None:
    EcsTaskTrigger(**{**ECS_BASE, "subnets": [f"s-{i}" for i in range(16)]})
    with pytest.raises(InvalidInput, match="limit is 16"):
        EcsTaskTrigger(**{**ECS_BASE, "subnets": [f"s-{i}" for i in range(17)]})
    with pytest.raises(InvalidInput, match="limit is 5"):
        EcsTaskTrigger(**{**ECS_BASE, "security_groups": [f"sg-{i}" for i in range(6)]})


def test_ecs_overrides_over_8192_characters_are_refused_when_built() -> None:
    # 100 variables of 80 characters: far below 64 KiB, far above RunTask's 8,192 characters.
    environment = {f"VAR_{i:03d}": "x" * 80 for i in range(100)}
    with pytest.raises(InvalidInput) as info:
        EcsTaskTrigger(**ECS_BASE, environment=environment)
    assert info.value.field == "trigger.environment"
    assert f"limit is {MAX_ECS_OVERRIDES_CHARS}" in str(info.value)


def test_ecs_overrides_leave_room_for_the_widest_batch_fields() -> None:
    """What is accepted stays within 8,192 characters for any valid job and batch id."""
    from observability.models.keys import MAX_ID_BYTES

    def spec_with(chars: int) -> EcsTaskTrigger:
        return EcsTaskTrigger(**ECS_BASE, environment={"BIG": "x" * chars})

    # The largest environment accepted, found by bisection.
    low, high = 0, MAX_ECS_OVERRIDES_CHARS
    while low < high:
        middle = (low + high + 1) // 2
        try:
            spec_with(middle)
            low = middle
        except InvalidInput:
            high = middle - 1
    spec = spec_with(low)
    assert low > 5000  # a useful amount of room is left for the user's variables
    widest = "\U0001f600" * (MAX_ID_BYTES // 4)  # 200 bytes; 12 JSON characters each
    for job, batch in [(widest, widest), ("é" * 100, "é" * 100), ('"' * 200, "\\" * 200)]:
        env = ecs_environment(spec, {"job_id": job, "batch_id": batch, "attempt": 10**9}, "t" * 32)
        assert overrides_chars(ecs_overrides(spec, env)) <= MAX_ECS_OVERRIDES_CHARS


# -- names and ARNs the targets check ----------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["my function", "fn!", "f" * 257, "arn:aws:lambda:us-east-1:123456789012:function:a b"]
)
def test_lambda_function_name_follows_invoke_rules(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        LambdaTrigger(function_name=name)
    assert info.value.field == "trigger.function_name"


@pytest.mark.parametrize(
    "name",
    [
        "reload",
        "reload:live",
        "arn:aws:lambda:us-east-1:123456789012:function:reload",
        "123456789012:function:reload",
    ],
)
def test_lambda_function_names_and_arns_accepted(name: str) -> None:
    assert LambdaTrigger(function_name=name).function_name == name


@pytest.mark.parametrize(
    "arn", ["sm", "arn:aws:states:us-east-1:123456789012:execution:sm:x", "arn:aws:sqs:q"]
)
def test_state_machine_arn_must_be_one(arn: str) -> None:
    with pytest.raises(InvalidInput) as info:
        StepFunctionsTrigger(state_machine_arn=arn)
    assert info.value.field == "trigger.state_machine_arn"


def test_event_bus_name_follows_put_events_rules() -> None:
    with pytest.raises(InvalidInput) as info:
        EventBridgeTrigger(source="s", event_bus_name="my bus")
    assert info.value.field == "trigger.event_bus_name"
    assert EventBridgeTrigger(
        source="s", event_bus_name="arn:aws:events:us-east-1:123456789012:event-bus/b"
    )
