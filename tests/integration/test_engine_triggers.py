"""Glue, EMR Serverless and AWS Batch triggers heal a batch end to end on the moto server:
the batch fails, the remediator starts the engine's run with the batch in it, and the run
(`run_task` with what the engine handed it) succeeds. Each request is the strict layer's to
judge, and each test shows the idempotency the engine offers in the request itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability import run_task
from observability.triggers import BatchJobTrigger, EmrServerlessTrigger, GlueJobTrigger
from remediator.errors import TriggerError
from remediator.triggers import TriggerContext, fire
from tests.conftest import Clock, new_id
from tests.integration.engine_targets import (
    ACCOUNT,
    EMR_ROLE,
    batch_queue,
    emr_application,
    glue_job,
)
from tests.integration.harness import Stack
from tests.strict.checker import StrictAws, StrictAwsViolation
from tests.strict.engines import ENGINE_RULES


class Boom(Exception):
    pass


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def fail_with(stack: Stack, job: str, batch: str, trigger: Any) -> None:
    with pytest.raises(Boom), stack.trail.batch(job, batch, trigger=trigger):
        raise Boom(f"{batch} failed")


def events(stack: Stack, job: str, batch: str) -> list[tuple[str, int]]:
    return [(e.event.value, e.attempt) for e in stack.trail.history(job, batch)]


def sent(stack: Stack, service: str, operation: str) -> list[dict[str, Any]]:
    """The parameters of each `operation` the remediator makes, as its code passed them."""
    calls: list[dict[str, Any]] = []
    stack.remediator.trigger_clients.client(service).meta.events.register(
        f"provide-client-params.{service}.{operation}",
        lambda params, **_: calls.append(json.loads(json.dumps(params))),
    )
    return calls


def healed(stack: Stack, job: str, batch: str, environ: dict[str, str]) -> None:
    """The engine's run, given what the engine handed it: the batch succeeds at attempt 2."""
    assert run_task(stack.producer(actor="engine"), lambda b: b.attempt, environ=environ) == 2
    assert events(stack, job, batch)[-3:] == [
        ("RETRY_TRIGGERED", 2),
        ("STARTED", 2),
        ("SUCCESS", 2),
    ]
    # A second run of the same attempt (a start repeated where the engine has no token) is
    # a duplicate: nothing runs.
    again = run_task(stack.producer(), lambda b: pytest.fail("ran twice"), environ=environ)
    assert again is None


def test_a_glue_job_heals_a_batch_with_the_batch_in_its_arguments(stack: Stack):
    glue = stack.clients.client("glue")
    name = glue_job(stack.clients)
    job = new_id()
    trigger = GlueJobTrigger(job_name=name, arguments={"--month": "2024-05"})
    fail_with(stack, job, "2024-05", trigger)
    requests = sent(stack, "glue", "StartJobRun")
    stack.service.run_once()

    [request] = requests
    # No token in StartJobRun: the claim fired this attempt once, and the attempt named in
    # the arguments is what a repeated run would find already started.
    assert request["JobName"] == name
    assert request["Arguments"]["--PIPELINE_ATTEMPT"] == "2"
    [run] = glue.get_job_runs(JobName=name)["JobRuns"]
    arguments = run["Arguments"]
    assert arguments["--month"] == "2024-05"
    # What getResolvedOptions hands the script: the names without their '--'.
    healed(stack, job, "2024-05", {k.removeprefix("--"): v for k, v in arguments.items()})
    [triggered] = [
        e for e in stack.trail.history(job, "2024-05") if e.event.value == "RETRY_TRIGGERED"
    ]
    assert triggered.detail["response_id"] == run["Id"]
    assert triggered.detail["trigger"] == "glue"


def test_glue_concurrent_runs_exceeded_is_transient_not_a_failure(clients):
    """moto models Glue's MaxConcurrentRuns: a run still RUNNING refuses a second start."""
    from moto.moto_api import state_manager

    glue = clients.client("glue")
    name = glue_job(clients, ExecutionProperty={"MaxConcurrentRuns": 1})
    # The moto server runs in this process: its job runs stay RUNNING until told otherwise.
    state_manager.set_transition("glue::job_run", {"progression": "manual", "times": 99})
    try:
        glue.start_job_run(JobName=name)
        ctx = TriggerContext(_key("ingest", "2024-05"), 2, "t-1")
        stored = GlueJobTrigger(job_name=name).to_dict()
        naps: list[float] = []
        with pytest.raises(TriggerError, match="ConcurrentRunsExceededException"):
            fire(clients.derive(max_attempts=1), stored, ctx, attempts=3, sleep=naps.append)
    finally:
        state_manager.unset_transition("glue::job_run")
    assert len(naps) == 2  # retried as transient, within its attempts


def test_a_glue_job_at_its_concurrent_run_limit_holds_the_batch_back_not_fails_it(
    stack: Stack, clock: Clock
):
    from moto.moto_api import state_manager

    glue = stack.clients.client("glue")
    name = glue_job(stack.clients, ExecutionProperty={"MaxConcurrentRuns": 1})
    job = new_id()
    state_manager.set_transition("glue::job_run", {"progression": "manual", "times": 99})
    try:
        running = glue.start_job_run(JobName=name)["JobRunId"]  # another run holds the slot
        fail_with(stack, job, "2024-05", GlueJobTrigger(job_name=name))
        stack.service.run_once()
        state = stack.trail.get(job, "2024-05")
        assert state is not None
        # Not started, not refused: the batch waits its backoff, its refusals untouched.
        assert (state.status.value, state.attempt, state.refusals) == ("RETRYING", 1, 0)
        assert "RETRY_TRIGGERED" not in [e for e, _ in events(stack, job, "2024-05")]
    finally:
        state_manager.unset_transition("glue::job_run")
    glue.get_job_run(JobName=name, RunId=running)  # moto moves the run on: the slot is free
    clock.advance(3600)
    stack.service.run_once()
    assert ("RETRY_TRIGGERED", 2) in events(stack, job, "2024-05")
    assert len(glue.get_job_runs(JobName=name)["JobRuns"]) == 2


def _key(job: str, batch: str) -> Any:
    from observability.models.keys import BatchKey

    return BatchKey(job, batch)


def test_an_emr_serverless_run_heals_a_batch_with_its_client_token(stack: Stack):
    emr = stack.clients.client("emr-serverless")
    app = emr_application(stack.clients)
    job = new_id()
    trigger = EmrServerlessTrigger(
        application_id=app,
        execution_role_arn=EMR_ROLE,
        job_driver={"sparkSubmit": {"entryPoint": "s3://scripts/load.py"}},
    )
    fail_with(stack, job, "2024-05", trigger)
    requests = sent(stack, "emr-serverless", "StartJobRun")
    stack.service.run_once()

    [request] = requests
    # job#batch#attempt, '#' being outside the token's characters, then a hash of the key.
    token = request["clientToken"]
    assert token.startswith(f"{job}-2024-05-2-")
    assert len(token) <= 64
    [run_id] = [r["id"] for r in emr.list_job_runs(applicationId=app)["jobRuns"]]
    run = emr.get_job_run(applicationId=app, jobRunId=run_id)["jobRun"]
    [config] = run["configurationOverrides"]["applicationConfiguration"]
    assert config["classification"] == "spark-defaults"
    prefix = "spark.emr-serverless.driverEnv."
    # The driver's environment, as Spark sets it from these properties.
    environ = {k.removeprefix(prefix): v for k, v in config["properties"].items()}
    healed(stack, job, "2024-05", environ)


def test_a_repeated_emr_start_of_one_attempt_carries_the_same_token(clients):
    """EMR Serverless answers a repeated clientToken with the first run; moto does not model
    that (it starts another run), so this shows the request AWS deduplicates on."""
    emr = clients.client("emr-serverless")
    app = emr_application(clients)
    stored = EmrServerlessTrigger(
        application_id=app,
        execution_role_arn=EMR_ROLE,
        job_driver={"hive": {"query": "select 1"}},
    ).to_dict()
    tokens: list[str] = []
    emr.meta.events.register(
        "provide-client-params.emr-serverless.StartJobRun",
        lambda params, **_: tokens.append(params["clientToken"]),
    )
    for _ in range(2):
        fire(clients, stored, TriggerContext(_key("ventes-été", "2024-05"), 3, "t-1"))
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]
    assert tokens[0].startswith("ventes--t--2024-05-3-")  # 'é' and '#' are not token characters


def test_an_aws_batch_job_heals_a_batch_with_batch_retries_off(stack: Stack):
    """moto starts the submitted job in Docker, absent here: its run fails in moto, which
    does not matter; the run is played from the environment the job was given."""
    queue, definition = batch_queue(stack.clients)
    job = new_id()
    trigger = BatchJobTrigger(job_queue=queue, job_definition=definition, parameters={"m": "5"})
    fail_with(stack, job, "2024-05", trigger)
    requests = sent(stack, "batch", "SubmitJob")
    stack.service.run_once()

    [request] = requests
    # No token in SubmitJob: the job's name carries the attempt (and a hash of the batch).
    assert request["jobName"].startswith(f"{job}-2024-05-2-")
    assert request["retryStrategy"] == {"attempts": 1}
    assert request["parameters"] == {"m": "5"}
    [job_arn] = [
        e.detail["response_id"]
        for e in stack.trail.history(job, "2024-05")
        if e.event.value == "RETRY_TRIGGERED"
    ]
    [described] = stack.clients.client("batch").describe_jobs(jobs=[job_arn.rsplit("/", 1)[-1]])[
        "jobs"
    ]
    environ = {e["name"]: e["value"] for e in described["container"]["environment"]}
    healed(stack, job, "2024-05", environ)


@pytest.mark.parametrize(
    ("call", "rule"),
    [
        (
            lambda c: c.client("glue").start_job_run(JobName="j", Arguments={"month": "5"}),
            "glue-argument-names",
        ),
        (
            lambda c: c.client("emr-serverless").start_job_run(
                applicationId="app1", executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/emr-job"
            ),
            "emr-serverless-client-token",
        ),
        (
            lambda c: c.client("emr-serverless").start_job_run(
                applicationId="app1",
                clientToken="t",
                executionRoleArn=EMR_ROLE,
                configurationOverrides={
                    "applicationConfiguration": [
                        {
                            "classification": "spark-defaults",
                            "properties": {"spark.emr-serverless.driverEnv.BAD-NAME": "x"},
                        }
                    ]
                },
            ),
            "emr-serverless-driver-env",
        ),
        (
            lambda c: c.client("batch").submit_job(
                jobName="_load", jobQueue="q", jobDefinition="d"
            ),
            "batch-job-name",
        ),
        (
            lambda c: c.client("batch").submit_job(
                jobName="load",
                jobQueue="q",
                jobDefinition="d",
                containerOverrides={"environment": [{"name": "AWS_BATCH_X", "value": "1"}]},
            ),
            "batch-environment-reserved",
        ),
        (
            lambda c: c.client("batch").submit_job(
                jobName="load", jobQueue="q", jobDefinition="d", retryStrategy={"attempts": 11}
            ),
            "batch-retry-attempts",
        ),
    ],
)
def test_the_engines_documented_limits_are_caught(clients, strict_aws: StrictAws, call, rule):
    with pytest.raises(StrictAwsViolation, match=rule):
        call(clients)
    assert [v.rule for v in strict_aws.take()] == [rule]


def test_every_engine_rule_names_a_source():
    for rule in ENGINE_RULES:
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule.name
    assert len({r.name for r in ENGINE_RULES}) == len(ENGINE_RULES)
