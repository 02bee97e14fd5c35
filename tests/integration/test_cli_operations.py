"""Bulk replays stored in the table: created by `remediator replay --all-jobs` (a subprocess,
killed once it has said the operation's id), carried out by the service's passes while
workers run what they trigger, checked from the trail after every pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from observability import Status
from tests.conftest import MOTO_ARN, Clock, new_id
from tests.integration.harness import Stack, stack_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    """One attempt only: a failure is EXHAUSTED at once."""
    return Stack(settings_kwargs, clients, moto_endpoint, clock, max_attempts=1)


def exhaust(stack: Stack, jobs: list[str], per_job: int) -> set[tuple[str, str]]:
    made = set()
    for job in jobs:
        for n in range(per_job):
            stack.fail(job, f"b{n:03d}")
            made.add((job, f"b{n:03d}"))
    return made


def live(stack: Stack, jobs: list[str]) -> int:
    """How many of the jobs' batches are STARTED or RETRYING, as their items say now (a
    consistent Query of each job's partition, the status alone)."""
    ddb = stack.clients.dynamodb()
    count = 0
    for job in jobs:
        pages = ddb.get_paginator("query").paginate(
            TableName=stack.settings.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :state)",
            ExpressionAttributeValues={":pk": {"S": f"JOB#{job}"}, ":state": {"S": "STATE#"}},
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
            ConsistentRead=True,
        )
        for page in pages:
            count += sum(i["status"]["S"] in ("STARTED", "RETRYING") for i in page["Items"])
    return count


def work(stack: Stack, triggered: Counter[tuple[str, str]]) -> int:
    """The workers: run every triggered batch (it succeeds); how many ran."""
    messages = stack.work()
    by_job: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        triggered[(m["job_id"], m["batch_id"])] += 1
        by_job.setdefault(m["job_id"], []).append(m)
    for job, batch in by_job.items():
        stack.rerun(batch, job, lambda _b: None)
    return len(messages)


def operation(stack: Stack, op_id: str) -> dict[str, Any]:
    done = stack_cli(stack, "operations", "show", op_id, "-o", "json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.timeout(300)  # about 30 s on an idle machine: 50 passes at least, by the cap
def test_an_operation_of_200_across_3_jobs_keeps_4_in_flight_and_outlives_its_cli(stack: Stack):
    jobs = [new_id() for _ in range(3)]
    made = exhaust(stack, jobs[:2], 67) | exhaust(stack, jobs[2:], 66)
    assert len(made) == 200
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.endpoint,
        "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
        "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
        "REMEDIATOR_QUEUE_URL": stack.settings.queue_url or "",
    }
    cli = subprocess.Popen(
        [sys.executable, "-m", "remediator", "replay", "--all-jobs", "--status", "EXHAUSTED",
         "--max-in-flight", "4", "--reason", "warehouse back", "--yes", "--follow"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert cli.stdout is not None
    first = cli.stdout.readline()
    cli.send_signal(signal.SIGKILL)  # the person's terminal goes away
    cli.wait(timeout=30)
    assert first.startswith("operation "), first
    op_id = first.split()[1]

    stored = operation(stack, op_id)
    assert (stored["state"], stored["created_by"], stored["progress"]["total"]) == (
        "ACTIVE", MOTO_ARN, 200,
    )  # fmt: skip
    triggered: Counter[tuple[str, str]] = Counter()
    most = passes = 0
    while passes < 120:
        stack.service.run_once()
        passes += 1
        most = max(most, live(stack, jobs))
        assert most <= 4, f"{most} in flight after pass {passes}"
        if not work(stack, triggered) and operation_ended(stack, op_id):
            break
    assert operation_ended(stack, op_id), f"not done after {passes} passes"
    assert most == 4
    assert set(triggered) == made
    assert max(triggered.values()) == 1  # none triggered twice
    for job in jobs:
        states = list(stack.remediator.store.states(job, stack.clock()))
        assert {s.status for s in states} == {Status.SUCCESS}
        for s in states[:5]:  # the whole history: older events are archived
            history = stack.trail.history(job, s.batch_id)
            replays = [e for e in history if e.event.value == "REPLAY_TRIGGERED"]
            assert [e.detail["operation"] for e in replays] == [op_id]
            assert replays[0].actor == MOTO_ARN
    final = operation(stack, op_id)
    assert final["state"] == "DONE"
    assert final["progress"] == {
        "total": 200, "done": 200, "running": 0, "failed": 0, "skipped": 0, "left": 0,
    }  # fmt: skip
    listed = json.loads(stack_cli(stack, "operations", "-o", "json").stdout)
    assert [(o["operation_id"], o["state"]) for o in listed] == [(op_id, "DONE")]
    print(f"200 batches, 3 jobs: {passes} passes, at most {most} in flight, 0 duplicates")


def operation_ended(stack: Stack, op_id: str) -> bool:
    from remediator.bulk.items import OperationItems

    items = OperationItems(stack.clients, stack.settings.table_name)
    return items.get(op_id, stack.clock()).ended


def test_cancel_stops_an_operation_midway_and_nothing_new_is_triggered(stack: Stack):
    job = new_id()
    made = exhaust(stack, [job], 30)
    created = stack_cli(
        stack, "replay", "--job", job, "--max-in-flight", "3", "--yes", "-o", "json"
    )
    assert created.returncode == 0, created.stderr
    op_id = json.loads(created.stdout)["operation_id"]
    listing = stack_cli(stack, "operations", "-o", "json")
    assert [o["operation_id"] for o in json.loads(listing.stdout)] == [op_id], listing.stderr
    triggered: Counter[tuple[str, str]] = Counter()
    stack.service.run_once()
    work(stack, triggered)
    stack.service.run_once()  # three done, three more triggered: still running
    assert len(triggered) == 3
    assert live(stack, [job]) == 3

    dry = stack_cli(stack, "operations", "cancel", op_id, "--dry-run", "-o", "json")
    assert dry.returncode == 0
    assert operation(stack, op_id)["state"] == "ACTIVE"
    cancel = stack_cli(stack, "operations", "cancel", op_id, "--yes", "-o", "json")
    assert cancel.returncode == 0, cancel.stderr
    assert json.loads(cancel.stdout)["cancelled"] is True
    before = len(triggered)
    ran = work(stack, triggered)  # what is running finishes
    for _ in range(3):
        stack.service.run_once()
        ran += work(stack, triggered)
    assert ran == 3
    assert len(triggered) == before + 3 == 6
    assert max(triggered.values()) == 1
    final = operation(stack, op_id)
    assert final["state"] == "CANCELLED"
    assert final["cancelled_by"] == MOTO_ARN
    assert final["finished_at"]
    assert final["progress"] == {
        "total": 30, "done": 6, "running": 0, "failed": 0, "skipped": 0, "left": 24,
    }  # fmt: skip
    untouched = made - set(triggered)
    statuses = {
        stack.trail.get(j, b).status
        for j, b in untouched  # type: ignore[union-attr]
    }
    assert statuses == {Status.EXHAUSTED}
    again = stack_cli(stack, "operations", "cancel", op_id, "--yes")
    assert again.returncode == 1


def test_batches_resolved_or_paused_after_selection_are_skipped_and_counted(stack: Stack):
    fixed, held = new_id(), new_id()
    exhaust(stack, [fixed, held], 2)
    created = stack_cli(
        stack, "replay", "--job", fixed, "--job", held, "--max-in-flight", "10", "--yes",
        "-o", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    op_id = json.loads(created.stdout)["operation_id"]
    # After the selection: a person closes one batch and pauses the other job.
    resolved = stack_cli(stack, "resolve", fixed, "b000", "--note", "fixed by hand", "--yes")
    assert resolved.returncode == 0, resolved.stderr
    paused = stack_cli(stack, "pause", held, "--reason", "maintenance", "--yes")
    assert paused.returncode == 0, paused.stderr

    triggered: Counter[tuple[str, str]] = Counter()
    for _ in range(3):
        stack.service.run_once()
        work(stack, triggered)
    assert set(triggered) == {(fixed, "b001")}
    shown = operation(stack, op_id)
    assert shown["progress"]["skipped"] == 3
    assert shown["progress"]["done"] == 1
    assert stack.trail.get(fixed, "b000").status is Status.RESOLVED  # type: ignore[union-attr]
    assert {stack.trail.get(held, b).status for b in ("b000", "b001")} == {  # type: ignore[union-attr]
        Status.EXHAUSTED
    }
