"""When a producer writes its job's registry item: the first outcome, then successes at most
every `refresh_seconds` (observability.audit.registry)."""

from __future__ import annotations

from observability.audit.registry import Noted, needs_write


def test_a_jobs_first_outcome_in_a_process_registers_it() -> None:
    assert needs_write(None, success=False, now=0.0, refresh=300)
    assert needs_write(None, success=True, now=0.0, refresh=300)


def test_a_failure_after_registration_writes_nothing() -> None:
    assert not needs_write(Noted(0.0, None), success=False, now=10_000.0, refresh=300)


def test_last_success_moves_on_at_most_once_per_refresh() -> None:
    noted = Noted(0.0, 0.0)
    assert not needs_write(noted, success=True, now=299.0, refresh=300)
    assert needs_write(noted, success=True, now=300.0, refresh=300)


def test_the_first_success_after_a_registering_failure_is_written() -> None:
    assert needs_write(Noted(0.0, None), success=True, now=1.0, refresh=300)
