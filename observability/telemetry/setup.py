"""The OpenTelemetry SDK from the standard OTEL_* variables: `configure_tracing()`.

Only when asked for (an exporter or an OTLP endpoint named), and never over a provider the
application set itself. The SDK and its OTLP/HTTP exporter are the `traces` extra, imported
here and nowhere else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from observability.telemetry.tracing import no_sdk

__all__ = ["configure_tracing", "exporter_wanted"]

log = logging.getLogger("observability")

_EXPORTERS = ("otlp", "console")


def exporter_wanted(environ: Mapping[str, str]) -> str | None:
    """The exporter the standard OTEL_* variables ask for (`otlp`, `console`), or None.

    An OTLP endpoint alone asks for `otlp`. OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none,
    an exporter not shipped here, or an OTLP protocol other than http/protobuf: None.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if exporter == "none" or not (exporter or endpoint):
        return None
    exporter = exporter or "otlp"
    if exporter not in _EXPORTERS:
        log.warning("OTEL_TRACES_EXPORTER=%s: only %s are supported", exporter, _EXPORTERS)
        return None
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if exporter == "otlp" and protocol != "http/protobuf":
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: only http/protobuf is supported", protocol)
        return None
    return exporter


def configure_tracing(
    service_name: str = "pipeline", *, environ: Mapping[str, str] | None = None
) -> bool:
    """Set up the OpenTelemetry SDK from the standard OTEL_* variables; True if it did.

    It does so only when asked: OTEL_TRACES_EXPORTER is `otlp` (or `console`), or an OTLP
    endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
    OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keep it off, and a provider the
    application set already is left alone. Spans go out over OTLP/HTTP in batches (the
    OTEL_BSP_* and OTEL_EXPORTER_OTLP_* variables apply); `service_name` is used unless
    OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names one. Needs the `traces` extra.
    """
    exporter = exporter_wanted(os.environ if environ is None else environ)
    if exporter is None:
        return False
    from opentelemetry import trace

    if not no_sdk(trace.get_tracer_provider()):
        return False  # the application configured its own
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces, but the OpenTelemetry SDK is not installed: "
            "pip install 'self-healing-pipelines[traces]'"
        )
        return False
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    chosen = SdkTracerProvider(resource=resource)
    span_exporter: SpanExporter = (
        OTLPSpanExporter() if exporter == "otlp" else ConsoleSpanExporter()
    )
    chosen.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(chosen)
    return True
