"""The operator's side as a new user meets it: doctor, errors without tracebacks, help."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import new_id
from tests.integration.harness import cli as run


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Two tries per AWS call keep the unreachable-endpoint case short.
    return run(*args, **{"AWS_MAX_ATTEMPTS": "2", **env})


def configured(resources: Any, endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "REMEDIATOR_TABLE_NAME": resources.table_name,
        "REMEDIATOR_TOPIC_ARN": resources.topic_arn,
        "REMEDIATOR_QUEUE_URL": resources.queue_url,
    }


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    message = done.stderr.strip()
    assert "\n" not in message, message
    assert "Traceback" not in message
    for needle in needles:
        assert needle in message, message


def test_doctor_passes_on_a_bootstrapped_account(resources, moto_endpoint):
    done = cli("doctor", "--output", "json", **configured(resources, moto_endpoint))
    assert done.returncode == 0, done.stdout
    findings = {f["check"]: f for f in json.loads(done.stdout)}
    for check in (
        "configuration",
        "region",
        "credentials",
        "table",
        "retry index",
        "layout",
        "ttl",
        "signal queue",
        "dead-letter queue",
        "subscription",
        "alerts",
        "state changes",
    ):
        assert findings[check]["status"] == "ok", findings[check]
    assert findings["state changes"]["detail"] == (
        "ECS, Batch, Glue and Step Functions rules deliver to the queue"
    )
    human = cli("doctor", **configured(resources, moto_endpoint))
    assert "all good" in human.stdout


def test_doctor_warns_when_a_state_change_rule_is_off_or_gone(resources, moto_endpoint, clients):
    """Without the rules, a triggered ECS, Batch, Glue or Step Functions run that stops is
    recorded only at its stale deadline: doctor says which rule, and how to put it back."""
    # A plain client: moto answers DisableRule with an empty HTML body, which the
    # project's clients refuse as no AWS reply.
    events = boto3.client("events", endpoint_url=moto_endpoint, region_name=clients.region)
    names = events.list_rule_names_by_target(TargetArn=resources.queue_arn)["RuleNames"]
    [glue] = [n for n in names if "-glue-" in n]
    [ecs] = [n for n in names if "-ecs-" in n]
    events.disable_rule(Name=glue)
    events.remove_targets(Rule=ecs, Ids=["signal-queue"])
    done = cli("doctor", "--output", "json", **configured(resources, moto_endpoint))
    assert done.returncode == 0, done.stdout  # a warning: jobs on queues need no rules
    found = {f["check"]: f for f in json.loads(done.stdout)}["state changes"]
    assert found["status"] == "warn"
    assert f"rule {glue} (Glue Job State Change) is DISABLED" in found["detail"]
    assert "no rule sends ECS Task State Change events" in found["detail"]
    assert "remediator bootstrap" in found["fix"]


def test_doctor_finds_what_is_missing_and_says_how_to_fix_it(moto_endpoint, clients):
    table = f"bare-{new_id()}"
    clients.dynamodb().create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    done = cli(
        "doctor", "--output", "json", AWS_ENDPOINT_URL=moto_endpoint, REMEDIATOR_TABLE_NAME=table
    )
    assert done.returncode == 1
    findings = {f["check"]: f for f in json.loads(done.stdout)}
    assert findings["table"]["status"] == "ok"
    assert findings["retry index"]["status"] == "fail"
    assert findings["ttl"]["status"] == "fail"
    assert findings["topic"]["status"] == "fail"
    assert "REMEDIATOR_TOPIC_ARN" in findings["topic"]["detail"]
    assert "remediator bootstrap" in findings["topic"]["fix"]
    assert findings["signal queue"]["status"] == "fail"


def test_doctor_recognises_a_table_written_in_the_old_layout(moto_endpoint, clients):
    """Layout 1: an item per event and a due-index projecting ALL (as 0.1's bootstrap made)."""
    from remediator.stack.provision import table_definition

    table = f"old-{new_id()}"
    definition = table_definition(table)
    definition["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "ALL"}
    clients.dynamodb().create_table(**definition)
    clients.dynamodb().put_item(
        TableName=table,
        Item={"pk": {"S": "JOB#j"}, "sk": {"S": "EVENT#b#0000000001"}, "event": {"S": "STARTED"}},
    )
    done = cli(
        "doctor", "--output", "json", AWS_ENDPOINT_URL=moto_endpoint, REMEDIATOR_TABLE_NAME=table
    )
    assert done.returncode == 1
    layout = {f["check"]: f for f in json.loads(done.stdout)}["layout"]
    assert layout["status"] == "fail"
    assert "layout 1" in layout["detail"]
    assert "\n" not in layout["detail"]
    assert "bootstrap a new REMEDIATOR_TABLE_NAME" in layout["fix"]
    # bootstrap refuses it in one line rather than writing layout 2 into it.
    boot = cli("bootstrap", AWS_ENDPOINT_URL=moto_endpoint, REMEDIATOR_TABLE_NAME=table)
    one_line_error(boot, "layout 1")


def test_doctor_names_the_shards_another_shard_count_would_strand(
    resources, moto_endpoint, clients
):
    """The table declares 8 shards (bootstrap's default); a due retry waits in shard 5."""
    clients.dynamodb().put_item(
        TableName=resources.table_name,
        Item={
            "pk": {"S": f"JOB#{new_id()}"},
            "sk": {"S": "BATCH#m5"},
            "due_pk": {"S": "FAILED#5"},
            "due_at": {"S": "2026-01-01T00:00:00Z"},
        },
    )
    done = cli(
        "doctor",
        "--output",
        "json",
        **configured(resources, moto_endpoint),
        REMEDIATOR_RETRY_SHARDS="4",
    )
    assert done.returncode == 1, done.stdout
    shards = {f["check"]: f for f in json.loads(done.stdout)}["retry shards"]
    assert shards["status"] == "fail"
    assert "is 4 but table" in shards["detail"]
    assert "declares 8" in shards["detail"]
    for kind in ("FAILED", "LIVE", "EXHAUSTED"):
        for shard in range(4, 8):
            assert f"{kind}#{shard}" in shards["detail"]
    assert "FAILED#3" not in shards["detail"]
    assert "1 due there now" in shards["detail"]
    assert "set it to 8" in shards["fix"]

    agreeing = cli(
        "doctor",
        "--output",
        "json",
        **configured(resources, moto_endpoint),
        REMEDIATOR_RETRY_SHARDS="8",
    )
    assert agreeing.returncode == 0, agreeing.stdout
    assert {f["check"]: f for f in json.loads(agreeing.stdout)}["retry shards"]["status"] == "ok"


def test_doctor_reports_bad_configuration(moto_endpoint):
    done = cli("doctor", AWS_ENDPOINT_URL=moto_endpoint, REMEDIATOR_MAX_ATTEMPTS="zero")
    assert done.returncode == 1
    assert "REMEDIATOR_MAX_ATTEMPTS" in done.stdout


def test_doctor_names_a_misspelt_variable_with_the_real_one(resources, moto_endpoint):
    done = cli("doctor", **configured(resources, moto_endpoint), REMEDIATOR_MAX_ATEMPTS="5")
    assert done.returncode == 1, done.stdout
    assert "REMEDIATOR_MAX_ATEMPTS is not a setting" in done.stdout
    assert "did you mean REMEDIATOR_MAX_ATTEMPTS?" in done.stdout


def test_missing_configuration_is_one_line(moto_endpoint):
    one_line_error(
        cli("status", "job", AWS_ENDPOINT_URL=moto_endpoint, REMEDIATOR_MAX_ATTEMPTS="0"),
        "REMEDIATOR_MAX_ATTEMPTS",
    )
    one_line_error(cli("run", "--once", AWS_ENDPOINT_URL=moto_endpoint), "REMEDIATOR_QUEUE_URL")


def test_missing_table_is_one_line_and_debug_shows_the_trace(moto_endpoint):
    env = {"AWS_ENDPOINT_URL": moto_endpoint, "REMEDIATOR_TABLE_NAME": "no-such-table"}
    one_line_error(cli("status", "job", **env), "no-such-table", "remediator bootstrap")
    for args in (("--debug", "status", "job"), ("status", "job", "--debug")):
        debug = cli(*args, **env)
        assert debug.returncode == 1
        assert "Traceback" in debug.stderr, args


def test_unknown_job_is_one_line(resources, moto_endpoint):
    one_line_error(cli("status", "nobody", **configured(resources, moto_endpoint)), "nobody")
    one_line_error(
        cli("history", "nobody", "b", **configured(resources, moto_endpoint)),
        "no job named 'nobody'",
    )


def test_run_with_the_health_port_taken_is_one_line(resources, moto_endpoint):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("run", **configured(resources, moto_endpoint), REMEDIATOR_HEALTH_PORT=str(port))
    one_line_error(done, f"127.0.0.1:{port}", "REMEDIATOR_HEALTH_PORT")


def test_unreachable_endpoint_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    one_line_error(
        cli("status", "job", AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}"), "cannot reach"
    )


@pytest.fixture(scope="module")
def strict_endpoint() -> Iterator[str]:
    """A second moto server that checks credentials, as AWS does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_denied_credentials_are_one_line(strict_endpoint):
    one_line_error(
        cli("status", "job", AWS_ENDPOINT_URL=strict_endpoint), "refused the credentials"
    )
    doctor = cli("doctor", "--output", "json", AWS_ENDPOINT_URL=strict_endpoint)
    assert doctor.returncode == 1
    findings = {f["check"]: f for f in json.loads(doctor.stdout)}
    assert findings["credentials"]["status"] == "fail"


@pytest.mark.parametrize(
    "command",
    ["bootstrap", "run", "status", "history", "failed", "replay", "demo", "doctor", "explain"],
)
def test_every_command_has_help_with_an_example(command):
    done = cli(command, "--help")
    assert done.returncode == 0
    assert "example:" in done.stdout
    assert f"remediator {command}" in done.stdout


def test_usage_errors_exit_2():
    assert cli("status").returncode == 2
    assert cli("no-such-command").returncode == 2


def test_replay_filters_by_error_type_and_since(resources, moto_endpoint, clients, clock):
    import io

    from observability import AuditTrail, SqsTrigger
    from observability.settings import Settings
    from observability.telemetry.metrics import Metrics

    settings = Settings(
        table_name=resources.table_name, topic_arn=resources.topic_arn, _env_file=None
    )
    trail = AuditTrail(settings, clients=clients, metrics=Metrics(stream=io.StringIO()))
    job = new_id()
    for batch, error in (("a", KeyError), ("b", ValueError), ("c", ValueError)):
        try:
            with trail.batch(job, batch, trigger=SqsTrigger(queue_url="q", body={})):
                raise error(batch)
        except error:
            pass
    env = configured(resources, moto_endpoint)
    plan = cli(
        "replay",
        job,
        "--all-failed",
        "--error-type",
        "ValueError",
        "--dry-run",
        "--output",
        "json",
        **env,
    )
    assert [p["batch_id"] for p in json.loads(plan.stdout)["plan"]] == ["b", "c"]
    later = cli(
        "replay",
        job,
        "--all-failed",
        "--since",
        "2099-01-01T00:00:00Z",
        "--dry-run",
        "--output",
        "json",
        **env,
    )
    assert json.loads(later.stdout)["plan"] == []
    recent = cli(
        "replay", job, "--all-failed", "--since", "1h", "--dry-run", "--output", "json", **env
    )
    assert len(json.loads(recent.stdout)["plan"]) == 3
    assert cli("replay", job, "a", "--since", "1h", **env).returncode == 2
    assert cli("replay", job, "--all-failed", "--since", "yesterday", **env).returncode == 2


def test_replay_of_a_batch_named_twice_plans_and_triggers_it_once(
    resources, moto_endpoint, clients
):
    """BatchGetItem refuses duplicate keys (ValidationException, on AWS and moto alike)."""
    import io

    from observability import AuditTrail, SqsTrigger
    from observability.settings import Settings
    from observability.telemetry.metrics import Metrics

    work = clients.sqs().create_queue(QueueName=new_id("work"))["QueueUrl"]
    settings = Settings(
        table_name=resources.table_name, topic_arn=resources.topic_arn, _env_file=None
    )
    trail = AuditTrail(settings, clients=clients, metrics=Metrics(stream=io.StringIO()))
    job = new_id()
    for batch in ("b1", "b2"):
        try:
            with trail.batch(job, batch, trigger=SqsTrigger(queue_url=work, body={"b": batch})):
                raise KeyError(batch)
        except KeyError:
            pass
    env = configured(resources, moto_endpoint)
    plan = cli("replay", job, "b1", "b2", "b1", "--dry-run", "--output", "json", **env)
    assert plan.returncode == 0, plan.stderr
    assert [p["batch_id"] for p in json.loads(plan.stdout)["plan"]] == ["b1", "b2"]
    done = cli("replay", job, "b2", "b2", "--yes", "--output", "json", **env)
    assert done.returncode == 0, done.stderr
    sent = clients.sqs().receive_message(QueueUrl=work, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]) for m in sent.get("Messages", [])] == [{"b": "b2"}]
