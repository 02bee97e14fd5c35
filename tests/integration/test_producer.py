"""The producer library against a moto server over HTTP: every transition, and the story."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest

from observability import (
    AuditTrail,
    BatchAlreadyRunning,
    ConfigError,
    NonRetryableError,
    RunSuperseded,
    SqsTrigger,
    Status,
)
from observability.models import from_iso
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import count_calls, raw_items

WORK_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/work"


class Boom(Exception):
    pass


# A trigger for batches that only need to be retryable (nothing fires it in these tests).
WORK = SqsTrigger(queue_url=WORK_QUEUE, body={})


def make_trail(settings: Settings, clients: Any, clock: Clock, **kw: Any) -> AuditTrail:
    stream = kw.pop("stream", io.StringIO())
    return AuditTrail(settings, clients=clients, clock=clock, metrics=Metrics(stream=stream), **kw)


def run_months(trail: AuditTrail, job: str, months: list[int], fail_at: int | None) -> list[int]:
    ran = []
    for month in trail.pending(job, months):
        with trail.batch(job, month, trigger=SqsTrigger(queue_url=WORK_QUEUE, body={"m": month})):
            ran.append(month)
            if month == fail_at:
                raise Boom(f"month {month} exploded")
    return ran


def test_story_crash_at_month_5_resumes_at_month_5(settings, clients, clock, resources):
    job = new_id("ingest-sales")
    months = list(range(1, 13))
    trail = make_trail(settings, clients, clock)

    with pytest.raises(Boom):
        run_months(trail, job, months, fail_at=5)

    # A fresh process (no cache) resumes from DynamoDB alone.
    clock.advance(120)
    second = make_trail(settings, clients, clock)
    assert second.pending(job, months) == list(range(5, 13))
    assert run_months(second, job, months, fail_at=None) == list(range(5, 13))

    events = [e.event.value for e in second.history(job, 5)]
    assert events == ["STARTED", "FAILED", "STARTED", "SUCCESS"]
    state = second.get(job, 5)
    assert state is not None
    assert (state.status, state.attempt) == (Status.SUCCESS, 2)
    assert [e.attempt for e in second.history(job, 5)] == [1, 1, 2, 2]
    assert second.pending(job, months) == []

    signals = drain(clients.sqs(), resources.queue_url)
    assert len(signals) == 1
    body = json.loads(signals[0]["Body"])
    attrs = {k: v["StringValue"] for k, v in signals[0]["MessageAttributes"].items()}
    assert attrs == {"event": "FAILED", "job_id": job, "retryable": "true"}
    assert body["batch_id"] == "5"
    assert body["attempt"] == 1
    assert body["error_type"] == "Boom"
    assert body["error_message"] == "month 5 exploded"
    assert body["trace_id"] == state.trace_id
    assert body["next_retry_at"] is not None


def test_trace_id_follows_the_batch_across_attempts(settings, clients, clock):
    job = new_id()
    trail = make_trail(settings, clients, clock)
    with pytest.raises(Boom), trail.batch(job, "b", trigger=WORK) as first:
        raise Boom
    with trail.batch(job, "b", trigger=WORK) as second:
        pass
    assert second.trace_id == first.trace_id
    assert {e.trace_id for e in trail.history(job, "b")} == {first.trace_id}


def test_success_costs_two_calls_and_no_reads(settings, clients, clock):
    trail = make_trail(settings, clients, clock)
    trail.connect()  # the table's shape, read once per process
    job = new_id()
    calls = count_calls(clients)
    with trail.batch(job, "b0", trigger=WORK):
        pass
    # A job's first outcome in a process registers it (observability.audit.registry): one update.
    assert calls == Counter({"PutItem": 2, "UpdateItem": 1})
    calls.clear()
    with trail.batch(job, "b1", trigger=WORK):
        pass
    assert sum(calls.values()) == 2, calls
    # STARTED puts a new item; SUCCESS puts it again over the item STARTED wrote.
    assert calls == Counter({"PutItem": 2})


def test_failure_costs_two_writes_and_one_publish(settings, clients, clock):
    """Plus one read of the job's retry policy per job per cache period (a minute)."""
    trail = make_trail(settings, clients, clock)
    job = new_id()
    trail.connect()  # the table's shape, read once per process
    calls = count_calls(clients)
    with pytest.raises(Boom), trail.batch(job, "b1", trigger=WORK):
        raise Boom("x")
    # Plus the job's registration, at its first outcome in the process.
    assert calls == Counter({"PutItem": 2, "Publish": 1, "GetItem": 1, "UpdateItem": 1})
    calls.clear()
    for batch in ("b2", "b3"):
        with pytest.raises(Boom), trail.batch(job, batch, trigger=WORK):
            raise Boom("x")
    assert calls == Counter({"PutItem": 4, "Publish": 2})


def test_a_process_configured_with_other_shards_than_its_table_refuses_before_any_write(
    settings_kwargs, clients, clock
):
    wrong = Settings(**settings_kwargs, retry_shards=4)  # the table was bootstrapped with 8
    trail = make_trail(wrong, clients, clock)
    calls = count_calls(clients)
    with pytest.raises(ConfigError) as raised, trail.batch(new_id(), "b", trigger=WORK):
        pytest.fail("must not run")
    message = str(raised.value)
    assert "REMEDIATOR_RETRY_SHARDS is 4" in message
    assert "bootstrapped with 8" in message
    assert calls == Counter({"GetItem": 1})  # the table's record, and nothing written
    # Unset, the table's count is used, whatever the default.
    assert make_trail(Settings(**settings_kwargs), clients, clock).connect().table.shards == 8


def test_a_batch_without_a_trigger_warns_once_per_job_and_is_not_retried_in_silence(
    settings, clients, clock, resources, caplog
):
    trail = make_trail(settings, clients, clock)
    trail.connect()  # the table's shape, read once per process
    job = new_id()
    calls = count_calls(clients)
    with caplog.at_level("WARNING", logger="observability"):
        for batch in ("a", "b"):
            with trail.batch(job, batch):
                pass
    # A batch that succeeds pays no read for a warning about failures.
    assert calls == Counter({"PutItem": 4, "UpdateItem": 1})
    assert not [r for r in caplog.records if "have no trigger" in r.getMessage()]
    # Its failure is an alert at once, saying why, not a retry that can never happen; the
    # job's first failure in the process warns, once.
    for batch in ("c", "d"):
        with (
            caplog.at_level("WARNING", logger="observability"),
            pytest.raises(Boom),
            trail.batch(job, batch),
        ):
            raise Boom("x")
    warnings = [r for r in caplog.records if "have no trigger" in r.getMessage()]
    assert len(warnings) == 1
    assert job in warnings[0].getMessage()
    state = trail.get(job, "c")
    assert state is not None
    assert state.status is Status.EXHAUSTED
    assert trail.history(job, "c")[-1].detail["reason"] == "no_trigger"
    alerts = drain(clients.sqs(), resources.alerts_queue_url)
    assert [json.loads(m["Body"])["reason"] for m in alerts] == ["no_trigger", "no_trigger"]


def test_a_job_default_trigger_silences_the_warning_and_makes_batches_retryable(
    settings, clients, clock, caplog
):
    trail = make_trail(settings, clients, clock)
    job = new_id()
    trail.set_job_policy(job, trigger=WORK, actor="ops")
    with (
        caplog.at_level("WARNING", logger="observability"),
        pytest.raises(Boom),
        trail.batch(job, "a"),
    ):
        raise Boom("x")
    assert not [r for r in caplog.records if "have no trigger" in r.getMessage()]
    state = trail.get(job, "a")
    assert state is not None
    assert state.status is Status.FAILED
    assert state.next_retry_at is not None
    policy = trail.job_policy(job)
    assert policy is not None
    assert policy.trigger == WORK.to_dict()
    assert [(c["by"], c["field"]) for c in policy.changes] == [("ops", "trigger")]


def test_resumed_batch_known_from_pending_costs_one_write_per_transition(settings, clients, clock):
    job = new_id()
    first = make_trail(settings, clients, clock)
    with pytest.raises(Boom), first.batch(job, "b", trigger=WORK):
        raise Boom
    second = make_trail(settings, clients, clock).connect()
    calls = count_calls(clients)
    assert second.pending(job, ["b"]) == ["b"]
    with second.batch(job, "b", trigger=WORK):
        pass
    # The read hands back the whole item: both writes put it, each over the one before (the
    # update registers the job, once in this new process). The STARTED first archives the
    # failed run's events, which would take the item past one write unit: one put more.
    assert calls == Counter({"BatchGetItem": 1, "PutItem": 3, "UpdateItem": 1})


def test_starting_a_live_batch_is_rejected(settings, clients, clock):
    job = new_id()
    a = make_trail(settings, clients, clock, actor="a")
    b = make_trail(settings, clients, clock, actor="b")
    with a.batch(job, "b1") as run:
        with pytest.raises(BatchAlreadyRunning) as info:
            b.batch(job, "b1").__enter__()
        assert f"run {run.run_id}" in str(info.value)
    # Once the first run is done the batch may run again, as attempt 2.
    with b.batch(job, "b1") as again:
        assert again.attempt == 2


def test_stale_run_can_be_taken_over_and_its_result_is_refused(settings, clients, clock):
    job = new_id()
    a = make_trail(settings, clients, clock, actor="a")
    b = make_trail(settings, clients, clock, actor="b")
    with pytest.raises(RunSuperseded), a.batch(job, "b1"):
        clock.advance(settings.stale_after_seconds + 1)
        with b.batch(job, "b1") as taken:
            assert taken.attempt == 2
    state = b.get(job, "b1")
    assert state is not None
    assert (state.status, state.attempt) == (Status.SUCCESS, 2)
    assert [e.event.value for e in b.history(job, "b1")] == [
        "STARTED",
        "STARTED",
        "SUCCESS",
    ]


def test_failure_of_a_superseded_run_is_not_recorded_and_the_error_still_raises(
    settings, clients, clock
):
    job = new_id()
    a = make_trail(settings, clients, clock)
    b = make_trail(settings, clients, clock)
    with pytest.raises(Boom) as info, a.batch(job, "b1"):
        clock.advance(settings.stale_after_seconds + 1)
        with b.batch(job, "b1"):
            pass
        raise Boom("late")
    assert any("not recorded" in note for note in info.value.__notes__)
    assert b.get(job, "b1").status is Status.SUCCESS


def test_heartbeat_keeps_a_long_run_alive(settings, clients, clock):
    job = new_id()
    a = make_trail(settings, clients, clock)
    b = make_trail(settings, clients, clock)
    with a.batch(job, "b1") as run:
        for _ in range(3):
            clock.advance(settings.stale_after_seconds * 0.6)
            assert run.heartbeat() is True
            assert run.heartbeat() is False  # throttled: no second write this soon
            with pytest.raises(BatchAlreadyRunning):
                b.batch(job, "b1").__enter__()
    assert a.get(job, "b1").status is Status.SUCCESS


def test_retry_index_attributes_only_on_retryable_failures(settings, clients, clock, resources):
    job = new_id()
    trail = make_trail(settings, clients, clock)
    with trail.batch(job, "ok"):
        pass
    with pytest.raises(Boom), trail.batch(job, "retry", trigger=WORK):
        raise Boom
    with pytest.raises(NonRetryableError), trail.batch(job, "fatal", trigger=WORK):
        raise NonRetryableError("bad schema")
    by_batch = {
        item["sk"]["S"].removeprefix("STATE#"): item
        for item in raw_items(clients, settings.table_name)
        if item["sk"]["S"].startswith("STATE#")
    }
    assert "due_pk" not in by_batch["ok"]
    assert by_batch["retry"]["due_pk"]["S"].startswith("FAILED#")
    assert by_batch["fatal"]["due_pk"]["S"].startswith("EXHAUSTED#")  # listed, never swept
    assert by_batch["fatal"]["status"]["S"] == "EXHAUSTED"
    # A non-retryable failure is an alert at once, for people, not a signal for the remediator.
    alerts = drain(clients.sqs(), resources.alerts_queue_url)
    assert len(alerts) == 1
    body = json.loads(alerts[0]["Body"])
    assert (body["event"], body["batch_id"], body["reason"]) == (
        "EXHAUSTED",
        "fatal",
        "non_retryable",
    )
    signals = drain(clients.sqs(), resources.queue_url)
    assert [json.loads(m["Body"])["batch_id"] for m in signals] == ["retry"]


def test_configured_exception_names_are_not_retried(settings_kwargs, clients, clock):
    settings = Settings(**settings_kwargs, non_retryable_errors=("KeyError",))
    trail = make_trail(settings, clients, clock)
    job = new_id()
    with pytest.raises(KeyError), trail.batch(job, "b", trigger=WORK):
        raise KeyError("missing column")
    state = trail.get(job, "b")
    assert (state.status, state.retryable) == (Status.EXHAUSTED, False)


def test_failure_at_the_attempt_cap_is_exhausted(settings_kwargs, clients, clock, resources):
    settings = Settings(**settings_kwargs, max_attempts=2, backoff_base_seconds=0)
    trail = make_trail(settings, clients, clock)
    job = new_id()
    for _ in range(2):
        with pytest.raises(Boom), trail.batch(job, "b", trigger=WORK):
            raise Boom
    assert trail.get(job, "b").status is Status.EXHAUSTED
    assert [e.event.value for e in trail.history(job, "b")] == [
        "STARTED",
        "FAILED",
        "STARTED",
        "FAILED",
        "EXHAUSTED",
    ]
    alerts = drain(clients.sqs(), resources.alerts_queue_url)
    assert [json.loads(m["Body"])["reason"] for m in alerts] == ["max_attempts"]


def test_next_retry_follows_the_backoff_bounds(settings_kwargs, clients, clock):
    settings = Settings(**settings_kwargs, backoff_base_seconds=60, max_attempts=5)
    trail = make_trail(settings, clients, clock)
    job = new_id()
    for attempt in (1, 2, 3):
        with pytest.raises(Boom), trail.batch(job, "b", trigger=WORK):
            raise Boom
        state = trail.get(job, "b")
        delay = (from_iso(state.next_retry_at) - clock.now).total_seconds()
        assert 0 <= delay <= 60 * 2 ** (attempt - 1)


def test_ttl_attribute_is_epoch_seconds_of_the_retention(settings, clients, clock):
    trail = make_trail(settings, clients, clock)
    job = new_id()
    with trail.batch(job, "b", trigger=WORK):
        pass
    expected = int(clock.now.timestamp()) + settings.ttl_days * 86400
    for item in raw_items(clients, settings.table_name):
        assert int(item["expires_at"]["N"]) == expected


def test_decorator_form(settings, clients, clock):
    trail = make_trail(settings, clients, clock)
    job = new_id()

    @trail.batch(job, "d")
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    assert work(1) == 2
    state = trail.get(job, "d")
    assert (state.status, state.attempt) == (Status.SUCCESS, 2)


def test_metrics_are_emf_lines(settings, clients, clock):
    stream = io.StringIO()
    trail = make_trail(settings, clients, clock, stream=stream)
    job = new_id()
    with trail.batch(job, "b", trigger=WORK):
        clock.advance(1.5)
    with pytest.raises(Boom), trail.batch(job, "c", trigger=WORK):
        raise Boom
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    names = [set(r) - {"_aws", "JobId"} for r in records]
    assert names == [{"JobStarted"}, {"JobSuccess", "JobDurationMs"}, {"JobStarted"},
                     {"JobFailureCount", "JobDurationMs"}]  # fmt: skip
    assert records[1]["JobDurationMs"] == 1500
    assert all(r["JobId"] == job for r in records)
    assert records[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["JobId"]]


def test_exhausted_batch_that_later_succeeds_announces_recovery(
    settings_kwargs, clients, clock, resources
):
    settings = Settings(**settings_kwargs, max_attempts=1)
    trail = make_trail(settings, clients, clock)
    job = new_id()
    with pytest.raises(Boom), trail.batch(job, "b", trigger=WORK):
        raise Boom
    with trail.batch(job, "b", trigger=WORK):
        pass
    with trail.batch(job, "b", trigger=WORK):  # an ordinary success afterwards announces nothing
        pass
    events = [
        json.loads(m["Body"])["event"] for m in drain(clients.sqs(), resources.alerts_queue_url)
    ]
    assert events == ["EXHAUSTED", "RECOVERED"]


def test_logs_are_json_lines_bound_to_the_batch(settings, clients, clock):
    import logging

    from observability.logger import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        trail = make_trail(settings, clients, clock)
        job = new_id()
        with pytest.raises(Boom), trail.batch(job, "b7") as run:
            logging.getLogger("pipeline.load").warning("slow partition")
            raise Boom("disk full")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [failed] = [line for line in lines if line["level"] == "ERROR"]
    assert (failed["job_id"], failed["batch_id"], failed["attempt"]) == (job, "b7", 1)
    assert failed["trace_id"] == run.trace_id
    assert failed["error_type"] == "Boom"
    assert failed["message"] == f"batch {job}/b7 attempt 1 failed: Boom: disk full"
    # The exception is re-raised to the pipeline, which prints its traceback: not twice.
    assert "exception" not in failed


def test_large_jobs_are_read_across_pages(settings, clients, clock):
    # 24 batches with 60 KB triggers: well over the 1 MB a Query page may return.
    trail = make_trail(settings, clients, clock)
    job = new_id()
    for n in range(24):
        big = SqsTrigger(queue_url=WORK_QUEUE, body={"pad": "x" * 60_000})
        with trail.batch(job, f"b{n:02d}", trigger=big):
            pass
    pages = clients.dynamodb().query(
        TableName=settings.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job}"}, ":s": {"S": "STATE#"}},
    )
    assert "LastEvaluatedKey" in pages  # the first page really is partial
    assert len(trail.states(job)) == 24
    assert trail.pending(job, [f"b{n:02d}" for n in range(24)]) == []
