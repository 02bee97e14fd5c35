"""Traces against the moto server: one id everywhere, and the parent of every span.

The SDK's in-memory exporter records what this process does (`spans` fixture); without the
fixture no SDK is configured, as in a pipeline that never asked for traces.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from opentelemetry import trace

from observability import context_from
from observability.models.traceids import anchor_span_id, from_xray, parse_traceparent, to_xray
from remediator.ops.identity import Actor
from remediator.ops.replay import replay
from tests.conftest import MOTO_ARN, Clock, drain, new_id
from tests.integration.harness import (
    Recorded,
    Spans,
    Stack,
    TriggerTargets,
    children,
    count_calls,
    one,
    run_cli,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01"


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def run_of(spans: list[Recorded], batch: str, attempt: int) -> Recorded:
    return one(spans, "batch run", **{"pipeline.batch_id": batch, "pipeline.attempt": attempt})


def signal_message(stack: Stack) -> dict[str, Any]:
    [message] = drain(stack.clients.sqs(), stack.settings.queue_url or "")
    return message


# -- the producer: which trace a run is in, and what it stores --------------------------------


def test_a_fresh_run_starts_a_trace_whose_id_the_trail_the_logs_and_the_signal_carry(
    stack: Stack, spans: Spans, caplog: pytest.LogCaptureFixture
):
    job = new_id()
    with caplog.at_level(logging.INFO, logger="observability"):
        stack.fail(job, "b1")
    state = stack.trail.get(job, "b1")
    assert state is not None
    recorded = spans.all()
    run = run_of(recorded, "b1", 1)
    assert run.parent_id is None  # a root: nothing called it
    assert {s.trace_id for s in recorded} == {run.trace_id} == {state.trace_id}
    assert {e.trace_id for e in stack.trail.history(job, "b1")} == {run.trace_id}
    logged = {r.trace_id for r in caplog.records if hasattr(r, "trace_id")}  # type: ignore[attr-defined]
    assert logged == {run.trace_id}

    # STARTED and FAILED as events of the run; the writes and the publish as its children.
    assert run.events == ["STARTED", "FAILED", "exception"]
    assert (run.attributes["pipeline.outcome"], run.error) == ("FAILED", True)
    assert run.attributes["pipeline.error_type"] == "RuntimeError"
    names = [(c.name, c.attributes.get("audit.events")) for c in children(recorded, run)]
    assert names == [
        ("DynamoDB.PutItem", ["STARTED"]),
        ("DynamoDB.PutItem", ["FAILED"]),
        ("SNS.Publish", ["FAILED"]),
    ]

    # The signal: trace id in its body, the publish span's context as its attribute.
    message = signal_message(stack)
    assert json.loads(message["Body"])["trace_id"] == run.trace_id
    publish = one(recorded, "SNS.Publish")
    traceparent = message["MessageAttributes"]["traceparent"]["StringValue"]
    assert parse_traceparent(traceparent) == (run.trace_id, publish.span_id, True)


def test_a_run_started_in_a_context_takes_its_trace_id(stack: Stack, spans: Spans):
    job = new_id()
    with stack.trail.batch(job, "b1", parent=context_from(PARENT)) as run:
        assert run.trace_id == TRACE
    [recorded] = spans.named("batch run")
    assert (recorded.trace_id, recorded.parent_id, recorded.kind) == (TRACE, SPAN, "CONSUMER")
    assert stack.trail.get(job, "b1").trace_id == TRACE  # type: ignore[union-attr]


def test_a_run_inside_the_callers_span_is_its_child(stack: Stack, spans: Spans):
    job = new_id()
    tracer = spans.provider.get_tracer("pipeline")
    with tracer.start_as_current_span("nightly load") as outer, stack.trail.batch(job, "b1") as run:
        pass
    outer_id = f"{outer.get_span_context().span_id:016x}"
    recorded = run_of(spans.all(), "b1", 1)
    assert (recorded.parent_id, recorded.kind) == (outer_id, "INTERNAL")
    assert run.trace_id == recorded.trace_id == f"{outer.get_span_context().trace_id:032x}"


def test_a_rerun_of_a_batch_this_process_knows_joins_its_trace(stack: Stack, spans: Spans):
    job = new_id()
    stack.fail(job, "b1")
    first = stack.trail.get(job, "b1")
    assert first is not None
    with stack.trail.batch(job, "b1", trigger=stack.trigger("b1")) as run:
        assert run.attempt == 2
    again = run_of(spans.all(), "b1", 2)
    assert again.trace_id == first.trace_id == run.trace_id
    # No span of the first run is at hand: it joins under the batch's anchor id.
    assert again.parent_id == anchor_span_id(first.trace_id or "")


def test_an_ecs_task_joins_the_trace_it_was_started_in_for_its_own_batch(
    stack: Stack, spans: Spans, monkeypatch: pytest.MonkeyPatch
):
    job = new_id()
    monkeypatch.setenv("TRACEPARENT", PARENT)
    monkeypatch.setenv("PIPELINE_JOB_ID", job)
    monkeypatch.setenv("PIPELINE_BATCH_ID", "mine")
    with stack.trail.batch(job, "mine") as run:
        assert run.trace_id == TRACE
    with stack.trail.batch(job, "another") as other:
        assert other.trace_id != TRACE  # a batch it was not started for: its own trace
    assert run_of(spans.all(), "mine", 1).parent_id == SPAN


def test_without_an_sdk_a_given_context_still_decides_the_stored_id(stack: Stack):
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    job = new_id()
    with stack.trail.batch(job, "b1", parent=context_from(PARENT)) as run:
        assert run.trace_id == TRACE
    with stack.trail.batch(job, "b2") as fresh:
        assert fresh.trace_id == fresh.run_id  # as before traces: the first run's id
    assert stack.trail.get(job, "b1").trace_id == TRACE  # type: ignore[union-attr]


def _calls_per_batch(stack: Stack) -> list[tuple[str, list[str]]]:
    """(operation, message attribute names) of each call one success and one failure make."""
    job = new_id()
    stack.trail.connect()  # the table's shape, read once per process
    stack.trail.registry.noted(job, stack.trail.now(), success=True)  # once per job per process
    calls: list[tuple[str, list[str]]] = []

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, sorted(params.get("MessageAttributes", {}))))

    for service in ("dynamodb", "sns"):
        stack.clients.client(service).meta.events.register("before-parameter-build", hook)
    try:
        with stack.trail.batch(job, "ok", trigger=stack.trigger("ok")):
            pass
        stack.fail(job, "bad")
    finally:
        for service in ("dynamodb", "sns"):
            stack.clients.client(service).meta.events.unregister("before-parameter-build", hook)
    return calls


FLOOR = [
    ("PutItem", []),
    ("PutItem", []),
    ("PutItem", []),
    ("GetItem", []),  # the job's retry policy, read once per job per minute
    ("PutItem", []),
    ("Publish", ["event", "job_id", "retryable"]),
]


def test_without_an_sdk_a_batch_makes_the_same_calls_as_before_traces(stack: Stack):
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    stack.trail.connect()  # the table's shape, read once per process
    calls = count_calls(stack.clients)
    assert _calls_per_batch(stack) == FLOOR  # no traceparent: nothing to continue
    # The update is the job's registration, made before the calls compared above.
    assert calls == {"PutItem": 4, "GetItem": 1, "Publish": 1, "UpdateItem": 1}


def test_with_an_sdk_the_calls_are_the_same_and_the_signal_carries_the_context(
    stack: Stack, spans: Spans
):
    calls = _calls_per_batch(stack)
    assert [c[0] for c in calls] == [c[0] for c in FLOOR]
    assert calls[-1][1] == ["event", "job_id", "retryable", "traceparent"]
    assert spans.named("batch run")


# -- the remediator, the re-trigger and the healed run ----------------------------------------


def test_one_trace_from_the_failure_through_the_signal_and_the_retry_to_the_healed_run(
    stack: Stack, spans: Spans
):
    job = new_id()
    stack.fail(job, "b1")
    assert stack.service.run_once().outcomes == {"triggered": 1}
    [work] = stack.work()
    stack.rerun([work], job, lambda _: None)
    state = stack.trail.get(job, "b1")
    assert state is not None
    assert (state.status.value, state.attempt) == ("SUCCESS", 2)

    recorded = spans.all()
    assert {s.trace_id for s in recorded} == {state.trace_id}
    failed, healed = run_of(recorded, "b1", 1), run_of(recorded, "b1", 2)
    publish = one(recorded, "SNS.Publish")
    queued = one(recorded, "signal queued")
    fix = one(recorded, "remediate")
    fired = one(recorded, "re-trigger sqs")
    assert publish.parent_id == failed.span_id
    assert queued.parent_id == publish.span_id
    assert queued.end_ns > queued.start_ns
    assert (fix.parent_id, fix.kind) == (publish.span_id, "CONSUMER")
    assert fix.attributes["remediator.via"] == "signal"
    assert fix.attributes["remediator.outcome"] == "triggered"
    # The record first archives the failed run's events (the item would pass 1 KB).
    claim, trigger, archive, record = children(recorded, fix)
    assert (claim.name, claim.attributes.get("audit.events")) == ("DynamoDB.UpdateItem", None)
    assert trigger == fired
    assert (archive.name, archive.attributes.get("audit.events")) == ("DynamoDB.PutItem", None)
    assert (record.name, record.attributes["audit.events"]) == (
        "DynamoDB.PutItem",
        ["RETRY_TRIGGERED"],
    )
    # The work message carries the re-trigger's context; the re-run is its child.
    assert parse_traceparent(work["traceparent"]) == (state.trace_id, fired.span_id, True)
    assert (healed.parent_id, healed.kind) == (fired.span_id, "CONSUMER")
    assert healed.attributes["pipeline.outcome"] == "SUCCESS"
    assert [e.attributes.get("audit.events") for e in children(recorded, healed)][-1] == ["SUCCESS"]


def test_a_signal_heard_before_its_retry_is_due_parents_the_sweep_that_retries_it(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, spans: Spans
):
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, backoff_base_seconds=60)
    job = new_id()
    stack.fail(job, "b1")
    assert stack.service.run_once().outcomes == {"not_due": 1}
    clock.advance(3600)
    assert stack.service.run_once().outcomes == {"triggered": 1}
    recorded = spans.all()
    publish = one(recorded, "SNS.Publish")
    heard = one(recorded, "remediate", **{"remediator.outcome": "not_due"})
    swept = one(recorded, "remediate", **{"remediator.outcome": "triggered"})
    assert heard.parent_id == swept.parent_id == publish.span_id
    assert (heard.attributes["remediator.via"], swept.attributes["remediator.via"]) == (
        "signal",
        "sweep",
    )


def test_a_retry_found_by_the_sweep_alone_joins_the_batch_trace_by_its_id(
    stack: Stack, spans: Spans
):
    job = new_id()
    stack.fail(job, "b1")
    signal_message(stack)  # the signal is lost
    assert stack.service.run_once().outcomes == {"triggered": 1}
    state = stack.trail.get(job, "b1")
    assert state is not None
    swept = one(spans.all(), "remediate")
    assert swept.trace_id == state.trace_id
    assert swept.parent_id == anchor_span_id(state.trace_id or "")
    assert swept.attributes["remediator.via"] == "sweep"
    [work] = stack.work()
    assert parse_traceparent(work["traceparent"])[0] == state.trace_id  # type: ignore[index]


def test_a_replay_joins_the_batch_trace(stack: Stack, spans: Spans):
    job = new_id()
    stack.fail(job, "b1", error=ValueError)
    signal_message(stack)
    state = stack.trail.get(job, "b1")
    assert state is not None
    outcome = replay(stack.remediator, state, actor=Actor(MOTO_ARN, "alice"), reason=None)
    assert outcome.kind == "triggered"
    replayed = one(spans.all(), "remediate", **{"remediator.via": "replay"})
    assert (replayed.trace_id, replayed.parent_id) == (
        state.trace_id,
        anchor_span_id(state.trace_id or ""),
    )


def test_without_an_sdk_the_context_passes_through_the_remediator(stack: Stack):
    """An untraced remediator still hands the failure's context on: a traced worker joins."""
    job = new_id()
    with stack.trail.batch(job, "b1", parent=context_from(PARENT)) as run:
        assert run.trace_id == TRACE
    # The untraced producer published no context; the remediator joins by the stored id.
    stack.fail(job, "b2")
    state = stack.trail.get(job, "b2")
    assert state is not None
    stack.service.run_once()
    [work] = stack.work()
    assert parse_traceparent(work["traceparent"]) == (
        state.trace_id,
        anchor_span_id(state.trace_id or ""),
        True,
    )


def test_every_trigger_kind_carries_the_context_on(stack: Stack, spans: Spans, clients: Any):
    targets = TriggerTargets(clients, stack.remediator.trigger_clients)
    job = new_id()
    for kind, trigger in targets.triggers.items():
        try:
            with stack.trail.batch(job, kind, trigger=trigger):
                raise RuntimeError(kind)
        except RuntimeError:
            pass
    assert stack.service.run_once().outcomes == {"triggered": len(targets.triggers)}
    fired = {
        s.attributes["remediator.trigger"]: s
        for s in spans.all()
        if s.name.startswith("re-trigger ")
    }
    carriers = targets.received()
    assert set(carriers) == set(fired) == set(targets.triggers)
    for kind, carrier in carriers.items():
        context = context_from(carrier)
        assert context is not None, kind
        parent = trace.get_current_span(context).get_span_context()
        assert f"{parent.span_id:016x}" == fired[kind].span_id, kind
        assert f"{parent.trace_id:032x}" == stack.trail.get(job, kind).trace_id, kind  # type: ignore[union-attr]
    assert carriers["ecs"]["TRACEPARENT"] == carriers["ecs"]["TRACEPARENT"].strip()
    assert len(carriers["sqs"]["MessageAttributes"]) <= 10  # the SQS limit


def test_history_shows_the_trace_id_in_the_form_the_xray_console_takes(
    stack: Stack, spans: Spans, moto_endpoint: str
):
    job = new_id()
    stack.fail(job, "b1")
    trace_id = run_of(spans.all(), "b1", 1).trace_id
    shown = run_cli(moto_endpoint, stack.settings, "history", job, "b1")
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("trace ")]
    assert line == f"trace {trace_id}  X-Ray: {to_xray(trace_id)}"
    assert from_xray(line.split("X-Ray: ")[1]) == trace_id
    as_json = run_cli(moto_endpoint, stack.settings, "history", job, "b1", "--output", "json")
    assert {e["xray_trace_id"] for e in json.loads(as_json.stdout)} == {to_xray(trace_id)}
