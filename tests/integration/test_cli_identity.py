"""Who acts: every operator action and the service record the caller's STS ARN as `actor`,
a declared `--operator` only beside it; without STS nothing is written."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.conftest import MOTO_ARN, Clock, new_id
from tests.integration.harness import Stack, stack_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def table(stack: Stack) -> list[str]:
    items = stack.clients.dynamodb().scan(TableName=stack.settings.table_name)["Items"]
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def test_replay_records_the_arn_and_history_prints_both(stack: Stack):
    job = new_id()
    stack.fail(job, "x")
    done = stack_cli(stack, "replay", job, "x", "--yes", "--operator", "alice")
    assert done.returncode == 0, done.stderr
    [replayed] = [e for e in stack.trail.history(job, "x") if e.event.value == "REPLAY_TRIGGERED"]
    assert (replayed.actor, replayed.detail["operator"]) == (MOTO_ARN, "alice")

    shown = stack_cli(stack, "history", job, "x")
    [line] = [row for row in shown.stdout.splitlines() if "REPLAY_TRIGGERED" in row]
    assert MOTO_ARN in line
    assert "operator=alice" in line
    as_json = json.loads(stack_cli(stack, "history", job, "x", "-o", "json").stdout)
    assert (as_json[-1]["actor"], as_json[-1]["operator"]) == (MOTO_ARN, "alice")


def test_without_operator_the_arn_alone_is_recorded(stack: Stack):
    job = new_id()
    stack.fail(job, "x")
    assert stack_cli(stack, "replay", job, "x", "--yes").returncode == 0
    last = stack.trail.history(job, "x")[-1]
    assert (last.actor, "operator" in last.detail) == (MOTO_ARN, False)


def test_policy_changes_record_the_arn_and_show_prints_both(stack: Stack):
    job = new_id()
    retry = json.dumps({"rules": [{"name": "t", "errors": ["TimeoutError"], "max_attempts": 5}]})
    done = stack_cli(stack, "policy", "set", job, "--retry", retry, "--operator", "bob")
    assert done.returncode == 0, done.stderr
    shown = stack_cli(stack, "policy", "show", job)
    assert f"by {MOTO_ARN} (bob)" in shown.stdout.splitlines()[0]
    [change] = [line for line in shown.stdout.splitlines() if "retry:" in line and "->" in line]
    assert f"{MOTO_ARN} (bob)" in change
    as_json = json.loads(stack_cli(stack, "policy", "show", job, "-o", "json").stdout)
    assert as_json["updated_by"] == MOTO_ARN
    assert [(c["by"], c["operator"]) for c in as_json["changes"]] == [(MOTO_ARN, "bob")]
    # A later change by someone who declares nobody keeps the earlier one's name.
    assert stack_cli(stack, "policy", "clear", job, "--retry-only").returncode == 0
    later = json.loads(stack_cli(stack, "policy", "show", job, "-o", "json").stdout)
    assert [c.get("operator") for c in later["changes"]] == ["bob", None]
    assert f"by {MOTO_ARN})" in stack_cli(stack, "policy", "show", job).stdout.splitlines()[0]


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "x", "--yes", "--operator", "alice"),
        ("policy", "set", "--trigger", json.dumps({"kind": "sqs", "queue_url": "q"})),
        ("policy", "clear"),
        (
            "schedule",
            "set",
            "--every",
            "day",
            "--format",
            "%Y-%m-%d",
            "--start",
            "2024-07-01",
            "--yes",
        ),
        ("schedule", "clear", "--yes"),
    ],
    ids=["replay", "policy-set", "policy-clear", "schedule-set", "schedule-clear"],
)
def test_without_sts_an_action_is_refused_in_one_line_and_writes_nothing(
    stack: Stack, args: tuple[str, ...]
):
    job = new_id()
    stack.fail(job, "x")
    stack.work()
    before = table(stack)
    # `policy set JOB`, `replay JOB x`: the job goes after the verb (and its action).
    where = 2 if args[0] in ("policy", "schedule") else 1
    argv = (*args[:where], job, *args[where:])
    done = stack_cli(stack, *argv, AWS_ENDPOINT_URL_STS=closed_port())
    assert done.returncode == 1, (done.stdout, done.stderr)
    message = done.stderr.strip()
    assert "\n" not in message
    assert "Traceback" not in message
    assert "sts:GetCallerIdentity" in message
    assert "nothing was written" in message
    assert table(stack) == before
    assert stack.work() == []


def test_the_service_records_its_arn_and_its_replica_beside_it(stack: Stack):
    job = new_id()
    stack.fail(job, "x")
    done = stack_cli(stack, "run", "--once", REMEDIATOR_REPLICA_ID="replica-7")
    assert done.returncode == 0, done.stderr
    [triggered] = [e for e in stack.trail.history(job, "x") if e.event.value == "RETRY_TRIGGERED"]
    assert (triggered.actor, triggered.detail["replica"]) == (MOTO_ARN, "replica-7")


def test_the_service_without_sts_does_not_start(stack: Stack):
    job = new_id()
    stack.fail(job, "x")
    before = table(stack)
    done = stack_cli(stack, "run", "--once", AWS_ENDPOINT_URL_STS=closed_port())
    assert done.returncode == 1
    assert "\n" not in done.stderr.strip()
    assert "sts:GetCallerIdentity" in done.stderr
    assert table(stack) == before
    assert stack.work() == []
