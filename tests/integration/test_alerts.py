"""Alert routing end to end: signals on the moto topic, the alerts queue, the Lambda handler,
and a loopback HTTP server standing in for Slack and PagerDuty."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from observability.clients import AwsClients, reset_default_clients
from observability.models.signals import CIRCUIT_OPEN, EXHAUSTED, FAILED, RECOVERED, Signal
from remediator.alerts import AlertRouter, AlertSettings, JsonPoster, handler, use_router
from tests.conftest import MOTO_ARN, REGION, drain, new_id
from tests.integration.harness import Stack, stack_cli

SLACK_PATH = "/services/T000/B000/slack-secret-path"
PAGERDUTY_PATH = "/v2/enqueue"
ROUTING_KEY = "rk-0123456789abcdef0123456789abcdef"


@dataclass
class Received:
    path: str
    body: dict[str, Any]


@dataclass
class Recorder:
    """What the loopback server received, and how it answers (200 unless told otherwise)."""

    requests: list[Received] = field(default_factory=list)
    status_for: Callable[[Received], int] = lambda _: 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def slack(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == SLACK_PATH]

    def pagerduty(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == PAGERDUTY_PATH]


@pytest.fixture
def webhooks() -> Iterator[Recorder]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            received = Received(self.path, body)
            with recorder.lock:
                recorder.requests.append(received)
            status = recorder.status_for(received)
            reply = b"ok" if status < 400 else b"nope"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval keeps shutdown() (which waits for the next poll) quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def alert_settings(webhooks: Recorder) -> AlertSettings:
    return AlertSettings(
        slack_webhook_url=webhooks.url + SLACK_PATH,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_url=webhooks.url + PAGERDUTY_PATH,
        region=REGION,
        _env_file=None,
    )


@pytest.fixture
def router(
    alert_settings: AlertSettings, clients: AwsClients, sleeps: list[float]
) -> Iterator[Any]:
    """The handler's process-wide router, built from test settings; forgotten afterwards."""
    built = AlertRouter(alert_settings, clients=clients, sleep=sleeps.append)
    use_router(built)
    yield built
    use_router(None)


def signal(event: str, job: str, batch: str = "2024-05", **kw: Any) -> Signal:
    fields: dict[str, Any] = {
        "event": event,
        "job_id": job,
        "batch_id": batch,
        "attempt": 3,
        "version": 7,
        "status": "EXHAUSTED" if event != RECOVERED else "SUCCESS",
        "error_type": "ValueError",
        "error_message": "month 5 exploded: <bad row> & more",
        "retryable": event == FAILED,
        "trace_id": "trace-" + uuid.uuid4().hex[:12],
        "at": datetime.now(UTC).isoformat(),
        "reason": "max_attempts" if event == EXHAUSTED else None,
        "actor": "pipeline@host",
    }
    fields.update(kw)
    return Signal(**fields)


def publish(clients: AwsClients, resources: Any, *signals: Signal) -> None:
    for item in signals:
        clients.sns().publish(
            TopicArn=resources.topic_arn,
            Message=item.body(),
            MessageAttributes=item.attributes(),  # type: ignore[arg-type]
        )


def lambda_event(messages: list[dict[str, Any]], queue_arn: str = "") -> dict[str, Any]:
    """The SQS event Lambda's event source mapping would build from received messages."""
    records = []
    for message in messages:
        attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": attributes,
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def receive_event(clients: AwsClients, resources: Any) -> dict[str, Any]:
    return lambda_event(drain(clients.sqs(), resources.alerts_queue_url))


def failed_ids(reply: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in reply["batchItemFailures"]]


def count_calls(clients: AwsClients, *services: str) -> Counter[str]:
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    for service in services:
        clients.client(service).meta.events.register("before-call", hook)
    return calls


@pytest.mark.usefixtures("router")
def test_exhausted_alert_posts_to_slack_and_pages(clients, resources, webhooks):
    job = new_id("ingest")
    sent = signal(EXHAUSTED, job)
    publish(clients, resources, sent)
    event = receive_event(clients, resources)
    assert len(event["Records"]) == 1

    assert handler(event, None) == {"batchItemFailures": []}

    [slack] = webhooks.slack()
    assert job in slack["text"]
    assert "2024-05" in slack["text"]
    assert "max_attempts" in slack["text"]
    blocks = json.dumps(slack["blocks"])
    for expected in (
        f"remediator history {job} 2024-05",
        f"remediator replay {job} 2024-05",
        sent.trace_id,
        "ValueError",
        "&lt;bad row&gt; &amp; more",  # escaped, so Slack shows it verbatim
    ):
        assert expected in blocks
    [page] = webhooks.pagerduty()
    assert page["routing_key"] == ROUTING_KEY
    assert page["event_action"] == "trigger"
    assert page["dedup_key"] == f"{job}#2024-05"
    payload = page["payload"]
    assert payload["severity"] == "error"
    assert job in payload["summary"]
    assert payload["source"] == job
    assert payload["custom_details"]["trace_id"] == sent.trace_id
    assert payload["custom_details"]["reason"] == "max_attempts"
    assert payload["custom_details"]["attempt"] == 3


@pytest.mark.usefixtures("router")
def test_the_same_alert_twice_pages_with_the_same_dedup_key(clients, resources, webhooks):
    job = new_id()
    sent = signal(EXHAUSTED, job, "b1")
    publish(clients, resources, sent, sent)
    event = receive_event(clients, resources)
    assert len(event["Records"]) == 2

    assert failed_ids(handler(event, None)) == []
    # A duplicate SQS delivery of the same record, too.
    assert failed_ids(handler({"Records": event["Records"][:1]}, None)) == []

    pages = webhooks.pagerduty()
    assert len(pages) == 3
    assert {page["dedup_key"] for page in pages} == {f"{job}#b1"}


@pytest.mark.usefixtures("router")
def test_recovered_resolves_the_incident_it_triggered(clients, resources, webhooks):
    job = new_id()
    publish(clients, resources, signal(EXHAUSTED, job, "b"), signal(RECOVERED, job, "b"))
    event = receive_event(clients, resources)

    assert failed_ids(handler(event, None)) == []

    trigger, resolve = webhooks.pagerduty()
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"] == f"{job}#b"
    assert resolve["routing_key"] == ROUTING_KEY
    recovered = webhooks.slack()[1]
    assert "RECOVERED" in recovered["text"]
    assert job in recovered["text"]
    assert len(recovered["blocks"]) == 1


@pytest.mark.usefixtures("router")
def test_circuit_open_without_a_batch_pages_per_job(clients, resources, webhooks):
    job = new_id()
    publish(clients, resources, signal(CIRCUIT_OPEN, job, "", attempt=0, reason="error_rate"))
    event = receive_event(clients, resources)

    assert failed_ids(handler(event, None)) == []

    [page] = webhooks.pagerduty()
    assert (page["event_action"], page["dedup_key"]) == ("trigger", f"{job}#circuit")
    [slack] = webhooks.slack()
    assert "error_rate" in slack["text"]
    assert f"remediator status {job}" in json.dumps(slack["blocks"])


def test_a_failed_signal_never_reaches_the_alerts_queue(clients, resources):
    job = new_id()
    publish(clients, resources, signal(FAILED, job, "retry-me"), signal(EXHAUSTED, job, "done"))

    alerts = drain(clients.sqs(), resources.alerts_queue_url)

    assert [json.loads(m["Body"])["batch_id"] for m in alerts] == ["done"]
    # The remediator's queue heard the FAILED one, so the filter, not the publish, chose.
    signals = drain(clients.sqs(), resources.queue_url)
    assert [json.loads(m["Body"])["batch_id"] for m in signals] == ["retry-me"]


@pytest.mark.usefixtures("router")
def test_bad_records_are_reported_and_good_ones_delivered(
    clients, resources, webhooks, sleeps, caplog
):
    good, poison = new_id("good"), new_id("poison")
    publish(clients, resources, signal(EXHAUSTED, good), signal(EXHAUSTED, poison))
    clients.sqs().send_message(QueueUrl=resources.alerts_queue_url, MessageBody="{not json")
    webhooks.status_for = lambda r: (
        500 if r.path == SLACK_PATH and poison in r.body["text"] else 200
    )
    messages = drain(clients.sqs(), resources.alerts_queue_url)
    event = lambda_event(messages)
    by_kind = {
        ("malformed" if m["Body"] == "{not json" else json.loads(m["Body"])["job_id"]): m[
            "MessageId"
        ]
        for m in messages
    }

    with caplog.at_level(logging.INFO):
        reply = handler(event, None)

    assert sorted(failed_ids(reply)) == sorted([by_kind["malformed"], by_kind[poison]])
    assert [s["text"] for s in webhooks.slack() if good in s["text"]] != []
    poison_posts = [s for s in webhooks.slack() if poison in s["text"]]
    assert len(poison_posts) == 3  # the bounded attempts, then reported
    assert len(sleeps) == 2  # waits between attempts went to the injected sleep
    # PagerDuty is tried even though Slack is down for that record.
    assert {p["dedup_key"] for p in webhooks.pagerduty()} == {
        f"{good}#2024-05",
        f"{poison}#2024-05",
    }
    assert "malformed alert record" in caplog.text
    assert "HTTP 500" in caplog.text
    assert SLACK_PATH not in caplog.text
    assert ROUTING_KEY not in caplog.text


@pytest.mark.usefixtures("router")
def test_transient_errors_are_retried_and_refusals_are_not(clients, resources, webhooks, sleeps):
    flaky, refused = new_id("flaky"), new_id("refused")
    publish(clients, resources, signal(EXHAUSTED, flaky), signal(EXHAUSTED, refused))
    event = receive_event(clients, resources)
    seen: Counter[str] = Counter()

    def status_for(r: Received) -> int:
        if r.path != SLACK_PATH:
            return 202
        job = flaky if flaky in r.body["text"] else refused
        seen[job] += 1
        if job == refused:
            return 400
        return 429 if seen[job] == 1 else 503 if seen[job] == 2 else 200

    webhooks.status_for = status_for
    ids = {json.loads(r["body"])["job_id"]: r["messageId"] for r in event["Records"]}

    assert failed_ids(handler(event, None)) == [ids[refused]]
    assert seen == {flaky: 3, refused: 1}
    assert len(sleeps) == 2


def test_a_destination_down_every_time_fails_the_record(clients, resources, webhooks, sleeps):
    webhooks.status_for = lambda r: 500
    settings = AlertSettings(
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_url=webhooks.url + PAGERDUTY_PATH,
        alert_http_max_attempts=4,
        _env_file=None,
    )
    router = AlertRouter(settings, clients=clients, sleep=sleeps.append)
    publish(clients, resources, signal(EXHAUSTED, new_id()))
    event = receive_event(clients, resources)

    reply = router.handle(event)

    assert failed_ids(reply) == [event["Records"][0]["messageId"]]
    assert len(webhooks.pagerduty()) == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= 2.0 for s in sleeps)


def test_an_unreachable_destination_fails_the_record(clients, resources, sleeps):
    settings = AlertSettings(
        slack_webhook_url="http://127.0.0.1:9/hooks/secret",  # discard port: refused
        _env_file=None,
    )
    router = AlertRouter(settings, clients=clients, sleep=sleeps.append)
    publish(clients, resources, signal(EXHAUSTED, new_id()))
    event = receive_event(clients, resources)

    assert failed_ids(router.handle(event)) == [event["Records"][0]["messageId"]]
    assert len(sleeps) == 2


def test_an_unconfigured_destination_is_skipped_and_logged_once(
    clients, resources, webhooks, caplog
):
    settings = AlertSettings(
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_url=webhooks.url + PAGERDUTY_PATH,
        _env_file=None,
    )
    router = AlertRouter(settings, clients=clients, sleep=lambda _: None)
    job = new_id()
    for batch in ("a", "b"):
        publish(clients, resources, signal(EXHAUSTED, job, batch))
        with caplog.at_level(logging.INFO):
            assert failed_ids(router.handle(receive_event(clients, resources))) == []

    assert webhooks.slack() == []
    assert [p["dedup_key"] for p in webhooks.pagerduty()] == [f"{job}#a", f"{job}#b"]
    assert caplog.text.count("Slack is not configured") == 1


@pytest.mark.usefixtures("router")
def test_an_sns_envelope_is_accepted(clients, resources, webhooks):
    """A subscription without raw message delivery wraps the signal in SNS's envelope."""
    sqs, sns = clients.sqs(), clients.sns()
    url = sqs.create_queue(QueueName=f"wrapped-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=resources.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"event": [EXHAUSTED]})},
    )
    job = new_id()
    publish(clients, resources, signal(EXHAUSTED, job, "wrapped"))
    messages = drain(sqs, url)
    assert json.loads(messages[0]["Body"])["Type"] == "Notification"

    assert failed_ids(handler(lambda_event(messages, arn), None)) == []

    assert [p["dedup_key"] for p in webhooks.pagerduty()] == [f"{job}#wrapped"]


def test_secrets_come_from_ssm_and_secrets_manager_once_per_process(
    moto_endpoint, resources, webhooks, sleeps
):
    # Clients of its own, so the call count sees only this test's calls.
    clients = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    name = f"/alerts/{uuid.uuid4().hex[:8]}/slack-webhook"
    clients.client("ssm").put_parameter(
        Name=name, Value=webhooks.url + SLACK_PATH, Type="SecureString"
    )
    secret_arn = clients.client("secretsmanager").create_secret(
        Name=f"alerts-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"routing_key": ROUTING_KEY})
    )["ARN"]
    calls = count_calls(clients, "ssm", "secretsmanager")
    settings = AlertSettings(
        slack_webhook_ssm_parameter=name,
        pagerduty_routing_key_secret_arn=secret_arn,
        pagerduty_url=webhooks.url + PAGERDUTY_PATH,
        _env_file=None,
    )
    use_router(AlertRouter(settings, clients=clients, sleep=sleeps.append))
    try:
        job = new_id()
        for batch in ("first", "second"):  # a cold invocation, then a warm one
            publish(clients, resources, signal(EXHAUSTED, job, batch))
            assert failed_ids(handler(receive_event(clients, resources), None)) == []
    finally:
        use_router(None)

    assert calls == {"GetParameter": 1, "GetSecretValue": 1}
    assert len(webhooks.slack()) == 2
    assert {p["routing_key"] for p in webhooks.pagerduty()} == {ROUTING_KEY}


def test_an_unreadable_secret_fails_records_until_it_can_be_read(
    clients, resources, webhooks, sleeps
):
    name = f"/alerts/{uuid.uuid4().hex[:8]}/missing"
    settings = AlertSettings(slack_webhook_ssm_parameter=name, _env_file=None)
    router = AlertRouter(settings, clients=clients, sleep=sleeps.append)
    publish(clients, resources, signal(EXHAUSTED, new_id()))
    event = receive_event(clients, resources)

    assert failed_ids(router.handle(event)) == [event["Records"][0]["messageId"]]

    # The failure was not cached: once the parameter exists, the next invocation delivers.
    clients.client("ssm").put_parameter(Name=name, Value=webhooks.url + SLACK_PATH, Type="String")
    assert failed_ids(router.handle(event)) == []
    assert len(webhooks.slack()) == 1


def test_cold_start_reads_the_environment(monkeypatch, moto_endpoint, resources, webhooks):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("REMEDIATOR_SLACK_WEBHOOK_URL", webhooks.url + SLACK_PATH)
    monkeypatch.setenv("REMEDIATOR_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("REMEDIATOR_PAGERDUTY_URL", webhooks.url + PAGERDUTY_PATH)
    clients = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    job = new_id()
    publish(clients, resources, signal(EXHAUSTED, job, "env"))
    event = receive_event(clients, resources)
    use_router(None)
    reset_default_clients()
    try:
        assert failed_ids(handler(event, None)) == []
    finally:
        use_router(None)
        reset_default_clients()

    assert [p["dedup_key"] for p in webhooks.pagerduty()] == [f"{job}#env"]
    assert len(webhooks.slack()) == 1


def test_an_unexpected_error_costs_one_record_not_the_batch(clients, resources, webhooks):
    class Buggy(JsonPoster):
        def post(self, destination: str, url: str, document: Any, **kw: Any) -> int:
            if "buggy" in json.dumps(document):
                raise RuntimeError("a bug")
            return super().post(destination, url, document, **kw)

    settings = AlertSettings(slack_webhook_url=webhooks.url + SLACK_PATH, _env_file=None)
    router = AlertRouter(settings, clients=clients, poster=Buggy())
    fine, buggy = new_id("fine"), new_id("buggy")
    publish(clients, resources, signal(EXHAUSTED, fine), signal(EXHAUSTED, buggy))
    event = receive_event(clients, resources)
    ids = {json.loads(r["body"])["job_id"]: r["messageId"] for r in event["Records"]}

    assert failed_ids(router.handle(event)) == [ids[buggy]]
    assert [fine in s["text"] for s in webhooks.slack()] == [True]


@pytest.mark.usefixtures("router")
def test_a_batch_resolved_by_hand_resolves_its_incident_and_says_who_and_why(
    settings_kwargs, clients, moto_endpoint, clock, resources, webhooks
):
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, max_attempts=1)
    job = new_id("ingest")
    stack.fail(job, "2024-05")  # EXHAUSTED at once: paged
    assert handler(receive_event(clients, resources), None) == {"batchItemFailures": []}
    [page] = webhooks.pagerduty()
    assert (page["event_action"], page["dedup_key"]) == ("trigger", f"{job}#2024-05")

    done = stack_cli(
        stack, "resolve", job, "2024-05", "--note", "file re-delivered by hand",
        "--operator", "dana", "--yes",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2024-05: resolved (was EXHAUSTED); alert resolved" in done.stdout
    assert handler(receive_event(clients, resources), None) == {"batchItemFailures": []}
    assert webhooks.pagerduty()[-1] == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": page["dedup_key"],
    }
    line = webhooks.slack()[-1]["blocks"][0]["text"]["text"]
    assert f"*Resolved*: `{job}` batch `2024-05` resolved by {MOTO_ARN} (dana)" in line
    assert line.endswith(": file re-delivered by hand")
