"""The Glue, EMR Serverless and AWS Batch triggers, and the role any trigger may name:
validation, the stored form, the engines' tokens and names (observability/triggers/,
remediator/triggers/engines.py, roles.py). Pure."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from observability.errors import InvalidInput
from observability.models.keys import BatchKey
from observability.triggers import (
    BatchJobTrigger,
    CustomTrigger,
    EmrServerlessTrigger,
    GlueJobTrigger,
    SqsTrigger,
    Trigger,
    batch_overrides,
    emr_configuration,
    glue_arguments,
    trigger_from_dict,
)
from remediator.errors import TriggerError
from remediator.triggers import TriggerContext, classify, target_of
from remediator.triggers.engines import batch_job_name, emr_client_token
from remediator.triggers.names import target_key, target_keys
from remediator.triggers.roles import _lifetime

ROLE = "arn:aws:iam::222222222222:role/pipelines-retrigger"
EMR_ROLE = "arn:aws:iam::123456789012:role/emr-job"
SPARK = {"sparkSubmit": {"entryPoint": "s3://scripts/load.py"}}

SAMPLES: list[Trigger] = [
    GlueJobTrigger(job_name="load sales", arguments={"--month": "2024-05"}),
    EmrServerlessTrigger(application_id="00f1abc", execution_role_arn=EMR_ROLE, job_driver=SPARK),
    EmrServerlessTrigger(
        application_id="00f1abc",
        execution_role_arn=EMR_ROLE,
        job_driver={"hive": {"query": "select 1", "parameters": "--hiveconf a=b"}},
        role_arn=ROLE,
        external_id="ext-42",
    ),
    BatchJobTrigger(job_queue="etl", job_definition="load:3", parameters={"month": "5"}),
    SqsTrigger(queue_url="https://sqs/q", body={}, role_arn=ROLE),
]


@pytest.mark.parametrize("trigger", SAMPLES, ids=lambda t: t.kind)
def test_round_trip_through_dict_and_json(trigger: Trigger) -> None:
    assert trigger_from_dict(trigger.to_dict()) == trigger
    assert trigger_from_dict(json.loads(trigger.to_json())) == trigger


def test_the_role_fields_are_left_out_of_the_stored_form_when_unset() -> None:
    plain = SqsTrigger(queue_url="q", body={})
    assert "role_arn" not in plain.to_dict()
    assert "role_arn" not in plain.to_json()
    assert json.loads(SAMPLES[2].to_json())["external_id"] == "ext-42"


BAD: list[tuple[type[Trigger], dict[str, Any], str, str]] = [
    (GlueJobTrigger, {}, "trigger.job_name", "required"),
    (GlueJobTrigger, {"job_name": "a\nb"}, "trigger.job_name", "one line"),
    (GlueJobTrigger, {"job_name": "j" * 256}, "trigger.job_name", "limit is 255"),
    (GlueJobTrigger, {"job_name": "j", "arguments": {"month": "5"}}, "trigger.arguments", "--"),
    (
        GlueJobTrigger,
        {"job_name": "j", "arguments": {"--PIPELINE_ATTEMPT": "9"}},
        "trigger.arguments",
        "set by the remediator",
    ),
    (
        EmrServerlessTrigger,
        {"execution_role_arn": EMR_ROLE, "job_driver": SPARK},
        "trigger.application_id",
        "required",
    ),
    (
        EmrServerlessTrigger,
        {"application_id": "App-1", "execution_role_arn": EMR_ROLE, "job_driver": SPARK},
        "trigger.application_id",
        "lower-case",
    ),
    (
        EmrServerlessTrigger,
        {
            "application_id": "a1",
            "execution_role_arn": "arn:aws:iam::1:user/x",
            "job_driver": SPARK,
        },
        "trigger.execution_role_arn",
        "role ARN",
    ),
    (
        EmrServerlessTrigger,
        {"application_id": "a1", "execution_role_arn": EMR_ROLE, "job_driver": {}},
        "trigger.job_driver",
        "one driver",
    ),
    (
        EmrServerlessTrigger,
        {"application_id": "a1", "execution_role_arn": EMR_ROLE, "job_driver": {"sparkSubmit": {}}},
        "trigger.job_driver.sparkSubmit.entryPoint",
        "required",
    ),
    (
        EmrServerlessTrigger,
        {
            "application_id": "a1",
            "execution_role_arn": EMR_ROLE,
            "job_driver": {"sparkSubmit": {"entryPoint": "e", "entryPointArguments": ["a"] * 1025}},
        },
        "trigger.job_driver.sparkSubmit.entryPointArguments",
        "limit is 1024",
    ),
    (
        EmrServerlessTrigger,
        {
            "application_id": "a1",
            "execution_role_arn": EMR_ROLE,
            "job_driver": {"hive": {"query": "q", "mode": "x"}},
        },
        "trigger.job_driver.hive",
        "unknown members ['mode']",
    ),
    (BatchJobTrigger, {"job_definition": "d"}, "trigger.job_queue", "required"),
    (BatchJobTrigger, {"job_queue": "q"}, "trigger.job_definition", "required"),
    (
        BatchJobTrigger,
        {"job_queue": "q", "job_definition": "d", "retry_strategy": {"attempts": 3}},
        "trigger.retry_strategy",
        "audit trail",
    ),
    (SqsTrigger, {"queue_url": "q", "external_id": "ext-42"}, "trigger.external_id", "role_arn"),
    (SqsTrigger, {"queue_url": "q", "role_arn": "arn:aws:iam::1:role/x"}, "trigger.role_arn", ""),
    (
        SqsTrigger,
        {"queue_url": "q", "role_arn": "arn:aws:iam::222222222222:user/x"},
        "trigger.role_arn",
        "role ARN",
    ),
    (
        SqsTrigger,
        {"queue_url": "q", "role_arn": ROLE, "external_id": "has space"},
        "trigger.external_id",
        "ExternalId",
    ),
    (SqsTrigger, {"queue_url": "q", "role_arn": ROLE, "external_id": "x"}, "external_id", ""),
    (CustomTrigger, {"name": "n", "role_arn": ROLE}, "trigger.role_arn", "custom trigger"),
]


@pytest.mark.parametrize(("cls", "kwargs", "field", "says"), BAD)
def test_a_trigger_its_target_would_refuse_is_refused_when_built(
    cls: type[Trigger], kwargs: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        cls(**kwargs)
    assert field in info.value.field
    assert says in info.value.problem


BATCH = {"job_id": "ingest", "batch_id": "2024-05", "attempt": 2}
VARIABLES = {
    "PIPELINE_JOB_ID": "ingest",
    "PIPELINE_BATCH_ID": "2024-05",
    "PIPELINE_ATTEMPT": "2",
    "PIPELINE_TRACE_ID": "t-1",
    "TRACEPARENT": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
}


def test_each_engine_carries_the_batch_where_its_run_reads_it() -> None:
    traceparent = VARIABLES["TRACEPARENT"]
    glue = glue_arguments(SAMPLES[0], BATCH, "t-1", traceparent)  # type: ignore[arg-type]
    assert glue == {"--month": "2024-05", **{f"--{k}": v for k, v in VARIABLES.items()}}
    spark = emr_configuration(SAMPLES[1], BATCH, "t-1", traceparent)  # type: ignore[arg-type]
    [config] = spark["applicationConfiguration"]
    assert config["classification"] == "spark-defaults"
    prefix = "spark.emr-serverless.driverEnv."
    assert config["properties"] == {f"{prefix}{k}": v for k, v in VARIABLES.items()}
    hive = emr_configuration(SAMPLES[2], BATCH, "t-1", traceparent)  # type: ignore[arg-type]
    assert hive["applicationConfiguration"] == [
        {"classification": "hive-site", "properties": VARIABLES}
    ]
    environment = batch_overrides(BATCH, "t-1", traceparent)["environment"]
    assert {e["name"]: e["value"] for e in environment} == VARIABLES


def test_no_variable_is_blank_when_the_batch_has_no_trace() -> None:
    """EMR Serverless refuses a property value without a non-blank character."""
    [config] = emr_configuration(SAMPLES[1], BATCH, None)["applicationConfiguration"]  # type: ignore[arg-type]
    assert sorted(config["properties"]) == [
        f"spark.emr-serverless.driverEnv.PIPELINE_{name}"
        for name in ("ATTEMPT", "BATCH_ID", "JOB_ID")
    ]
    assert all(value.strip() for value in config["properties"].values())


ids = st.text(min_size=1, max_size=200).filter(lambda s: "#" not in s and s.strip())


@given(job=ids, batch=ids, attempt=st.integers(min_value=1, max_value=10**9))
def test_engine_tokens_and_names_fit_their_limits(job: str, batch: str, attempt: int) -> None:
    ctx = TriggerContext(BatchKey(job, batch), attempt, "t-1")
    token = emr_client_token(ctx)
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", token)
    assert token == emr_client_token(ctx)
    assert token != emr_client_token(TriggerContext(BatchKey(job, batch), attempt + 1, "t-1"))
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", batch_job_name(ctx))


def test_an_emr_token_is_the_idempotency_key_itself_where_the_characters_allow() -> None:
    ctx = TriggerContext(BatchKey("ingest.sales", "2024_05"), 3, "t-1")
    # '#' is not a token character: replaced, and a hash of the key keeps tokens apart.
    assert emr_client_token(ctx).startswith("ingest.sales-2024_05-3-")


def test_the_engines_targets_are_named_for_breakers_and_pauses() -> None:
    assert target_of(SAMPLES[0].to_dict()) == "glue|load sales"
    assert target_of(SAMPLES[1].to_dict()) == "emrserverless|00f1abc"
    assert target_of(SAMPLES[3].to_dict()) == "batch|etl|load:3"
    # The same application in another account is another target, with a circuit of its own.
    assert target_of(SAMPLES[2].to_dict()) == f"emrserverless|00f1abc|{ROLE}"
    assert target_key("load sales") in target_keys(SAMPLES[0].to_dict())
    assert target_key("00f1abc") in target_keys(SAMPLES[1].to_dict())
    assert target_key("etl") in target_keys(SAMPLES[3].to_dict())
    # As the console shows them: the job's, the application's, the queue's ARN.
    glue_arn = "arn:aws:glue:eu-west-1:123456789012:job/load sales"
    emr_arn = "arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00f1abc"
    queue_arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/etl"
    assert target_key(glue_arn) in target_keys(SAMPLES[0].to_dict())
    assert target_key(emr_arn) in target_keys(SAMPLES[1].to_dict())
    assert target_key(queue_arn) in target_keys(SAMPLES[3].to_dict())


def test_glue_concurrent_runs_exceeded_is_transient() -> None:
    reply: Any = {
        "Error": {"Code": "ConcurrentRunsExceededException", "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    assert isinstance(classify(ClientError(reply, "StartJobRun"), "glue"), TriggerError)


def test_credentials_last_as_long_as_sts_says_whatever_the_local_clock() -> None:
    issued = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    reply = {
        "Credentials": {"Expiration": issued + timedelta(hours=1)},
        "ResponseMetadata": {"HTTPHeaders": {"date": "Fri, 01 May 2026 12:00:00 GMT"}},
    }
    assert _lifetime(reply) == timedelta(hours=1)
    naive = {
        **reply,
        "Credentials": {"Expiration": (issued + timedelta(minutes=15)).replace(tzinfo=None)},
    }
    assert _lifetime(naive) == timedelta(minutes=15)
    expired = {**reply, "Credentials": {"Expiration": issued - timedelta(minutes=1)}}
    assert _lifetime(expired) == timedelta(0)
