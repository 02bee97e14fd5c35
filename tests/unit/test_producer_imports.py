"""The producer library stays light: what a pipeline imports never loads the CLI's renderer."""

from __future__ import annotations

import json
import subprocess
import sys

# What a pipeline imports: the facade, the store, and the receiving end of a re-trigger.
PRODUCER = (
    "observability",
    "observability.audit",
    "observability.rerun",
    "observability.rerun.runner",
    "observability.rerun.sqs_worker",
    "observability.rerun.lambda_handler",
    "observability.rerun.task",
)


def _loaded_after(*modules: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))


def _rich(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m == "rich" or m.startswith("rich.")}


def test_a_pipeline_never_loads_rich() -> None:
    loaded = _loaded_after(*PRODUCER)
    assert set(PRODUCER) <= loaded  # every module named was imported
    assert _rich(loaded) == set()


def test_the_check_sees_rich_where_it_is_loaded() -> None:
    assert "rich.console" in _rich(_loaded_after("remediator.views.render"))


# What a pipeline's first batch never needs: the tracing SDK (only a configured exporter
# loads it), the test endpoint, the remediator, its renderer and its console's web stack;
# pydantic (settings are read by observability.envconfig); tenacity (the first failure
# loads it) and asyncio (async work brings its own event loop).
DENIED = (
    "opentelemetry.sdk",
    "moto",
    "remediator",
    "rich",
    "starlette",
    "jinja2",
    "uvicorn",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "tenacity",
    "asyncio",
    # The engines' triggers and the deadline calendars: loaded by the pipelines that use them.
    "observability.triggers.ecs",
    "observability.triggers.glue",
    "observability.triggers.emr",
    "observability.triggers.batch",
    "observability.audit.schedules",
    "observability.models.calendar",
    # The OpenTelemetry API: imported once the application or a re-run's context uses it.
    "opentelemetry",
    # What reads an error (patterns, codes) and a rule's actions (overrides, time zones):
    # loaded by the first failure, or by a rule that uses them.
    "observability.retry.match",
    "observability.retry.actions",
    "zoneinfo",
    # boto3 itself (and the s3transfer and multiprocessing it imports): the clients are
    # botocore's, the same ones boto3 would build (observability.clients).
    "boto3",
    "s3transfer",
    "multiprocessing",
)

_TRAIL = (
    "import json, sys\n"
    "import observability\n"
    "from observability import AuditTrail, SqsTrigger\n"
    "trail = AuditTrail(actor='t')\n"
    "trail.settings.model_dump()\n"
    "trail.clients.dynamodb()\n"
    "SqsTrigger(queue_url='https://sqs.us-east-1.amazonaws.com/1/q', body={})\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def _denied(loaded: set[str]) -> set[str]:
    return {m for m in loaded if any(m == d or m.startswith(d + ".") for d in DENIED)}


def test_building_a_trail_loads_nothing_denied() -> None:
    env = {"AWS_REGION": "us-east-1", "PATH": "", "REMEDIATOR_METRICS_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-c", _TRAIL], capture_output=True, text=True, check=True, env=env
    )
    loaded = set(json.loads(done.stdout))
    assert "observability.trail.trail" in loaded
    assert _denied(loaded) == set()


def test_the_deny_list_sees_the_remediator() -> None:
    assert "remediator" in _denied(_loaded_after("remediator.remediation.claims"))


def _printed(code: str) -> object:
    """What a fresh interpreter running `code` prints, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout)


def test_a_stored_engine_trigger_loads_its_module_when_read() -> None:
    code = (
        "import json, sys\n"
        "from observability.triggers import trigger_from_dict\n"
        "before = 'observability.triggers.glue' in sys.modules\n"
        "t = trigger_from_dict({'kind': 'glue', 'job_name': 'nightly'})\n"
        "print(json.dumps([before, type(t).__name__]))\n"
    )
    assert _printed(code) == [False, "GlueJobTrigger"]


def test_a_span_the_application_starts_after_importing_the_library_is_seen() -> None:
    code = (
        "import json\n"
        "from observability.telemetry import tracing\n"
        "before = [tracing.enabled(), tracing.current_trace_id()]\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "with trace.get_tracer('app').start_as_current_span('job') as span:\n"
        "    own = format(span.get_span_context().trace_id, '032x')\n"
        "    after = [tracing.enabled(), tracing.current_trace_id() == own]\n"
        "print(json.dumps([before, after]))\n"
    )
    assert _printed(code) == [[False, None], [True, True]]
