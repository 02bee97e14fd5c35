"""`remediator demo`: the whole story on an embedded local AWS, told as it happens.

A 12-month pipeline records every batch, with a retry policy: a warehouse timeout is
retried, a bad record never is. Month 5 times out once and is healed by the remediator's
retry; month 9 has a bad record, so its rule makes it EXHAUSTED at once, with an alert. A worker
consumes the trigger queue and re-runs batches through the producer library. The timeline
is read back from the audit table itself: what it prints is what the trail recorded. Then
the trace of month 5, from spans the OpenTelemetry SDK recorded in memory as it happened
(the `traces` extra), is drawn as a waterfall.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from observability import (
    AuditTrail,
    RetryPolicy,
    RetryRule,
    SqsTrigger,
    context_from,
)
from observability.clients import AwsClients
from observability.models import Status, from_iso, iso
from observability.settings import Settings, env_name
from observability.telemetry.metrics import Metrics
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.service.consumer import SignalConsumer
from remediator.settings import RemediatorSettings
from remediator.stack.demo_console import CONSOLE_HINT, start_console
from remediator.stack.local import LOCAL_CREDENTIALS, LOCAL_REGION, LocalAws
from remediator.stack.provision import Resources, bootstrap
from remediator.stack.timeline import Timeline, draw_trace, recording
from remediator.views.render import Style, status_table

__all__ = ["DemoResult", "keep_exports", "run_demo"]

JOB = "ingest-sales"
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
FLAKY, BROKEN = "2024-05", "2024-09"
TIME_LIMIT_SECONDS = 50.0
# The settings a pipeline must share with the demo's remediator to retry on the same scale.
DEMO_RETRY_SETTINGS = (
    "max_attempts",
    "backoff_base_seconds",
    "backoff_max_seconds",
    "stale_after_seconds",
)


class WarehouseTimeout(Exception):
    """The kind of failure a retry fixes."""


class BadRecord(Exception):
    """The kind of failure no retry fixes."""


# The pipeline's own retry policy, stored with each batch (on the demo's time scale): a
# timeout is retried up to three attempts, a bad record never; anything else follows the
# settings' default rule.
RETRY = RetryPolicy(
    rules=(
        RetryRule(
            "warehouse",
            errors=("WarehouseTimeout", "TimeoutError"),
            max_attempts=3,
            base_seconds=0.5,
            max_seconds=2,
        ),
    ),
    never=("BadRecord",),
)


def load_month(month: str, attempt: int) -> None:
    """The pipeline's work; two months misbehave, the others take a moment."""
    time.sleep(0.02)
    if month == FLAKY and attempt == 1:
        raise WarehouseTimeout("warehouse connection timed out after 30 s")
    if month == BROKEN:
        raise BadRecord("row 1432: quantity is negative (-3)")


@dataclass(frozen=True, slots=True)
class DemoResult:
    healed: bool
    exhausted: bool
    alerts: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.healed and self.exhausted and self.alerts >= 1


def _daemon(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class Demo:
    """Everything the story needs, wired to one local endpoint."""

    def __init__(self, endpoint: str, out: TextIO, style: Style) -> None:
        self.out = out
        self.style = style
        self.endpoint = endpoint
        self.clients = AwsClients(region=LOCAL_REGION, endpoint_url=endpoint)
        self.resources: Resources = bootstrap(self.clients, "demo-audit")
        self.work_queue = self.clients.sqs().create_queue(QueueName="demo-work")["QueueUrl"]
        self.settings = RemediatorSettings(
            table_name=self.resources.table_name,
            topic_arn=self.resources.topic_arn,
            queue_url=self.resources.queue_url,
            region=LOCAL_REGION,
            max_attempts=3,
            backoff_base_seconds=0.5,
            backoff_max_seconds=1.0,
            stale_after_seconds=60,
            sweep_interval_seconds=0.5,
            poll_wait_seconds=1,
            metrics_enabled=False,
            health_port=0,
            replica_id="remediator-1",
            _env_file=None,
        )
        shared = Settings(**self.settings.model_dump(include=set(Settings.model_fields)))
        quiet = Metrics(enabled=False, stream=io.StringIO())
        self.pipeline = AuditTrail(shared, clients=self.clients, actor="pipeline", metrics=quiet)
        self.worker = AuditTrail(shared, clients=self.clients, actor="worker", metrics=quiet)
        remediator = Remediator(self.settings, clients=self.clients, metrics=quiet)
        consumer = SignalConsumer(
            self.clients, self.resources.queue_url, wait_seconds=1, visibility_timeout=30
        )
        self.service = Service(remediator, consumer)
        self.stopping = remediator.stopping
        self.start = datetime.now(UTC)
        self.timeline = Timeline(out, style, self.start)
        self.alerts: list[dict[str, Any]] = []
        self.notes: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()

    def run_remediator(self) -> None:
        self.service.run_forever(install_signals=False, health=False)

    def trigger(self, month: str) -> SqsTrigger:
        return SqsTrigger(queue_url=self.work_queue, body={"job": JOB, "month": month})

    def run_pipeline(self) -> list[str]:
        """The pipeline as its authors wrote it: record each month, carry on past failures."""
        failed = []
        for month in self.pipeline.pending(JOB, MONTHS):
            try:
                with self.pipeline.batch(
                    JOB, month, trigger=self.trigger(month), retry=RETRY
                ) as run:
                    load_month(month, run.attempt)
            except (WarehouseTimeout, BadRecord):
                failed.append(month)
        return failed

    def work_loop(self) -> None:
        """The worker: takes re-run requests off the work queue, runs them through the library."""
        sqs = self.clients.sqs()
        while not self.stopping.is_set():
            reply = sqs.receive_message(
                QueueUrl=self.work_queue,
                WaitTimeSeconds=1,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
            )
            for message in reply.get("Messages", []):
                month = json.loads(message["Body"])["month"]
                try:
                    # The re-run joins the failure's trace through the trigger's context.
                    with self.worker.batch(
                        JOB,
                        month,
                        trigger=self.trigger(month),
                        retry=RETRY,
                        parent=context_from(message),
                    ) as run:
                        load_month(month, run.attempt)
                except (WarehouseTimeout, BadRecord):
                    pass
                finally:
                    sqs.delete_message(
                        QueueUrl=self.work_queue, ReceiptHandle=message["ReceiptHandle"]
                    )

    def alert_loop(self) -> None:
        """Stands in for Slack and PagerDuty: reads the alerts queue and shows each alert."""
        sqs = self.clients.sqs()
        while not self.stopping.is_set():
            reply = sqs.receive_message(
                QueueUrl=self.resources.alerts_queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10
            )
            for message in reply.get("Messages", []):
                alert = json.loads(message["Body"])
                with self._lock:
                    self.alerts.append(alert)
                self.note(from_iso(alert["at"]), lambda a=alert: self.show_alert(a))  # type: ignore[misc]
                sqs.delete_message(
                    QueueUrl=self.resources.alerts_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def show_new_events(self) -> None:
        """Print what the audit trail (and the alerts queue) gained since the last look."""
        # One Query of the job's states; a batch's history is read only when it changed.
        changed = [
            s.batch_id
            for s in self.pipeline.states(JOB)
            if (s.batch_id, s.version) not in self.timeline.seen
        ]
        fresh: list[tuple[str, Callable[[], None]]] = [
            (e.at, lambda e=e: self.timeline.event(e))  # type: ignore[misc]
            for batch in changed
            for e in self.pipeline.history(JOB, batch)
            if (e.batch_id, e.version) not in self.timeline.seen
        ]
        with self._lock:
            notes, self.notes = self.notes, []
        # Ties go to the audit events: an alert is the consequence of the event beside it.
        fresh += [(at + "~", show) for at, show in notes]
        for _, show in sorted(fresh, key=lambda pair: pair[0]):
            show()

    def live(self) -> None:
        """After the story: each new event of the job and each alert, as it happens."""
        while not self.stopping.wait(0.5):
            self.show_new_events()

    def note(self, at: datetime, show: Callable[[], None]) -> None:
        with self._lock:
            self.notes.append((iso(at), show))

    def show_alert(self, alert: dict[str, Any]) -> None:
        subject = f"{alert['job_id']}/{alert['batch_id']}".rstrip("/")
        self.timeline.line(
            from_iso(alert["at"]),
            "ALERT",
            self.style.bold(f"{alert['event']} {subject}"),
            f"{alert.get('error_type') or alert.get('reason')}: {alert['error_message']}"
            " -> Slack, PagerDuty (stand-ins: the demo prints what they would get)",
        )

    def finished(self) -> tuple[bool, bool]:
        flaky, broken = self.pipeline.get(JOB, FLAKY), self.pipeline.get(JOB, BROKEN)
        healed = bool(flaky and flaky.status is Status.SUCCESS and flaky.attempt == 2)
        exhausted = bool(broken and broken.status is Status.EXHAUSTED)
        return healed, exhausted


def run_demo(
    out: TextIO,
    *,
    colour: bool = False,
    keep: bool = False,
    wait_forever: Callable[[], None] | None = None,
) -> DemoResult:
    """Play the story; with `keep`, leave everything running until `wait_forever` returns."""
    for name in ("observability", "remediator", "werkzeug", "botocore"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    style = Style(colour)
    local = LocalAws()
    endpoint = local.start()
    scope = ExitStack()
    try:
        recorder = scope.enter_context(recording())
        demo = Demo(endpoint, out, style)
        out.write(
            f"{style.bold('Self-healing pipelines: the story on a local AWS')} ({endpoint})\n"
            f"  table {demo.resources.table_name}, topic, signal queue (+DLQ), alerts queue: "
            "created by `remediator bootstrap`\n"
            f"  job {JOB}: 12 monthly batches; {FLAKY} times out once, {BROKEN} has a bad record\n"
            '  retry policy: rule "warehouse" (WarehouseTimeout) 3 attempts, full-jitter backoff\n'
            "  from 0.5 s; BadRecord never retried\n\n"
        )
        _daemon(demo.run_remediator, "remediator")
        _daemon(demo.work_loop, "worker")
        _daemon(demo.alert_loop, "alerts")
        failed = demo.run_pipeline()
        finished_at = datetime.now(UTC)
        demo.note(
            finished_at,
            lambda: demo.timeline.line(
                finished_at,
                "pipeline",
                f"run finished: {12 - len(failed)} months done, {len(failed)} failed "
                f"({', '.join(failed)}); the remediator takes it from here",
            ),
        )
        deadline = time.monotonic() + TIME_LIMIT_SECONDS
        healed = exhausted = False
        while time.monotonic() < deadline:
            demo.show_new_events()
            healed, exhausted = demo.finished()
            if healed and exhausted and demo.alerts:
                break
            time.sleep(0.2)
        time.sleep(0.3)
        demo.show_new_events()
        seconds = (datetime.now(UTC) - demo.start).total_seconds()
        out.write("\n" + _final_status(demo, style) + "\n")
        pending = demo.pipeline.pending(JOB, MONTHS)
        out.write(
            f"\n  pending(): {pending} - a restarted pipeline would run only these.\n"
            f"  {FLAKY}: {'healed by the remediator on attempt 2' if healed else 'NOT healed'}\n"
            f"  {BROKEN}: "
            + (
                "EXHAUSTED at once (BadRecord is never retried), alert sent"
                if exhausted
                else "NOT exhausted"
            )
            + "\n"
            f"  done in {seconds:.1f}s\n"
        )
        result = DemoResult(healed, exhausted, len(demo.alerts), seconds)
        _print_trace(out, demo, recorder)
        if keep:
            console = start_console(demo.settings, demo.clients, recorder)
            if console is not None:
                scope.callback(console.stop)
            _print_keep(out, demo, endpoint, console.url if console else None)
            _daemon(demo.live, "live")
            if wait_forever:
                wait_forever()
        demo.stopping.set()
        return result
    finally:
        scope.close()
        local.stop()


def _print_trace(out: TextIO, demo: Demo, exporter: Any) -> None:
    """The trace of the month that healed, drawn from the spans recorded while it did."""
    state = demo.pipeline.get(JOB, FLAKY) if exporter is not None else None
    draw_trace(out, demo.style, FLAKY, state.trace_id if state else None, exporter)


def _final_status(demo: Demo, style: Style) -> str:
    states = demo.pipeline.states(JOB)
    return status_table(JOB, states, datetime.now(UTC), demo.settings.stale_after_seconds, style)


def keep_exports(resources: Resources, settings: Settings, endpoint: str) -> list[str]:
    """Everything a shell needs to act on the demo's AWS as the demo does: the resources,
    the region for plain boto3 (which reads AWS_DEFAULT_REGION), fake credentials, and the
    demo's settings, so that a pipeline run from there retries on the demo's scale and
    keeps its stdout to itself."""
    lines = resources.exports(endpoint_url=endpoint, region=LOCAL_REGION)
    lines.append(f"export AWS_DEFAULT_REGION={LOCAL_REGION}")
    lines += [f"export {k}={v}" for k, v in LOCAL_CREDENTIALS.items()]
    for name in DEMO_RETRY_SETTINGS:
        lines.append(f"export {env_name(name)}={getattr(settings, name):g}")
    # As in the demo: EMF lines on stdout are for CloudWatch, not for a terminal.
    lines.append(f"export {env_name('metrics_enabled')}=false")
    return lines


def _print_keep(out: TextIO, demo: Demo, endpoint: str, console: str | None) -> None:
    lines = keep_exports(demo.resources, demo.settings, endpoint)
    out.write(
        "\nThe local AWS and the remediator keep running. In another shell:\n\n"
        + "\n".join(f"  {line}" for line in lines)
        + "\n\n"
        f"  remediator status {JOB}\n"
        f"  remediator history {JOB} {FLAKY}\n"
        "  remediator failed\n"
        f"  remediator replay {JOB} {BROKEN} --dry-run\n\n"
        "Every new event of the job and every alert is printed below as it happens.\n"
        + (f"The console: {console}\n" if console else f"The console: {CONSOLE_HINT}.\n")
        + "Press Ctrl-C to stop.\n"
    )
    out.flush()
