"""`explain` and `policy test` as pure logic: which rule and layer, which delays, when it gives
up, why a batch waits. A fixed clock; no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from observability.audit.jobs import JobPolicy
from observability.models import AuditEvent, BatchState, EventType, Status, iso
from observability.retry import RetryPolicy, StoredRetry
from observability.retry.backoff import RetryRule
from remediator.ops.explain import explain, try_error
from remediator.ops.schedule import Delay, Layer, delays, match, names_of, parse_error
from remediator.ops.why import Holds, Why, why_not_now
from remediator.views.explain import explanation, rule_test
from remediator.views.render import Style

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FALLBACK = RetryRule(name="default", max_attempts=3)
TIMEOUTS = RetryRule(
    name="timeouts", errors=("TimeoutError",), max_attempts=5, base_seconds=60, max_age_seconds=7200
)
ENV = RetryPolicy(default=RetryRule(name="default", max_attempts=3, base_seconds=30))
SQS = {"kind": "sqs", "queue_url": "https://sqs/q"}


def at(seconds: float) -> str:
    return iso(NOW + timedelta(seconds=seconds))


def failed(**kw: Any) -> BatchState:
    values: dict[str, Any] = {
        "job_id": "j",
        "batch_id": "b",
        "status": Status.FAILED,
        "attempt": 2,
        "version": 4,
        "error_type": "TimeoutError",
        "error_message": "warehouse timed out",
        "first_failed_at": at(-600),
        "due_pk": "FAILED#0",
        "due_at": at(90),
        "trigger": SQS,
        "rule": "default",
        "cap": 3,
        "retry": StoredRetry(own=None, env=ENV).to_json(),
    }
    values.update(kw)
    return BatchState(**values)


def event(kind: EventType, version: int, attempt: int, seconds: float, **detail: Any) -> AuditEvent:
    return AuditEvent(
        job_id="j", batch_id="b", event=kind, attempt=attempt, version=version, at=at(seconds),
        actor="pipeline", status=Status.FAILED, error_type="TimeoutError",
        error_message="warehouse timed out", detail=detail,
    )  # fmt: skip


# -- which rule, from which layer ----------------------------------------------------------


def test_first_match_wins_across_batch_job_and_settings():
    own = RetryPolicy(rules=(TIMEOUTS,))
    job = RetryPolicy(rules=(RetryRule(name="job-timeouts", errors=("TimeoutError",)),))
    names = names_of("TimeoutError")
    both = match(names, batch=own, job=job, settings=ENV, fallback=FALLBACK)
    assert (both.name, both.layer, both.matched) == ("timeouts", Layer.BATCH, "TimeoutError")
    assert match(names, batch=None, job=job, settings=ENV, fallback=FALLBACK).layer is Layer.JOB
    default = match(names, batch=None, job=None, settings=ENV, fallback=FALLBACK)
    assert (default.name, default.layer, default.matched) == ("default", Layer.SETTINGS, "")
    never = match(names_of("NonRetryableError"), batch=own, job=job, settings=ENV,
                  fallback=FALLBACK)  # fmt: skip
    assert (never.rule, never.layer) == (None, Layer.CODE)


def test_a_built_in_error_matches_rules_for_its_bases():
    assert "OSError" in names_of("TimeoutError")
    assert names_of("botocore.exceptions.ReadTimeoutError") == (
        "ReadTimeoutError",
        "botocore.exceptions.ReadTimeoutError",
    )
    network = RetryPolicy(rules=(RetryRule(name="network", errors=("OSError",)),))
    found = match(names_of("TimeoutError"), batch=None, job=network, settings=ENV,
                  fallback=FALLBACK)  # fmt: skip
    assert (found.name, found.layer, found.matched) == ("network", Layer.JOB, "OSError")


def test_the_recorded_rule_governs_even_when_the_names_lead_elsewhere_now():
    # The job's rule was added after the failure: the failure stays under its recorded rule.
    job = RetryPolicy(rules=(TIMEOUTS,))
    found = match(names_of("TimeoutError"), batch=None, job=job, settings=ENV,
                  fallback=FALLBACK, recorded="default")  # fmt: skip
    assert (found.name, found.layer) == ("default", Layer.SETTINGS)
    gone = match(("X",), batch=None, job=None, settings=None, fallback=FALLBACK, recorded="old")
    assert gone.layer is Layer.UNKNOWN


def test_an_error_string_parses_or_is_refused_in_one_line():
    assert parse_error("TimeoutError: read timed out").type == "TimeoutError"
    assert parse_error(" KeyError ").message == ""
    assert parse_error("a.b.C: x: y").message == "x: y"
    for bad in ("", ": no type", "not a type: x", "1Error: x"):
        with pytest.raises(ValueError, match="expected 'Type: message'") as refused:
            parse_error(bad)
        assert "\n" not in str(refused.value)


# -- delays and the end ---------------------------------------------------------------------


def test_the_delays_of_the_next_attempts_are_the_rules_bounds():
    assert delays(TIMEOUTS, 2, 5) == [Delay(3, 0, 120), Delay(4, 0, 240), Delay(5, 0, 480)]
    fixed = RetryRule(name="fixed", base_seconds=10, jitter="none", max_attempts=3)
    assert delays(fixed, 1, 3) == [Delay(2, 10, 10), Delay(3, 20, 20)]
    assert delays(TIMEOUTS, 5, 5) == []


def test_policy_test_shows_the_rule_the_delays_and_the_end():
    job = JobPolicy("j", retry=RetryPolicy(rules=(TIMEOUTS,)))
    found = try_error("j", parse_error("TimeoutError: slow"), job=job, settings=ENV,
                      fallback=FALLBACK)  # fmt: skip
    assert (found.found.name, found.found.layer) == ("timeouts", Layer.JOB)
    assert [(d.attempt, d.high) for d in found.delays] == [(2, 60), (3, 120), (4, 240), (5, 480)]
    assert found.ends is not None
    assert found.ends.max_age_seconds == 7200
    text = rule_test(found)
    assert '"timeouts" from the job layer, matched by TimeoutError' in text
    assert "attempt 3 of 5: between 0 and 120 s after attempt 2 fails" in text
    assert "after attempt 5 of 5" in text
    assert "7200 s after the first failure (max age)" in text
    never = try_error("j", parse_error("NonRetryableError: bad row"), job=job, settings=ENV,
                      fallback=FALLBACK)  # fmt: skip
    assert never.found.layer is Layer.CODE
    assert "EXHAUSTED at once" in rule_test(never)


# -- why not now ----------------------------------------------------------------------------


def reasons(state: BatchState, holds: Holds = Holds(), **kw: Any) -> list[Why]:  # noqa: B008
    args: dict[str, Any] = {"cap": 3, "deadline": None, "has_trigger": True, **kw}
    return [r.why for r in why_not_now(state, NOW, holds=holds, **args)]


def test_what_ends_retries_comes_first_and_alone():
    paused = Holds(paused="by ops until tomorrow", circuit_until=at(60))
    assert reasons(failed(retryable=False, rule="never"), paused) == [Why.NEVER_RETRY]
    assert reasons(failed(attempt=3), paused) == [Why.CAP_REACHED]
    assert reasons(failed(), paused, deadline=at(-1)) == [Why.MAX_AGE]
    assert reasons(failed(), paused, has_trigger=False) == [Why.NO_TRIGGER]
    # The cap counts the episode: after a replay (floor 2), attempt 3 is the first of 3.
    assert Why.CAP_REACHED not in reasons(failed(attempt=3, attempt_floor=2))


def test_what_holds_a_retry_back_is_listed_whole():
    assert reasons(failed()) == [Why.NOT_DUE]
    assert reasons(failed(due_at=at(-1))) == []  # due: the next sweep takes it
    held = Holds(paused="by ops", circuit_until=at(60), target_circuit_until=at(-5))
    assert reasons(failed(), held) == [Why.PAUSED, Why.CIRCUIT_OPEN, Why.NOT_DUE]
    spent = Holds(budget_left=0, next_minute=at(30))
    assert reasons(failed(due_at=at(-1)), spent) == [Why.BUDGET]
    assert reasons(failed(), spent) == [Why.NOT_DUE]  # the budget matters once it is due
    assert reasons(failed(due_pk=None, due_at=None)) == [Why.NOT_SCHEDULED]


def test_not_failed_batches_say_why_nothing_retries_them():
    assert reasons(failed(status=Status.SUCCESS)) == [Why.SUCCEEDED]
    assert reasons(failed(status=Status.STARTED)) == [Why.RUNNING]
    assert reasons(failed(lease_expires_at=at(30))) == [Why.RUNNING]
    exhausted = failed(status=Status.EXHAUSTED)
    assert reasons(exhausted, exhausted_reason="max_attempts") == [Why.CAP_REACHED]
    assert reasons(exhausted, exhausted_reason="trigger_refused") == [Why.EXHAUSTED]


# -- the whole explanation ------------------------------------------------------------------


def test_explain_tells_rule_layer_episode_next_delays_and_the_end():
    state = failed(
        rule="timeouts",
        cap=5,
        deadline=at(6600),
        retry=StoredRetry(own=RetryPolicy(rules=(TIMEOUTS,)), env=ENV).to_json(),
    )
    history = [
        event(EventType.FAILED, 2, 1, -600),
        event(EventType.RETRY_TRIGGERED, 3, 2, -300),
        event(EventType.FAILED, 4, 2, -10),
    ]
    e = explain(state, history, NOW, job=None, fallback=FALLBACK)
    assert (e.found.name, e.found.layer, e.cap) == ("timeouts", Layer.BATCH, 5)
    assert [f.attempt for f in e.failures] == [1, 2]
    assert e.next_retry_at == at(90)
    assert [(d.attempt, d.high) for d in e.delays] == [(3, 120), (4, 240), (5, 480)]
    assert e.ends is not None
    assert e.ends.deadline == at(6600)
    assert e.ends.latest == at(90 + 240 + 480)  # the drawn time, then the bounds
    assert [r.why for r in e.reasons] == [Why.NOT_DUE]
    data = e.as_dict()
    assert (data["rule"], data["layer"]) == ("timeouts", "batch")
    assert data["gives_up"]["deadline"] == at(6600)
    text = explanation(e, NOW, Style(False))
    assert text.splitlines()[0] == "j/b: FAILED, attempt 2 of 5 in this episode"
    assert '"timeouts" from the batch layer, matched by TimeoutError' in text
    assert f"attempt 3 at {at(90)} (in 1m)" in text
    assert "attempt 4 of 5: between 0 and 240 s after attempt 3 fails" in text
    assert f"or at {at(6600)}" in text
    assert f"its next retry is due at {at(90)}" in text


def test_explain_of_an_exhausted_batch_names_what_ended_it():
    state = failed(status=Status.EXHAUSTED, attempt=3, due_pk="EXHAUSTED#0", due_at=at(-5))
    history = [
        event(EventType.FAILED, 6, 3, -5),
        event(EventType.EXHAUSTED, 7, 3, -5, reason="max_attempts", why='rule "default": 3 of 3'),
    ]
    e = explain(state, history, NOW, job=None, fallback=FALLBACK)
    assert [r.why for r in e.reasons] == [Why.CAP_REACHED]
    assert 'rule "default": 3 of 3' in explanation(e, NOW, Style(False))
    assert e.found.layer is Layer.SETTINGS
