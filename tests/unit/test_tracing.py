"""observability.telemetry.tracing without AWS: the off switch, carriers, spans, configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability.models.traceids import anchor_span_id
from observability.telemetry import tracing
from observability.telemetry.setup import configure_tracing

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(found))
    with tracing.use_provider(provider):
        yield found


def test_off_without_an_sdk_and_no_span_work_at_all():
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert not tracing.enabled()
    with tracing.span("x") as span:
        assert span is None
    with tracing.aws_call("DynamoDB", "PutItem", table="t") as span:
        assert span is None
    # The same null context every time: nothing is built per call.
    assert tracing.span("a") is tracing.aws_call("SNS", "Publish")


def test_use_provider_turns_spans_on_for_its_block_only(exporter: InMemorySpanExporter):
    assert tracing.enabled()
    with tracing.span("outer", attributes={"k": "v"}) as outer:
        assert outer is not None
        with tracing.aws_call(
            "DynamoDB", "UpdateItem", table="audit", events=[{"event": "FAILED"}]
        ) as inner:
            assert inner is not None
    [call, first] = exporter.get_finished_spans()
    assert (first.name, call.name) == ("outer", "DynamoDB.UpdateItem")
    assert call.parent is not None
    assert call.parent.span_id == first.context.span_id
    assert call.kind is trace.SpanKind.CLIENT
    assert dict(call.attributes or {}) == {
        "rpc.system": "aws-api",
        "rpc.service": "DynamoDB",
        "rpc.method": "UpdateItem",
        "aws.dynamodb.table_names": ("audit",),
        "audit.events": ("FAILED",),
    }


def test_a_span_records_the_error_that_leaves_it(exporter: InMemorySpanExporter):
    with pytest.raises(KeyError), tracing.span("failing"):
        raise KeyError("k")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is trace.StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]


@pytest.mark.parametrize(
    "carrier",
    [
        PARENT,
        {"traceparent": PARENT},  # Step Functions input, Lambda payload, EventBridge detail
        {"TRACEPARENT": PARENT, "PATH": "/bin"},  # an ECS task's environment
        {"MessageAttributes": {"traceparent": {"StringValue": PARENT, "DataType": "String"}}},
        {"messageAttributes": {"traceparent": {"stringValue": PARENT}}},  # Lambda SQS record
        {"Records": [{"messageAttributes": {"traceparent": {"stringValue": PARENT}}}]},
        {"Records": [{"Sns": {"MessageAttributes": {"traceparent": {"Value": PARENT}}}}]},
        {"detail-type": "BatchRetryRequested", "detail": {"traceparent": PARENT}},
    ],
    ids=["string", "json", "env", "sqs", "lambda-record", "lambda-sqs", "lambda-sns", "events"],
)
def test_context_from_reads_every_carrier(carrier: object):
    context = tracing.context_from(carrier)
    assert context is not None
    parent = trace.get_current_span(context).get_span_context()
    assert (f"{parent.trace_id:032x}", f"{parent.span_id:016x}") == (TRACE, SPAN)
    assert parent.is_remote
    assert parent.trace_flags.sampled


@pytest.mark.parametrize(
    "carrier",
    [
        None,
        "",
        "garbage",
        {"traceparent": "00-xyz"},
        {"MessageAttributes": {}},
        {"Records": [{}, {}]},  # several messages: whose context would it be?
        ["not", "a", "map"],
        {"traceparent": {"nested": PARENT}},
    ],
)
def test_context_from_returns_none_when_nothing_valid_is_carried(carrier: object):
    assert tracing.context_from(carrier) is None


def test_traceparent_of_the_current_context_even_without_an_sdk():
    assert tracing.traceparent() is None
    context = tracing.context_from(PARENT)
    token = otel_context.attach(context)  # type: ignore[arg-type]
    try:
        # The API's no-op passes the context through: the next hop still gets it.
        assert tracing.traceparent() == PARENT
        assert tracing.current_trace_id() == TRACE
        with tracing.span("not recorded"):
            assert tracing.traceparent() == PARENT
    finally:
        otel_context.detach(token)


def test_anchor_context_joins_the_batch_trace_by_its_id():
    context = tracing.anchor_context(TRACE)
    assert context is not None
    assert tracing.traceparent(context) == f"00-{TRACE}-{anchor_span_id(TRACE)}-01"
    assert tracing.anchor_context("trace-1") is None  # an id from before traces existed
    assert tracing.anchor_context(None) is None


def test_a_span_in_a_remote_context_is_its_child(exporter: InMemorySpanExporter):
    with tracing.span("child", context=tracing.context_from(PARENT)) as span:
        assert span is not None
        assert tracing.traceparent() == (f"00-{TRACE}-{span.get_span_context().span_id:016x}-01")
    [child] = exporter.get_finished_spans()
    assert child.parent is not None
    assert (f"{child.context.trace_id:032x}", f"{child.parent.span_id:016x}") == (TRACE, SPAN)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_SERVICE_NAME": "x"},  # naming a service asks for nothing
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
    ids=["nothing", "name-only", "exporter-none", "sdk-disabled", "unknown-exporter", "grpc"],
)
def test_configure_tracing_leaves_the_sdk_off_unless_asked(environ: dict[str, str]):
    assert configure_tracing(environ=environ) is False
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_aws_call_names_the_destination_of_a_publish(exporter: InMemorySpanExporter):
    topic = "arn:aws:sns:us-east-1:123456789012:signals"
    with tracing.aws_call(
        "SNS", "Publish", destination=topic, kind=tracing.SpanKind.PRODUCER
    ) as span:
        assert span is not None
    [publish] = exporter.get_finished_spans()
    attributes = dict(publish.attributes or {})
    assert attributes["messaging.system"] == "aws_sns"
    assert attributes["messaging.destination.name"] == "signals"
    assert publish.kind is trace.SpanKind.PRODUCER
    assert json.dumps(attributes)  # every value is plain data
