"""`remediator resolve` and `remediator cancel` as a person runs them (subprocesses on the
moto server), then the producer's `pending()` and the service's `run --once`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from observability import Status
from observability.models.keys import BatchKey
from tests.conftest import MOTO_ARN, Clock, drain, new_id
from tests.integration.harness import Stack, stack_cli
from tests.proxy import FaultProxy, call


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


@pytest.fixture
def exhausting(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock
) -> Stack:
    """One attempt only: a failure is EXHAUSTED, and paged, at once."""
    return Stack(settings_kwargs, clients, moto_endpoint, clock, max_attempts=1)


def snapshot(stack: Stack, resources: Any) -> tuple[Any, ...]:
    items = stack.clients.dynamodb().scan(TableName=stack.settings.table_name)["Items"]
    queues = [resources.queue_url, resources.alerts_queue_url, stack.work_queue]
    depths = [
        stack.clients.sqs().get_queue_attributes(
            QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        for q in queues
    ]
    return (sorted(json.dumps(i, sort_keys=True) for i in items), depths)


def raw_item(stack: Stack, job: str, batch: str) -> dict[str, Any]:
    key = BatchKey(job, batch)
    key = {"pk": {"S": key.pk}, "sk": {"S": key.sk}}
    reply = stack.clients.dynamodb().get_item(
        TableName=stack.settings.table_name, Key=key, ConsistentRead=True
    )
    return dict(reply["Item"])


def one_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    message = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in message, message


def alerts(stack: Stack, resources: Any) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]


# -- resolve ---------------------------------------------------------------------------------


def test_resolve_closes_an_exhausted_batch_for_pending_failed_and_the_index(
    exhausting: Stack, resources: Any
):
    stack, job = exhausting, new_id()
    stack.fail(job, "m5")
    stack.fail(job, "m6")
    assert stack.trail.get(job, "m5").status is Status.EXHAUSTED
    assert "due_pk" in raw_item(stack, job, "m5")
    done = stack_cli(
        stack, "resolve", job, "m5", "--note", "rows patched by hand", "--yes",
        "--operator", "carol", "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["actor"], result["operator"]) == (MOTO_ARN, "carol")
    assert [(r["batch_id"], r["outcome"], r["was"]) for r in result["results"]] == [
        ("m5", "resolved", "EXHAUSTED")
    ]

    assert stack.trail.pending(job, ["m5", "m6"]) == ["m6"]
    item = raw_item(stack, job, "m5")
    assert item["status"]["S"] == "RESOLVED"
    assert not {"due_pk", "due_at", "alerted"} & set(item)  # never swept, nothing to page
    failed = json.loads(stack_cli(stack, "failed", "--output", "json").stdout)
    assert (job, "m5") not in {(r["job_id"], r["batch_id"]) for r in failed}
    assert (job, "m6") in {(r["job_id"], r["batch_id"]) for r in failed}
    of_job = json.loads(stack_cli(stack, "failed", "--job", job, "--output", "json").stdout)
    assert [r["batch_id"] for r in of_job] == ["m6"]

    last = stack.trail.history(job, "m5")[-1]
    assert (last.event.value, last.status.value, last.actor) == ("RESOLVED", "RESOLVED", MOTO_ARN)
    assert last.detail == {"operator": "carol", "was": "EXHAUSTED", "note": "rows patched by hand"}
    table = stack_cli(stack, "history", job, "m5").stdout
    [line] = [row for row in table.splitlines() if "RESOLVED" in row]
    assert MOTO_ARN in line
    assert "note=rows patched by hand" in line
    assert "operator=carol" in line
    counts = json.loads(stack_cli(stack, "status", job, "--output", "json").stdout)["counts"]
    assert (counts["RESOLVED"], counts["EXHAUSTED"]) == (1, 1)


def test_a_resolved_batch_is_never_swept_and_a_later_run_reopens_it(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "m5")  # FAILED, due at once: its signal waits on the queue
    done = stack_cli(stack, "resolve", job, "m5", "--note", "loaded by hand", "--yes")
    assert done.returncode == 0, done.stderr
    assert "m5: resolved (was FAILED)" in done.stdout
    assert alerts(stack, resources) == []  # it never paged: nothing to resolve
    ran = stack_cli(stack, "run", "--once", "-o", "json", REMEDIATOR_METRICS_ENABLED="false")
    assert ran.returncode == 0, ran.stderr
    assert "triggered" not in json.loads(ran.stdout)["outcomes"]
    assert stack.work() == []
    assert stack.trail.get(job, "m5").status is Status.RESOLVED

    with stack.trail.batch(job, "m5") as run:  # the pipeline runs it again all the same
        assert run.attempt == 2
    assert stack.trail.get(job, "m5").status is Status.SUCCESS
    assert [e.event.value for e in stack.trail.history(job, "m5")] == [
        "STARTED", "FAILED", "RESOLVED", "STARTED", "SUCCESS",
    ]  # fmt: skip
    assert alerts(stack, resources) == []  # resolved already: no RECOVERED for it


def test_a_replay_reopens_a_resolved_batch(stack: Stack):
    job = new_id()
    stack.fail(job, "m5")
    assert stack_cli(stack, "resolve", job, "m5", "--note", "n", "--yes").returncode == 0
    done = stack_cli(stack, "replay", job, "m5", "--yes")
    assert done.returncode == 0, done.stderr
    assert [m["attempt"] for m in stack.work()] == ["2"]
    assert stack.trail.get(job, "m5").status is Status.RETRYING


def test_resolve_refuses_bad_input_in_one_line_and_writes_nothing(stack: Stack, resources: Any):
    job = new_id()
    with stack.trail.batch(job, "ok"):
        pass
    stack.fail(job, "bad")
    stack.work()
    before = snapshot(stack, resources)
    one_line(
        stack_cli(stack, "resolve", job, "ok", "bad", "--note", "n", "--yes"),
        1,
        "only EXHAUSTED or FAILED batches are resolved; not ok (SUCCESS)",
    )
    one_line(stack_cli(stack, "resolve", job, "nope", "--note", "n", "--yes"), 1, "nope")
    one_line(stack_cli(stack, "resolve", job, "bad", "--note", "   ", "--yes"), 1, "--note")
    assert stack_cli(stack, "resolve", job, "bad", "--yes").returncode == 2  # no --note
    assert stack_cli(stack, "resolve", job, "--note", "n").returncode == 2  # no batch
    one_line(stack_cli(stack, "resolve", job, "bad", "--note", "n"), 2, "--yes")  # no terminal
    assert snapshot(stack, resources) == before


def test_resolve_and_cancel_dry_runs_write_nothing(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "x")
    before = snapshot(stack, resources)
    text = stack_cli(stack, "resolve", job, "x", "--note", "n", "--dry-run")
    assert text.returncode == 0, text.stderr
    assert "plan: resolve 1 batch(es)" in text.stdout
    assert "dry run: nothing was written" in text.stdout
    as_json = stack_cli(stack, "cancel", job, "x", "--reason", "r", "--dry-run", "-o", "json")
    assert json.loads(as_json.stdout)["plan"] == [
        {
            "job_id": job,
            "batch_id": "x",
            "status": "FAILED",
            "attempt": 1,
            "becomes": "EXHAUSTED (cancelled)",
        }
    ]
    assert snapshot(stack, resources) == before


def test_a_lost_race_is_reported_not_retried(stack: Stack, moto_endpoint: str):
    """The batch is claimed by a replica between the command's read and its write."""
    job = new_id()
    stack.fail(job, "x")
    proxy = FaultProxy(moto_endpoint).start()
    try:
        held = proxy.hold(call("dynamodb", "PutItem", "UpdateItem"))
        command = subprocess.Popen(
            [sys.executable, "-m", "remediator", "resolve", job, "x", "--note", "n", "--yes"],
            env=cli_env(stack, proxy.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert held.arrived.wait(60), "the command never wrote"
        assert stack.service.run_once().outcomes.get("triggered") == 1  # claimed meanwhile
        held.release()
        out, err = command.communicate(timeout=60)
    finally:
        proxy.stop()
    assert command.returncode == 1, (out, err)
    assert "x: conflict (was FAILED): changed since it was read (now RETRYING" in out
    # One write of the batch's item, not retried (beside it, the archive its failed run's
    # events were put in first: the resolved item would have passed one write unit).
    assert len([r for r in held.held if b"ARCHIVE#" not in r.body]) == 1
    assert stack.trail.get(job, "x").status is Status.RETRYING
    assert "RESOLVED" not in [e.event.value for e in stack.trail.history(job, "x")]


def cli_env(stack: Stack, endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
        "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
    }


# -- cancel ----------------------------------------------------------------------------------


def test_a_cancelled_batch_is_never_retriggered_even_when_due(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "m5")  # FAILED and due at once; its signal is on the queue
    assert stack.trail.get(job, "m5").next_retry_at is not None
    done = stack_cli(
        stack, "cancel", job, "m5", "--reason", "target down all day", "--yes", "-o", "json"
    )
    assert done.returncode == 0, done.stderr
    assert [r["outcome"] for r in json.loads(done.stdout)["results"]] == ["cancelled"]

    for _ in range(2):  # the signal, then the sweep alone
        ran = stack_cli(stack, "run", "--once", "-o", "json", REMEDIATOR_METRICS_ENABLED="false")
        assert ran.returncode == 0, ran.stderr
        assert "triggered" not in json.loads(ran.stdout)["outcomes"]
    assert stack.work() == []
    state = stack.trail.get(job, "m5")
    assert state.status is Status.EXHAUSTED
    assert stack.trail.pending(job, ["m5"]) == ["m5"]  # still to be done by the pipeline
    assert alerts(stack, resources) == []  # no page: the person asking knows
    last = stack.trail.history(job, "m5")[-1]
    assert (last.event.value, last.actor) == ("EXHAUSTED", MOTO_ARN)
    assert (last.detail["reason"], last.detail["why"]) == ("cancelled", "target down all day")
    failed = json.loads(stack_cli(stack, "failed", "--output", "json").stdout)
    assert (job, "m5", "EXHAUSTED") in {(r["job_id"], r["batch_id"], r["status"]) for r in failed}


def test_cancel_refuses_what_has_no_retries_to_stop(exhausting: Stack, resources: Any):
    stack, job = exhausting, new_id()
    stack.fail(job, "done")
    before = snapshot(stack, resources)
    one_line(
        stack_cli(stack, "cancel", job, "done", "--reason", "r", "--yes"),
        1,
        "only FAILED batches are cancelled; not done (EXHAUSTED)",
    )
    assert snapshot(stack, resources) == before
