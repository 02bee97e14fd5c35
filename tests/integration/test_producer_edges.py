"""Bad input, expired items and concurrent processes, against a moto server over HTTP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from observability import AuditTrail, ConfigError, InvalidInput
from observability.models.keys import MAX_ID_BYTES
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from observability.triggers import MAX_TRIGGER_BYTES, SqsTrigger
from tests.conftest import Clock, new_id
from tests.integration.harness import count_calls, raw_items, run_cli


def trail_for(settings: Settings, clients: Any, clock: Clock, **kw: Any) -> AuditTrail:
    return AuditTrail(
        settings, clients=clients, clock=clock, metrics=Metrics(stream=io.StringIO()), **kw
    )


BAD_IDS = [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("a#b", "delimiter '#'"),
    ("x" * (MAX_ID_BYTES + 1), f"the limit is {MAX_ID_BYTES} bytes"),
    ("é" * (MAX_ID_BYTES // 2 + 1), f"the limit is {MAX_ID_BYTES} bytes"),
    ("line\nbreak", "control characters"),
]


@pytest.mark.parametrize(("bad", "says"), BAD_IDS)
@pytest.mark.parametrize("field", ["job_id", "batch_id"])
def test_bad_ids_are_rejected_before_any_call(settings, clients, clock, bad, says, field):
    trail = trail_for(settings, clients, clock)
    calls = count_calls(clients)
    job, batch = (bad, "b") if field == "job_id" else ("job", bad)
    with pytest.raises(InvalidInput) as info:
        trail.batch(job, batch)
    assert info.value.field == field
    assert says in str(info.value)
    with pytest.raises(InvalidInput):
        trail.pending(job, [batch])
    assert sum(calls.values()) == 0
    assert raw_items(clients, settings.table_name) == []


def test_oversized_trigger_body_is_rejected_naming_the_field_and_limit(settings, clients, clock):
    trail = trail_for(settings, clients, clock)
    calls = count_calls(clients)
    with pytest.raises(InvalidInput) as info:
        trail.batch("job", "b", trigger=SqsTrigger(queue_url="q", body="x" * MAX_TRIGGER_BYTES))
    assert info.value.field == "trigger.body"
    assert f"the limit is {MAX_TRIGGER_BYTES} bytes" in str(info.value)
    assert sum(calls.values()) == 0
    assert raw_items(clients, settings.table_name) == []


def test_missing_topic_is_rejected_before_any_write(settings_kwargs, clients, clock):
    settings = Settings(**{**settings_kwargs, "topic_arn": None})
    trail = trail_for(settings, clients, clock)
    calls = count_calls(clients)
    with pytest.raises(ConfigError, match="REMEDIATOR_TOPIC_ARN"):
        trail.batch("job", "b")
    assert sum(calls.values()) == 0
    assert raw_items(clients, settings.table_name) == []
    # Recording without publishing is an explicit choice.
    quiet = trail_for(settings, clients, clock, publish_failures=False)
    with quiet.batch("job", "b"):
        pass
    assert quiet.get("job", "b") is not None


def test_a_failure_that_cannot_be_recorded_keeps_what_was_recorded(settings, clients, clock):
    trail = trail_for(settings, clients, clock)
    job = new_id()
    with trail.batch(job, "done"):
        pass
    before = raw_items(clients, settings.table_name)
    with pytest.raises(InvalidInput), trail.batch(job, "done", trigger=SqsTrigger(queue_url="")):
        pass
    assert raw_items(clients, settings.table_name) == before


def _put_expired(clients: Any, table: str, job: str, batch: str, now: Clock) -> None:
    past = int(now.now.timestamp()) - 60
    ddb = clients.dynamodb()
    events = {
        "L": [
            {
                "M": {
                    "event": {"S": event},
                    "status": {"S": event},
                    "attempt": {"N": "1"},
                    "version": {"N": str(version)},
                    "at": {"S": "2020-01-01T00:00:00.000000Z"},
                    "actor": {"S": "old"},
                }
            }
            for version, event in ((1, "STARTED"), (2, "SUCCESS"))
        ]
    }
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"JOB#{job}"},
            "sk": {"S": f"STATE#{batch}"},
            "status": {"S": "SUCCESS"},
            "attempt": {"N": "1"},
            "version": {"N": "2"},
            "incarnation": {"S": "old-life"},
            "events": events,
            "expires_at": {"N": str(past)},
        },
    )
    # An archive of that earlier life, expired too but still in the table.
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"JOB#{job}"},
            "sk": {"S": f"ARCHIVE#{batch}#old-life#0000000002#0002"},
            "events": events,
            "expires_at": {"N": str(past)},
        },
    )


def test_expired_items_are_invisible_to_every_read(settings, clients, clock, moto_endpoint):
    job = new_id()
    _put_expired(clients, settings.table_name, job, "old", clock)
    trail = trail_for(settings, clients, clock)
    assert trail.pending(job, ["old"]) == ["old"]
    assert trail.get(job, "old") is None
    assert trail.history(job, "old") == []
    assert trail.states(job) == []
    status = run_cli(moto_endpoint, settings, "status", job, "--output", "json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["batches"] == []
    history = run_cli(moto_endpoint, settings, "history", job, "old", "--output", "json")
    assert json.loads(history.stdout) == []
    # And an expired batch starts afresh, as attempt 1.
    with trail.batch(job, "old") as run:
        assert run.attempt == 1
    # The batch id's new life has its own history: nothing of the expired one shows.
    history = trail.history(job, "old")
    assert [(e.event.value, e.version, e.actor) for e in history] == [
        ("STARTED", 1, trail.actor),
        ("SUCCESS", 2, trail.actor),
    ]


RACER = textwrap.dedent(
    """
    import io, json, os, sys, time
    from pathlib import Path
    from observability import AuditTrail, BatchAlreadyRunning
    from observability.telemetry.metrics import Metrics

    me, other, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    trail = AuditTrail(metrics=Metrics(stream=io.StringIO()))
    me.with_suffix(".ready").write_text("1")
    while not go.exists():
        time.sleep(0.005)
    try:
        with trail.batch(os.environ["JOB"], "b1") as run:
            # Hold the batch until the other process has had its answer.
            deadline = time.monotonic() + 30
            while not other.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            me.write_text(json.dumps({"ran": True, "attempt": run.attempt}))
    except BatchAlreadyRunning as exc:
        me.write_text(json.dumps({"ran": False, "error": str(exc)}))
    """
)


def test_two_processes_starting_one_batch_exactly_one_runs(settings, moto_endpoint, tmp_path: Path):
    job = new_id()
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    env = {
        **os.environ,
        "JOB": job,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REMEDIATOR_TABLE_NAME": settings.table_name,
        "REMEDIATOR_TOPIC_ARN": settings.topic_arn,
    }
    a, b, go = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, str(script), str(x), str(y), str(go)], env=env)
        for x, y in ((a, b), (b, a))
    ]
    deadline = time.monotonic() + 30
    while not (a.with_suffix(".ready").exists() and b.with_suffix(".ready").exists()):
        assert time.monotonic() < deadline, "racers did not start"
        time.sleep(0.01)
    go.write_text("go")
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    results = [json.loads(a.read_text()), json.loads(b.read_text())]
    assert sorted(r["ran"] for r in results) == [False, True]
    loser = next(r for r in results if not r["ran"])
    assert "held by run" in loser["error"]


def test_bootstrap_is_idempotent_and_prints_exports(moto_endpoint, clients):
    table = f"audit-{new_id('cli')}"
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "REMEDIATOR_TABLE_NAME": table}
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "remediator", "bootstrap"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    exports = dict(line.removeprefix("export ").split("=", 1) for line in outputs[0].splitlines())
    assert exports["REMEDIATOR_TABLE_NAME"] == table
    assert exports["REMEDIATOR_TOPIC_ARN"].startswith("arn:aws:sns:")
    assert exports["REMEDIATOR_QUEUE_URL"].startswith("http")
    described = clients.dynamodb().describe_table(TableName=table)["Table"]
    assert [g["IndexName"] for g in described["GlobalSecondaryIndexes"]] == ["due-index"]
    ttl = clients.dynamodb().describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    sqs = clients.sqs()
    attrs = sqs.get_queue_attributes(
        QueueUrl=exports["REMEDIATOR_QUEUE_URL"], AttributeNames=["All"]
    )
    redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    subs = clients.sns().list_subscriptions_by_topic(TopicArn=exports["REMEDIATOR_TOPIC_ARN"])
    assert len(subs["Subscriptions"]) == 2  # signals and alerts, not duplicated by the re-run
    for sub in subs["Subscriptions"]:
        sub_attrs = clients.sns().get_subscription_attributes(
            SubscriptionArn=sub["SubscriptionArn"]
        )
        assert sub_attrs["Attributes"]["RawMessageDelivery"] == "true"


def test_status_and_history_json_shapes(settings, clients, clock, moto_endpoint):
    job = new_id()
    trail = trail_for(settings, clients, clock)
    with trail.batch(job, "a"):
        pass
    work = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work", body={})
    with pytest.raises(RuntimeError), trail.batch(job, "b", trigger=work):
        raise RuntimeError("nope")
    status = run_cli(moto_endpoint, settings, "status", job, "--output", "json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["job_id"] == job
    assert data["counts"]["SUCCESS"] == 1
    assert data["counts"]["FAILED"] == 1
    rows = {b["batch_id"]: b for b in data["batches"]}
    assert rows["a"]["status"] == "SUCCESS"
    assert rows["b"]["attempt"] == 1
    assert rows["b"]["next_retry_at"] is not None
    assert rows["b"]["stale"] is False
    history = run_cli(moto_endpoint, settings, "history", job, "b", "--output", "json")
    events = json.loads(history.stdout)
    assert [e["event"] for e in events] == ["STARTED", "FAILED"]
    for e in events:
        assert {"event", "attempt", "at", "actor"} <= set(e)
        assert e["at"].endswith("Z")
    assert events[1]["error_type"] == "RuntimeError"
    # Which rule governs the failure, and where the attempt stands in its episode.
    assert (events[1]["rule"], events[1]["episode_attempt"], events[1]["max_attempts"]) == (
        "default",
        1,
        settings.max_attempts,
    )
    assert (rows["b"]["rule"], rows["b"]["episode_attempt"]) == ("default", 1)


def test_status_flags_stale_runs(settings, clients, clock, moto_endpoint):
    job = new_id()
    from datetime import timedelta

    clock.now -= timedelta(seconds=settings.stale_after_seconds + 60)
    trail = trail_for(settings, clients, clock)
    trail.batch(job, "hung").__enter__()  # started long ago, never finished
    status = run_cli(moto_endpoint, settings, "status", job, "--output", "json")
    assert json.loads(status.stdout)["batches"][0]["stale"] is True
    table = run_cli(moto_endpoint, settings, "status", job)
    assert "STALE" in table.stdout
    assert "\033[" not in table.stdout  # no colour when piped


def test_unknown_job_is_one_line_and_exit_1(settings, moto_endpoint):
    done = run_cli(moto_endpoint, settings, "status", "never-ran")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "never-ran" in done.stderr
