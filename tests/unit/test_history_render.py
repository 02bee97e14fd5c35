"""`history` shows each trace id once, with the X-Ray form the consoles take as it is."""

from __future__ import annotations

from observability.models import AuditEvent, EventType, Status
from observability.models.traceids import from_xray
from remediator.views.render import Style, history_table

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"


def event(version: int, trace_id: str | None) -> AuditEvent:
    return AuditEvent(
        job_id="j",
        batch_id="b",
        event=EventType.STARTED,
        attempt=version,
        version=version,
        at=f"2026-01-01T00:00:0{version}Z",
        actor="pipeline",
        status=Status.STARTED,
        trace_id=trace_id,
    )


def test_each_trace_once_in_order_with_its_xray_form():
    text = history_table([event(1, TRACE), event(2, TRACE), event(3, OTHER)], Style(False))
    lines = text.splitlines()
    assert lines[-2:] == [
        f"trace {TRACE}  X-Ray: 1-4bf92f35-77b34da6a3ce929d0e0e4736",
        f"trace {OTHER}  X-Ray: 1-0af76519-16cd43dd8448eb211c80319c",
    ]
    assert from_xray(lines[-2].split("X-Ray: ")[1]) == TRACE


def test_ids_from_before_traces_are_shown_as_they_are_without_an_xray_form():
    text = history_table([event(1, "trace-1"), event(2, None)], Style(False))
    assert "X-Ray" not in text


def test_json_form_carries_the_xray_id_only_for_a_w3c_trace_id():
    assert event(1, TRACE).as_dict()["xray_trace_id"] == "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    assert "xray_trace_id" not in event(1, "trace-1").as_dict()
