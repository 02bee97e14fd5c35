"""The pure side of alert routing: parsing bodies, Slack and PagerDuty documents, settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability.models.signals import CIRCUIT_OPEN, EXHAUSTED, FAILED, RECOVERED, Signal
from remediator.alerts import AlertConfigError, AlertSettings, MalformedSignal, load_alert_settings
from remediator.alerts.formats.pagerduty import (
    MAX_DEDUP_KEY,
    dedup_key,
    resolve_event,
    trigger_event,
)
from remediator.alerts.formats.slack import escape_clip, slack_message
from remediator.alerts.formats.summary import commands, headline
from remediator.alerts.parse import parse_body
from remediator.alerts.transport import is_transient_status

AT = "2024-06-01T03:00:00.000000Z"


def make(event: str = EXHAUSTED, **kw: Any) -> Signal:
    fields: dict[str, Any] = {
        "event": event,
        "job_id": "ingest-sales",
        "batch_id": "2024-05",
        "attempt": 3,
        "version": 9,
        "status": "EXHAUSTED",
        "error_type": "ValueError",
        "error_message": "bad row 17",
        "retryable": False,
        "trace_id": "t-123",
        "at": AT,
        "reason": "max_attempts",
        "actor": "etl@host",
    }
    fields.update(kw)
    return Signal(**fields)


def envelope(signal: Signal) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m", "Message": signal.body()})


# Parsing


def test_a_raw_body_and_an_sns_envelope_parse_to_the_same_signal():
    signal = make()
    assert parse_body(signal.body()) == signal
    assert parse_body(envelope(signal)) == signal


def test_a_circuit_alert_may_name_no_batch():
    body = json.dumps({"event": CIRCUIT_OPEN, "job_id": "j", "reason": "error_rate", "at": AT})
    parsed = parse_body(body)
    assert (parsed.job_id, parsed.batch_id, parsed.attempt) == ("j", "", 0)
    assert parsed.reason == "error_rate"


def test_unknown_fields_are_ignored_and_other_events_still_parse():
    data = json.loads(make(FAILED).body()) | {"future_field": 1}
    assert parse_body(json.dumps(data)).event == FAILED


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "body is not JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('"text"', "JSON str, not an object"),
        ('{"Type": "Notification", "Message": "nope"}', "SNS envelope Message is not JSON"),
        ('{"Type": "Notification", "Message": 5}', "Message is not a string"),
        ('{"job_id": "j", "batch_id": "b"}', "event: missing"),
        ('{"event": "EXHAUSTED", "batch_id": "b"}', "job_id: missing"),
        ('{"event": "EXHAUSTED", "job_id": "j"}', "batch_id: missing"),
        ('{"event": "EXHAUSTED", "job_id": 7, "batch_id": "b"}', "job_id: must be a string"),
        ('{"event": "EXHAUSTED", "job_id": "j", "batch_id": "b", "attempt": "3"}', "attempt"),
        ('{"event": "EXHAUSTED", "job_id": "j", "batch_id": "b", "attempt": true}', "attempt"),
        ('{"event": "EXHAUSTED", "job_id": "j", "batch_id": "b", "retryable": "no"}', "retry"),
    ],
)
def test_malformed_bodies_name_the_problem(body, problem):
    with pytest.raises(MalformedSignal, match=problem):
        parse_body(body)


# Dedup keys


def test_dedup_key_is_the_batch_or_the_job_circuit():
    assert dedup_key(make()) == "ingest-sales#2024-05"
    assert dedup_key(make(CIRCUIT_OPEN, batch_id="")) == "ingest-sales#circuit"
    assert dedup_key(make(RECOVERED)) == dedup_key(make())


def test_a_dedup_key_too_long_for_pagerduty_is_shortened_deterministically():
    long_job, long_batch = "j" * 200, "b" * 200
    key = dedup_key(make(job_id=long_job, batch_id=long_batch))
    assert len(key) == MAX_DEDUP_KEY
    assert key.startswith("j" * 50)
    assert key == dedup_key(make(RECOVERED, job_id=long_job, batch_id=long_batch))
    assert key != dedup_key(make(job_id=long_job, batch_id="b" * 199 + "c"))


# PagerDuty


def test_a_trigger_carries_the_batch_the_error_and_the_next_steps():
    event = trigger_event(make(), "rk")
    assert {k: event[k] for k in ("routing_key", "event_action", "dedup_key")} == {
        "routing_key": "rk",
        "event_action": "trigger",
        "dedup_key": "ingest-sales#2024-05",
    }
    payload = event["payload"]
    assert payload["severity"] == "error"
    assert payload["source"] == "ingest-sales"
    assert payload["component"] == "2024-05"
    assert payload["class"] == "ValueError"
    assert payload["timestamp"] == AT
    assert payload["summary"] == (
        "EXHAUSTED: ingest-sales batch 2024-05, attempt 3, reason max_attempts "
        "(ValueError: bad row 17)"
    )
    details = payload["custom_details"]
    assert details["trace_id"] == "t-123"
    assert details["commands"] == [
        "remediator history ingest-sales 2024-05",
        "remediator replay ingest-sales 2024-05",
    ]


def test_a_trigger_leaves_out_what_pagerduty_would_reject_or_what_is_unknown():
    payload = trigger_event(make(at="yesterday", error_message="x" * 5000), "rk")["payload"]
    assert "timestamp" not in payload
    assert len(payload["summary"]) == 1024
    naive = trigger_event(make(at="2024-06-01T03:00:00"), "rk")["payload"]
    assert "timestamp" not in naive
    sparse = trigger_event(make(CIRCUIT_OPEN, batch_id="", trace_id=None), "rk")["payload"]
    assert "component" not in sparse
    assert "trace_id" not in sparse["custom_details"]
    assert "batch_id" not in sparse["custom_details"]


def test_a_resolve_names_only_the_incident():
    assert resolve_event(make(RECOVERED), "rk") == {
        "routing_key": "rk",
        "event_action": "resolve",
        "dedup_key": "ingest-sales#2024-05",
    }


# Slack


def test_the_slack_alert_mentions_job_batch_reason_and_commands():
    message = slack_message(make())
    assert message["text"] == (
        ":rotating_light: EXHAUSTED: ingest-sales batch 2024-05, attempt 3, "
        "reason max_attempts (ValueError: bad row 17)"
    )
    header, facts, error, steps, context = message["blocks"]
    assert header["type"] == "header"
    assert "ingest-sales / 2024-05" in header["text"]["text"]
    labels = [f["text"].split("\n")[0] for f in facts["fields"]]
    assert labels == ["*Job*", "*Batch*", "*Attempt*", "*Reason*", "*Error type*", "*Trace id*"]
    assert "bad row 17" in error["text"]["text"]
    assert steps["text"]["text"] == (
        "*Next steps*\n```remediator history ingest-sales 2024-05\n"
        "remediator replay ingest-sales 2024-05```"
    )
    assert AT in context["elements"][0]["text"]


def test_slack_text_is_escaped_so_values_cannot_mention_or_link():
    message = slack_message(make(error_message="<!channel> & <http://x|y>", job_id="a<b"))
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;http://x|y&gt;" in dumped
    assert "a&lt;b" in message["text"]


def test_slack_respects_block_limits_with_huge_values():
    message = slack_message(
        make(error_message="<" * 10_000, trace_id="t" * 5000, batch_id="b" * 200)
    )
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= 150
    for block in message["blocks"][1:]:
        for item in block.get("fields", []):
            assert len(item["text"]) <= 2000
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
            assert block["text"]["text"].count("```") in (0, 2)
    assert len(message["text"]) <= 3000


def test_a_triple_backtick_in_an_error_does_not_end_the_code_block():
    error = slack_message(make(error_message="a ``` b"))["blocks"][2]["text"]["text"]
    assert error.count("```") == 2


def test_a_circuit_alert_without_a_batch_offers_job_wide_commands():
    message = slack_message(make(CIRCUIT_OPEN, batch_id="", attempt=0, reason="error_rate"))
    assert message["text"] == (
        ":no_entry: CIRCUIT_OPEN: ingest-sales, reason error_rate (ValueError: bad row 17)"
    )
    steps = json.dumps(message["blocks"])
    assert "remediator status ingest-sales" in steps
    assert "remediator replay ingest-sales --all-failed" in steps
    assert "remediator history" not in steps


def test_recovery_is_a_short_message():
    message = slack_message(make(RECOVERED, reason=None))
    assert message["text"] == (
        ":white_check_mark: RECOVERED: ingest-sales batch 2024-05 succeeded at attempt 3"
    )
    [block] = message["blocks"]
    assert "*Recovered*" in block["text"]["text"]


def test_commands_quote_ids_for_the_shell():
    assert commands(make(job_id="sales eu", batch_id="it's")) == [
        "remediator history 'sales eu' 'it'\"'\"'s'",
        "remediator replay 'sales eu' 'it'\"'\"'s'",
    ]


def test_headline_leaves_out_what_is_unknown():
    bare = make(attempt=0, reason=None, error_type=None, error_message=None)
    assert headline(bare) == "EXHAUSTED: ingest-sales batch 2024-05"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a&b", 10, "a&amp;b"),
        ("&&&", 12, "&amp;&amp;…"),  # never half an entity
        ("&&&", 10, "&amp;…"),
        ("abcdef", 4, "abc…"),
    ],
)
def test_escape_clip(text, limit, expected):
    assert escape_clip(text, limit) == expected
    assert len(escape_clip(text, limit)) <= limit


# Settings and retry classification


def test_settings_take_one_source_per_destination():
    with pytest.raises(AlertConfigError, match="REMEDIATOR_SLACK_WEBHOOK_URL or REMEDIATOR_SLACK"):
        load_alert_settings(
            slack_webhook_url="https://hooks.slack.com/services/x",
            slack_webhook_ssm_parameter="/p",
            _env_file=None,
        )


def test_settings_errors_never_repeat_a_secret():
    with pytest.raises(AlertConfigError) as caught:
        load_alert_settings(slack_webhook_url="ftp://hooks/secret-token", _env_file=None)
    assert "REMEDIATOR_SLACK_WEBHOOK_URL" in str(caught.value)
    assert "secret-token" not in str(caught.value)


def test_settings_defaults_and_secret_masking():
    settings = AlertSettings(
        pagerduty_routing_key="rk-secret", slack_webhook_url="", _env_file=None
    )
    assert settings.pagerduty_url == "https://events.pagerduty.com/v2/enqueue"
    assert settings.slack_webhook_url is None  # blank means unset
    assert "rk-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("status", "transient"), [(429, True), (500, True), (503, True), (400, False), (404, False)]
)
def test_which_statuses_are_retried(status, transient):
    assert is_transient_status(status) is transient


def test_a_job_wide_alert_has_no_batch():
    signal = make(CIRCUIT_OPEN, batch_id="", next_retry_at="2024-06-01T04:00:00.000000Z")
    parsed = parse_body(signal.body())
    assert parsed.batch_id == ""
    assert dedup_key(parsed) == "ingest-sales#circuit"
    fields = slack_message(parsed)["blocks"][1]["fields"]
    assert "*Paused until*\n2024-06-01T04:00:00.000000Z" in [f["text"] for f in fields]
    # For an EXHAUSTED batch, "-" is just an id.
    assert parse_body(make(batch_id="-").body()).batch_id == "-"
    with pytest.raises(MalformedSignal, match="batch_id"):
        parse_body(make(batch_id="").body())


def test_fields_routing_does_not_read_pass_through():
    data = json.loads(make().body()) | {"first_failed_at": AT}
    parsed = parse_body(json.dumps(data))
    assert getattr(parsed, "first_failed_at", AT) == AT


def test_deadline_alerts_read_as_such_and_share_the_batchs_incident():
    missed = make(
        "DEADLINE_MISSED", attempt=0, status="MISSING", error_type=None, reason="never_started",
        error_message="due by 2024-08-01T06:00:00.000000Z; never started",
    )  # fmt: skip
    assert headline(missed) == (
        "DEADLINE_MISSED: ingest-sales batch 2024-05, reason never_started "
        "(due by 2024-08-01T06:00:00.000000Z; never started)"
    )
    assert "Batch late" in slack_message(missed)["blocks"][0]["text"]["text"]
    met = make(RECOVERED, status="SUCCESS", reason="deadline_met", attempt=1)
    assert (
        headline(met) == "RECOVERED: ingest-sales batch 2024-05 landed after its deadline (SUCCESS)"
    )
    assert dedup_key(missed) == dedup_key(met) == "ingest-sales#2024-05"
    assert resolve_event(met, "rk")["event_action"] == "resolve"
    slow = make("TOO_SLOW", status="STARTED", attempt=1, reason="too_slow")
    assert "Run too slow" in slack_message(slow)["blocks"][0]["text"]["text"]
    assert parse_body(missed.body()).event == "DEADLINE_MISSED"
