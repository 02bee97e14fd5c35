"""Builds a remediator in-process against the moto server, and a worker that re-runs batches."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from observability import AuditTrail, SqsTrigger, context_from
from observability.clients import AwsClients
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from observability.triggers import (
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    StepFunctionsTrigger,
    Trigger,
)
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.service.consumer import Received, SignalConsumer
from remediator.settings import RemediatorSettings
from tests.conftest import REGION, Clock, drain
from tests.integration.recorded import Recorded


def count_calls(clients: AwsClients) -> Counter[str]:
    """Count API calls per operation with botocore's own event hooks (once per call)."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    for service in ("dynamodb", "sns", "sqs"):
        clients.client(service).meta.events.register("before-call", hook)
    return calls


def raw_items(clients: AwsClients, table: str) -> list[dict[str, Any]]:
    """Every item the pipelines and the remediator wrote (not the table's own META record)."""
    items = clients.dynamodb().scan(TableName=table, ConsistentRead=True)["Items"]
    return [item for item in items if item["pk"]["S"] != "TABLE"]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`remediator ARGS` as a person runs it: a subprocess, with `env` over this one's."""
    return subprocess.run(
        [sys.executable, "-m", "remediator", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_cli(endpoint: str, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`remediator ARGS` configured for `settings` on `endpoint`."""
    return cli(
        *args,
        AWS_ENDPOINT_URL=endpoint,
        REMEDIATOR_TABLE_NAME=settings.table_name,
        REMEDIATOR_TOPIC_ARN=settings.topic_arn or "",
        REMEDIATOR_QUEUE_URL=settings.queue_url or "",
    )


def stack_cli(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`remediator ARGS` configured for `stack` (two tries per AWS call), `env` over it."""
    return cli(
        *args,
        **{
            "AWS_ENDPOINT_URL": stack.endpoint,
            "AWS_MAX_ATTEMPTS": "2",
            "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
            "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
            "REMEDIATOR_QUEUE_URL": stack.settings.queue_url or "",
            **env,
        },
    )


class Stack:
    """Producer, remediator and a work queue sharing one table, topic and clock."""

    def __init__(
        self,
        settings_kwargs: dict[str, Any],
        clients: AwsClients,
        endpoint: str,
        clock: Clock,
        **overrides: Any,
    ) -> None:
        base: dict[str, Any] = {"backoff_base_seconds": 0, "health_port": 0, "poll_wait_seconds": 1}
        self.settings = RemediatorSettings(**{**settings_kwargs, **base, **overrides})
        self.clients = clients
        self.clock = clock
        self.endpoint = endpoint
        self.emf = io.StringIO()
        self.producer_emf = io.StringIO()
        self.work_queue = clients.sqs().create_queue(QueueName=f"work-{uuid.uuid4().hex[:8]}")[
            "QueueUrl"
        ]
        self.trail = self.producer()
        self.remediator = self.make_remediator()
        self.service = self.make_service(self.remediator)

    def producer(self, **kw: Any) -> AuditTrail:
        shared = Settings(
            **self.settings.model_dump(include=set(Settings.model_fields)), _env_file=None
        )
        return AuditTrail(
            shared,
            clients=self.clients,
            clock=self.clock,
            metrics=Metrics(stream=self.producer_emf),
            **kw,
        )

    def make_remediator(self, replica: str = "replica-1", **overrides: Any) -> Remediator:
        settings = self.settings.model_copy(update={"replica_id": replica, **overrides})
        return Remediator(
            settings,
            clients=self.clients,
            trigger_clients=AwsClients(region=REGION, endpoint_url=self.endpoint, max_attempts=1),
            metrics=Metrics(stream=self.emf),
            clock=self.clock,
            sleep=lambda _: None,
        )

    def make_service(self, remediator: Remediator) -> Service:
        consumer = SignalConsumer(
            self.clients,
            remediator.settings.queue_url or "",
            wait_seconds=1,
            visibility_timeout=remediator.settings.visibility_timeout_seconds,
            drain_wait_seconds=0,
        )
        return Service(remediator, consumer)

    def trigger(self, batch_id: str) -> SqsTrigger:
        return SqsTrigger(queue_url=self.work_queue, body={"batch": batch_id})

    def fail(self, job: str, batch: str, error: type[BaseException] = RuntimeError) -> None:
        try:
            with self.trail.batch(job, batch, trigger=self.trigger(batch)):
                raise error(f"{batch} failed")
        except error:
            pass

    def work(self, wait: int = 0) -> list[dict[str, Any]]:
        """Every trigger message waiting on the work queue (received and deleted)."""
        return [
            {
                "body": json.loads(m["Body"]),
                **{k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()},
            }
            for m in drain(self.clients.sqs(), self.work_queue, wait=wait)
        ]

    def rerun(
        self, messages: list[dict[str, Any]], job: str, behave: Callable[[str], None]
    ) -> None:
        """A worker: re-run each triggered batch through the producer library."""
        for message in messages:
            batch = message["batch_id"]
            try:
                with self.trail.batch(
                    job, batch, trigger=self.trigger(batch), parent=context_from(message)
                ) as run:
                    assert run.attempt == int(message["attempt"])
                    behave(batch)
            except RuntimeError:
                pass

    def metric_total(self, name: str, *, producer: bool = False) -> float:
        stream = self.producer_emf if producer else self.emf
        return sum(json.loads(line).get(name, 0) for line in stream.getvalue().splitlines() if line)


def queue_arn(clients: AwsClients, queue_url: str) -> str:
    return str(
        clients.sqs().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    )


def receive_all(clients: AwsClients, queue_url: str, *, wait: int = 0) -> list[dict[str, Any]]:
    """Every message waiting now, received (not deleted) with all its attributes."""
    out: list[dict[str, Any]] = []
    while True:
        reply = clients.sqs().receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        if not messages:
            return out
        out.extend(messages)
        wait = 0


def receive_signals(consumer: SignalConsumer, expected: int) -> list[Received]:
    """`expected` messages from the signal queue, through the service's own consumer."""
    got: list[Received] = []
    while len(got) < expected:
        batch = consumer.receive(wait_seconds=0)
        assert batch, f"only {len(got)} of {expected} messages came back"
        got += batch
    return got


def sqs_event(
    clients: AwsClients, queue_url: str, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The event Lambda's SQS event source would hand the function for these received
    messages: the documented record shape (camelCase keys, lower-case attribute fields)."""
    arn = queue_arn(clients, queue_url)
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "md5OfMessageAttributes": m.get("MD5OfMessageAttributes"),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": arn.split(":")[3],
            }
            for m in messages
        ]
    }


class LambdaContext:
    """The context object the Lambda runtime passes a handler (the fields it documents)."""

    def __init__(self, function_arn: str, timeout_ms: int = 60_000) -> None:
        self.invoked_function_arn = function_arn
        self.function_name = function_arn.rsplit(":", 1)[-1]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2024/01/01/[$LATEST]0"
        self._timeout_ms = timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def lambda_function(clients: AwsClients, role_arn: str | None = None) -> str:
    """A function in moto (which accepts Invoke but cannot run code); returns its ARN."""
    if role_arn is None:
        role_arn = clients.client("iam").create_role(
            RoleName=f"role-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n")
    return str(
        clients.client("lambda").create_function(
            FunctionName=f"fn-{uuid.uuid4().hex[:8]}",
            Runtime="python3.11",
            Role=role_arn,
            Handler="handler.handle",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
    )


def state_machine(clients: AwsClients, role_arn: str = "arn:aws:iam::123456789012:role/sfn") -> str:
    """A state machine of one Pass state in moto; returns its ARN."""
    return str(
        clients.client("stepfunctions").create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:8]}",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=role_arn,
        )["stateMachineArn"]
    )


def ecs_cluster(clients: AwsClients, family: str = "worker") -> str:
    """A cluster in moto, and the task definition `family` (one container, `worker`);
    returns the cluster's name."""
    ecs = clients.client("ecs")
    cluster = f"cluster-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=family,
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "worker", "image": "worker:1", "memory": 512}],
    )
    return cluster


def newcomer_env() -> dict[str, str]:
    """A newcomer's shell: no endpoint, no project variables, no test credentials."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REMEDIATOR_", "AWS_")) or k in ("AWS_CONFIG_FILE",)
    }


class DemoKeep:
    """`remediator demo --keep` as a process: its story, and the export lines it prints.

    `with DemoKeep(tmp_path) as demo:` waits for "Press Ctrl-C"; `demo.env` is a newcomer's
    shell with those exports applied; on exit the demo gets Ctrl-C (SIGINT) and must stop.
    """

    def __init__(self, workdir: Any, timeout: float = 90) -> None:
        import pathlib

        self.workdir = pathlib.Path(workdir)
        self.timeout = timeout
        self.seen: list[str] = []
        self.exports: dict[str, str] = {}
        self._errors = self.workdir / "demo-stderr"
        self.proc: subprocess.Popen[str] | None = None
        self.exit_code: int | None = None
        self._said = threading.Condition()
        self._reader: threading.Thread | None = None

    def told(self) -> str:
        """What the demo said so far, for the message of any failing assertion."""
        errors = self._errors.read_text() if self._errors.exists() else ""
        return "".join(self.seen) + "\n--- stderr ---\n" + errors

    @property
    def env(self) -> dict[str, str]:
        return {**newcomer_env(), **self.exports}

    def __enter__(self) -> DemoKeep:
        import time

        with self._errors.open("w") as errors:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "remediator", "demo", "--keep"],
                env=newcomer_env(),
                cwd=self.workdir,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        deadline = time.monotonic() + self.timeout
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.seen.append(line)
            assert time.monotonic() < deadline, self.told()
            if line.strip().startswith("export "):
                name, value = line.strip().removeprefix("export ").split("=", 1)
                self.exports[name] = value
            if "Press Ctrl-C" in line:
                self._reader = threading.Thread(target=self._read, daemon=True)
                self._reader.start()
                return self
        raise AssertionError("demo --keep ended early:\n" + self.told())

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._said:
                self.seen.append(line)
                self._said.notify_all()

    def wait_for(self, needle: str, after: int, timeout: float = 20) -> str:
        """The first line from line `after` on that holds `needle`, waiting for it to be said."""
        with self._said:
            found = self._said.wait_for(
                lambda: any(needle in line for line in self.seen[after:]), timeout
            )
        assert found, f"{needle!r} not said within {timeout} s:\n" + self.told()
        return next(line for line in self.seen[after:] if needle in line)

    def stop(self, timeout: float = 15) -> int:
        import signal
        import time

        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # every thread's stack, to see what held it
            time.sleep(1)
            raise AssertionError("demo --keep did not stop:\n" + self.told()) from None
        return self.exit_code

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Spans:
    """What the OpenTelemetry SDK recorded, in memory, while `recording()` was on."""

    def __init__(self, service: str = "test") -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def all(self) -> list[Recorded]:
        return [Recorded.of(s) for s in self.exporter.get_finished_spans()]

    def named(self, name: str, spans: Iterable[Recorded] | None = None) -> list[Recorded]:
        return [s for s in (self.all() if spans is None else spans) if s.name == name]


def one(spans: Iterable[Recorded], name: str, **attributes: Any) -> Recorded:
    """The single span of that name whose attributes include these."""
    found = [
        s
        for s in spans
        if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, f"{len(found)} spans {name} {attributes}: {[s.name for s in spans]}"
    return found[0]


def children(spans: Iterable[Recorded], parent: Recorded) -> list[Recorded]:
    return sorted((s for s in spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)


class TriggerTargets:
    """One target of every kind on the moto server, and what each of them received."""

    def __init__(self, clients: AwsClients, fired_by: AwsClients) -> None:
        self.clients = clients
        uid = uuid.uuid4().hex[:8]
        role = clients.client("iam").create_role(
            RoleName=f"r-{uid}", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        function = lambda_function(clients, role).rpartition(":")[2]
        self.machine = state_machine(clients, role)
        events = clients.client("events")
        events.create_event_bus(Name=f"bus-{uid}")
        sqs = clients.sqs()
        self.work_queue = sqs.create_queue(QueueName=f"work-{uid}")["QueueUrl"]
        self.event_sink = sqs.create_queue(QueueName=f"events-{uid}")["QueueUrl"]
        sink_arn = sqs.get_queue_attributes(QueueUrl=self.event_sink, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        pattern = json.dumps({"source": [f"pipelines-{uid}"]})
        events.put_rule(Name="r", EventBusName=f"bus-{uid}", EventPattern=pattern)
        events.put_targets(
            Rule="r", EventBusName=f"bus-{uid}", Targets=[{"Id": "q", "Arn": sink_arn}]
        )
        self.cluster = ecs_cluster(clients, family=f"worker-{uid}")
        self.triggers: dict[str, Trigger] = {
            "sqs": SqsTrigger(queue_url=self.work_queue, body={"m": 1}),
            "lambda": LambdaTrigger(function_name=function, payload={"m": 1}),
            "stepfunctions": StepFunctionsTrigger(state_machine_arn=self.machine, input={"m": 1}),
            "eventbridge": EventBridgeTrigger(
                source=f"pipelines-{uid}", detail={"m": 1}, event_bus_name=f"bus-{uid}"
            ),
            "ecs": EcsTaskTrigger(
                cluster=self.cluster,
                task_definition=f"worker-{uid}",
                container_name="worker",
                subnets=["subnet-0123456789abcdef0"],
            ),
        }
        # Fargate needs subnets, and moto cannot attach network interfaces to tasks: it runs
        # the task without the network block once the trigger has been checked.
        fired_by.client("ecs").meta.events.register(
            "before-parameter-build.ecs.RunTask",
            lambda params, **_: params.pop("networkConfiguration", None),
        )
        # moto runs no function: what the invoke carried is read as it is sent.
        self.invoked: list[dict[str, Any]] = []
        fired_by.client("lambda").meta.events.register(
            "provide-client-params.lambda.Invoke",
            lambda params, **_: self.invoked.append(json.loads(params["Payload"])),
        )

    def received(self) -> dict[str, Any]:
        """kind -> the carrier its re-run would read: the SQS message, the Lambda payload,
        the execution's input, the EventBridge event, the task's environment."""
        sfn, ecs = self.clients.client("stepfunctions"), self.clients.client("ecs")
        [execution] = sfn.list_executions(stateMachineArn=self.machine)["executions"]
        [task_arn] = ecs.list_tasks(cluster=self.cluster)["taskArns"]
        [task] = ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn])["tasks"]
        [override] = task["overrides"]["containerOverrides"]
        [message] = drain(self.clients.sqs(), self.work_queue)
        [event] = drain(self.clients.sqs(), self.event_sink)
        [payload] = self.invoked
        return {
            "sqs": message,
            "lambda": payload,
            "stepfunctions": json.loads(
                sfn.describe_execution(executionArn=execution["executionArn"])["input"]
            ),
            "eventbridge": json.loads(event["Body"]),
            "ecs": {e["name"]: e["value"] for e in override["environment"]},
        }
