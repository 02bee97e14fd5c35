"""infra/terraform and traces: the collector sidecar is off by default and one variable turns
it on, with the X-Ray permissions it needs, and the service's OTEL_* variables agree with what
`configure_tracing` reads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from observability.telemetry.setup import exporter_wanted
from tests.infra.terraform import TF_DIR, TFVARS_EXAMPLE, Terraform, parse

VARIABLE = "trace_collector_image"


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


def _branches(expression: str) -> tuple[str, str]:
    """(value when tracing is on, value when off) of `local.tracing_enabled ? "a" : "b"`."""
    found = re.fullmatch(r'\$\{local\.tracing_enabled \? "([^"]*)" : "([^"]*)"\}', expression)
    assert found, expression
    return found.group(1), found.group(2)


def _environment(tf: Terraform, on: bool) -> dict[str, str]:
    env = {}
    for entry in tf.locals["tracing_environment"]:
        value = entry["value"]
        if "${" in value:
            value = _branches(value)[0 if on else 1]
        env[entry["name"]] = value
    return env


def test_one_variable_off_by_default(tf: Terraform):
    variable = tf.variables()[VARIABLE]
    assert variable["default"] is None
    assert tf.locals["tracing_enabled"] == f"${{var.{VARIABLE} != null}}"
    assert ":latest" in str(variable["validation"])  # a version, or a digest
    example = (TFVARS_EXAMPLE).read_text()
    assert VARIABLE not in parse(TFVARS_EXAMPLE)  # off in the example
    assert f"# {VARIABLE} = " in example  # and shown, to turn on


def test_the_service_exports_spans_only_with_the_collector(tf: Terraform):
    container = tf.locals["remediator_container"]
    assert container["environment"] == "${local.remediator_environment}"
    assert "local.tracing_environment" in tf.locals["remediator_environment"]
    on, off = _environment(tf, on=True), _environment(tf, on=False)
    # What configure_tracing makes of each: the SDK over OTLP/HTTP, or nothing.
    assert exporter_wanted(on) == "otlp"
    assert exporter_wanted(off) is None
    # The collector listens on the task's loopback (awsvpc: one network namespace).
    assert on["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert on["OTEL_SERVICE_NAME"] == "remediator"


def test_the_sidecar_is_the_adot_collector_sending_to_xray(tf: Terraform):
    collector: dict[str, Any] = tf.locals["collector_container"]
    assert collector["name"] == "${local.collector_name}"
    assert collector["image"] == f"${{var.{VARIABLE}}}"
    assert collector["command"] == ["--config=/etc/ecs/ecs-xray.yaml"]
    assert collector["essential"] is False  # the service runs on without it
    assert collector["readonlyRootFilesystem"] is True
    logs = collector["logConfiguration"]
    service_logs = tf.locals["remediator_container"]["logConfiguration"]
    assert logs["options"]["awslogs-group"] == service_logs["options"]["awslogs-group"]
    assert logs["options"]["mode"] == "non-blocking"
    # In the task only when the variable is set; the service waits for it to start.
    containers = tf.locals["task_containers"]
    assert "[local.remediator_container]" in containers
    assert "[for c in [local.collector_container] : c if local.tracing_enabled]" in containers
    depends = tf.locals["remediator_container"]["dependsOn"]
    assert depends.startswith("${local.tracing_enabled ? [")
    assert "containerName = local.collector_name" in depends
    assert depends.endswith(": null}")


def test_xray_permissions_come_with_the_collector_only(tf: Terraform):
    statements = [s for s in tf.statements("task") if any("xray:" in a for a in s.actions)]
    [statement] = statements
    assert set(statement.actions) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert statement.resources == ("*",)  # X-Ray has no resource-level permissions
    assert statement.for_each == f"${{var.{VARIABLE} == null ? [] : [1]}}"
    for document in ("execution", "producer", "alerts"):
        assert not any("xray:" in a for s in tf.statements(document) for a in s.actions)


def test_readme_names_the_variable(tf: Terraform):
    readme = (TF_DIR / "README.md").read_text()
    assert f"| `{VARIABLE}` |" in readme
