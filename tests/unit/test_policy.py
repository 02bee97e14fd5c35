"""The remediator's decisions: pure, from a state, a clock reading and the policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from observability.models import BatchState, Status, iso
from observability.retry.backoff import RetryRule
from remediator.remediation.policy import Exhaust, MarkStale, NotDue, Skip, Trigger, decide

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POLICY = RetryRule(max_attempts=3, base_seconds=60, max_seconds=3600)


def state(status: Status = Status.FAILED, **kw: object) -> BatchState:
    base: dict[str, object] = {
        "job_id": "j",
        "batch_id": "b",
        "status": status,
        "attempt": 1,
        "version": 2,
        "due_pk": "FAILED#1",
        "due_at": iso(NOW - timedelta(seconds=1)),
    }
    return BatchState(**{**base, **kw})  # type: ignore[arg-type]


def test_a_due_failure_is_triggered_as_the_next_attempt():
    assert decide(state(attempt=2), NOW, POLICY) == Trigger(3)


def test_a_failure_not_yet_due_waits_for_its_time():
    later = iso(NOW + timedelta(seconds=30))
    assert decide(state(due_at=later), NOW, POLICY) == NotDue(later)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"attempt": 3}, "max_attempts"),
        ({"retryable": False}, "non_retryable"),
    ],
)
def test_no_retry_left_exhausts(kw, reason):
    assert decide(state(**kw), NOW, POLICY) == Exhaust(reason)


def test_a_replay_gives_a_fresh_budget():
    assert decide(state(attempt=4, attempt_floor=3), NOW, POLICY) == Trigger(5)
    assert decide(state(attempt=6, attempt_floor=3), NOW, POLICY) == Exhaust("max_attempts")


def test_age_limit_exhausts_old_failures():
    aged = RetryRule(max_attempts=10, base_seconds=1, max_seconds=1, max_age_seconds=3600)
    old = iso(NOW - timedelta(hours=2))
    assert decide(state(first_failed_at=old), NOW, aged) == Exhaust("max_age")


def test_the_recorded_cap_and_deadline_win_over_this_process_settings():
    # Recorded by a producer whose rule allowed 5 attempts: this replica's 3 do not count.
    assert decide(state(attempt=4, cap=5), NOW, POLICY) == Trigger(5)
    assert decide(state(attempt=5, cap=5), NOW, POLICY) == Exhaust("max_attempts")
    # ... and 2 when this replica would allow 3.
    assert decide(state(attempt=2, cap=2), NOW, POLICY) == Exhaust("max_attempts")
    passed = iso(NOW - timedelta(seconds=1))
    assert decide(state(attempt=1, cap=5, deadline=passed), NOW, POLICY) == Exhaust("max_age")
    ahead = iso(NOW + timedelta(seconds=1))
    assert decide(state(attempt=1, cap=5, deadline=ahead), NOW, POLICY) == Trigger(2)


def test_a_success_starts_a_fresh_budget():
    # Ten good runs, then a failure: attempt 11 is the episode's first (floor 10).
    assert decide(state(attempt=11, attempt_floor=10, cap=3), NOW, POLICY) == Trigger(12)
    assert decide(state(attempt=13, attempt_floor=10, cap=3), NOW, POLICY) == Exhaust(
        "max_attempts"
    )


def test_a_live_lease_is_left_alone():
    lease = iso(NOW + timedelta(seconds=5))
    assert decide(state(Status.RETRYING, lease_owner="r", lease_expires_at=lease), NOW, POLICY) == (
        Skip("claimed")
    )


def test_an_expired_claim_is_taken_over_for_the_same_attempt():
    lease = iso(NOW - timedelta(seconds=5))
    taken = state(Status.RETRYING, lease_owner="dead", lease_expires_at=lease, due_pk="LIVE#1")
    assert decide(taken, NOW, POLICY) == Trigger(2)


def test_stale_runs_and_triggers_that_never_started():
    overdue = iso(NOW - timedelta(seconds=1))
    assert decide(state(Status.STARTED, due_pk="LIVE#1", due_at=overdue), NOW, POLICY) == (
        MarkStale(never_started=False)
    )
    assert decide(state(Status.RETRYING, due_pk="LIVE#1", due_at=overdue), NOW, POLICY) == (
        MarkStale(never_started=True)
    )
    alive = iso(NOW + timedelta(seconds=60))
    assert decide(state(Status.STARTED, due_pk="LIVE#1", due_at=alive), NOW, POLICY) == Skip(
        "running"
    )


@pytest.mark.parametrize("status", [Status.SUCCESS, Status.EXHAUSTED])
def test_finished_batches_are_skipped(status):
    assert isinstance(decide(state(status), NOW, POLICY), Skip)
