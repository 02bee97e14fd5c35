"""Spans over the wire: the real OTLP/HTTP exporter posts to a receiver on loopback, which
decodes the protobuf, and sees the spans the in-memory exporter saw."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from observability.telemetry import tracing
from tests.conftest import Clock, new_id
from tests.integration.harness import Spans, Stack, cli


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]


class Receiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1: decodes each request, answers 200."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(self.path, self.headers.get("Content-Type", ""), body)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def take(self, path: str, content_type: str, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.paths.append(path)
            self.content_types.append(content_type)
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            Received(
                                service=resource.get("service.name", ""),
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex() or None,
                                attributes={a.key: _value(a.value) for a in span.attributes},
                            )
                        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def test_the_otlp_exporter_delivers_the_spans_the_in_memory_exporter_recorded(
    receiver: Receiver,
    settings_kwargs: dict[str, Any],
    clients: Any,
    moto_endpoint: str,
    clock: Clock,
):
    spans = Spans(service="pipeline")
    otlp = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=5)
    spans.provider.add_span_processor(BatchSpanProcessor(otlp))
    with tracing.use_provider(spans.provider):
        stack = Stack(settings_kwargs, clients, moto_endpoint, clock)
        job = new_id()
        stack.fail(job, "b1")
        stack.service.run_once()
        stack.rerun(stack.work(), job, lambda _: None)
    assert spans.provider.force_flush(10_000)
    spans.provider.shutdown()

    recorded = spans.all()
    assert len(recorded) >= 12  # run, writes, publish, queue, remediation, re-run
    assert receiver.paths
    assert set(receiver.paths) == {"/v1/traces"}
    assert set(receiver.content_types) == {"application/x-protobuf"}
    sent = {(s.trace_id, s.span_id, s.parent_id, s.name) for s in recorded}
    got = {(s.trace_id, s.span_id, s.parent_id, s.name) for s in receiver.spans}
    assert got == sent
    assert len(receiver.spans) == len(recorded)
    assert {s.service for s in receiver.spans} == {"pipeline"}
    state = stack.trail.get(job, "b1")
    assert state is not None
    assert {s.trace_id for s in receiver.spans} == {state.trace_id}
    healed = next(
        s
        for s in receiver.spans
        if s.name == "batch run" and s.attributes.get("pipeline.attempt") == 2
    )
    assert healed.attributes["pipeline.outcome"] == "SUCCESS"
    writes = [
        s.attributes.get("audit.events") for s in receiver.spans if s.parent_id == healed.span_id
    ]
    assert ["SUCCESS"] in writes


def test_remediator_run_exports_over_otlp_when_the_otel_variables_say_so(
    receiver: Receiver, settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str
):
    """The container's way: nothing configured in code, only the standard variables."""
    stack = Stack(settings_kwargs, clients, moto_endpoint, Clock())
    job = new_id()
    stack.fail(job, "b1")  # an untraced pipeline: the remediator joins by the stored id
    state = stack.trail.get(job, "b1")
    assert state is not None
    done = cli(
        "run",
        "--once",
        AWS_ENDPOINT_URL=moto_endpoint,
        REMEDIATOR_TABLE_NAME=stack.settings.table_name,
        REMEDIATOR_TOPIC_ARN=stack.settings.topic_arn or "",
        REMEDIATOR_QUEUE_URL=stack.settings.queue_url or "",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
    )
    assert done.returncode == 0, done.stderr
    names = {s.name for s in receiver.spans}
    assert {"remediate", "re-trigger sqs", "DynamoDB.UpdateItem"} <= names
    assert {s.service for s in receiver.spans} == {"remediator"}
    [fix] = [s for s in receiver.spans if s.name == "remediate"]
    assert fix.trace_id == state.trace_id
    assert fix.attributes["remediator.outcome"] == "triggered"
