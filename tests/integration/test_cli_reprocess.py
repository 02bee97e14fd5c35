"""Reprocessing and backfills as a person runs them (`remediator replay` subprocesses on the
moto server), then the triggered re-runs through the producer library."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability import Status
from tests.conftest import MOTO_ARN, Clock, new_id
from tests.integration.harness import Stack, stack_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def succeed(stack: Stack, job: str, batch: str) -> None:
    with stack.trail.batch(job, batch, trigger=stack.trigger(batch)):
        pass


def test_a_success_is_reprocessed_once_as_a_new_episode_and_is_pending_until_it_succeeds(
    stack: Stack,
):
    job = new_id()
    succeed(stack, job, "2024-03")
    refused = stack_cli(stack, "replay", job, "2024-03", "--yes")
    assert refused.returncode == 1
    assert "--include-success" in refused.stderr.strip().splitlines()[-1]
    assert stack.work() == []

    done = stack_cli(
        stack, "replay", job, "2024-03", "--include-success", "--reason", "finance corrected March",
        "--yes", "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["outcome"] for r in json.loads(done.stdout)["results"]] == ["triggered"]
    assert stack.trail.pending(job, ["2024-03"]) == ["2024-03"]  # until it succeeds again
    reopened = stack.trail.get(job, "2024-03")
    assert reopened is not None
    assert (reopened.status, reopened.attempt_floor) == (Status.RETRYING, 1)  # a new episode
    work = stack.work()
    assert [(m["batch_id"], m["attempt"]) for m in work] == [("2024-03", "2")]
    stack.rerun(work, job, lambda _b: None)

    state = stack.trail.get(job, "2024-03")
    assert state is not None
    assert (state.status, state.attempt) == (Status.SUCCESS, 2)
    assert stack.trail.pending(job, ["2024-03"]) == []
    events = [(e.event.value, e.attempt) for e in stack.trail.history(job, "2024-03")]
    assert events == [
        ("STARTED", 1), ("SUCCESS", 1), ("REPLAY_TRIGGERED", 2), ("STARTED", 2), ("SUCCESS", 2),
    ]  # fmt: skip
    replayed = stack.trail.history(job, "2024-03")[2]
    assert replayed.actor == MOTO_ARN
    assert replayed.detail["was"] == "SUCCESS"
    assert replayed.detail["episode_from"] == "1"
    assert replayed.detail["reason"] == "finance corrected March"
    assert stack.work() == []  # ran once more, exactly


def test_a_range_selects_exactly_the_recorded_ids_between_the_bounds(stack: Stack):
    job = new_id()
    for batch in ("m01", "m05"):
        succeed(stack, job, batch)
    for batch in ("m02", "m03", "m04", "m06", "m10", "a1"):
        stack.fail(job, batch)
    only_failures = stack_cli(
        stack, "replay", job, "--range", "m02..m04", "--dry-run", "-o", "json"
    )
    assert only_failures.returncode == 0, only_failures.stderr
    plan = json.loads(only_failures.stdout)["plan"]
    assert [p["batch_id"] for p in plan] == ["m02", "m03", "m04"]

    with_success = stack_cli(stack, "replay", job, "--range", "m02..m05", "--dry-run")
    assert with_success.returncode == 1
    assert "m05 (SUCCESS)" in with_success.stderr
    wide = stack_cli(
        stack, "replay", job, "--range", "m01..m06", "--include-success", "--yes", "-o", "json"
    )
    assert wide.returncode == 0, wide.stderr
    ran = [r["batch_id"] for r in json.loads(wide.stdout)["results"]]
    assert ran == ["m01", "m02", "m03", "m04", "m05", "m06"]  # not m10, not a1: id order
    assert sorted(m["batch_id"] for m in stack.work()) == ran

    backwards = stack_cli(stack, "replay", job, "--range", "m06..m01", "--yes")
    assert backwards.returncode == 2, backwards.stderr


def test_create_backfills_never_recorded_ids_through_the_default_trigger(stack: Stack):
    job = new_id()
    stack.fail(job, "2024-01")
    refused = stack_cli(stack, "replay", job, "2023-11", "2023-12", "--create", "--yes")
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "no default trigger" in line
    assert stack.trail.get(job, "2023-11") is None
    assert stack.work() == []

    trigger = stack.trigger("backfill").to_json()
    assert stack_cli(stack, "policy", "set", job, "--trigger", trigger).returncode == 0
    plan = stack_cli(
        stack, "replay", job, "2023-11", "2023-12", "--create", "--dry-run", "-o", "json"
    )
    assert [(p["batch_id"], p.get("backfill")) for p in json.loads(plan.stdout)["plan"]] == [
        ("2023-11", True), ("2023-12", True),
    ]  # fmt: skip
    done = stack_cli(stack, "replay", job, "2023-11", "2023-12", "--create", "--yes", "-o", "json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert [(r["batch_id"], r["outcome"], r["backfill"]) for r in results] == [
        ("2023-11", "triggered", "true"), ("2023-12", "triggered", "true"),
    ]  # fmt: skip
    work = stack.work()
    assert sorted((m["batch_id"], m["attempt"]) for m in work) == [
        ("2023-11", "1"),
        ("2023-12", "1"),
    ]
    assert stack.trail.pending(job, ["2023-11", "2023-12"]) == ["2023-11", "2023-12"]
    stack.rerun(work, job, lambda _b: None)
    for batch in ("2023-11", "2023-12"):
        state = stack.trail.get(job, batch)
        assert state is not None
        assert (state.status, state.attempt) == (Status.SUCCESS, 1)
        history = stack.trail.history(job, batch)
        assert [e.event.value for e in history] == ["REPLAY_TRIGGERED", "STARTED", "SUCCESS"]
        assert history[0].detail["backfill"] == "true"
        assert history[0].actor == MOTO_ARN
    again = stack_cli(stack, "replay", job, "2023-11", "--create", "--yes")
    assert again.returncode == 1  # recorded now: a SUCCESS, not a backfill
