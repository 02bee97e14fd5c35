"""Telemetry: EMF metrics (`metrics`), OpenTelemetry (`tracing`) and a run's span (`runtrace`)."""

__all__: list[str] = []
