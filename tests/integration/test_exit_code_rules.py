"""A run AWS killed, healed by a rule that reads its exit code (moto server, strict layer on).

The first run of an ECS task batch is killed for memory: its `except` block never runs, the
ECS "Task State Change" event on the signal queue is all that says so. One service pass
records it FAILED with exit code 137, the `exit_code` rule governs it, and the retry's
RunTask asks for twice the memory; another exit code takes the default rule and runs
unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest

from observability import RetryPolicy, RetryRule
from tests.conftest import Clock, new_id
from tests.integration.harness import Stack
from tests.integration.test_rule_actions import ecs_task
from tests.integration.test_state_changes import deliver, ecs_stopped, history

OOM = RetryPolicy(
    rules=(
        RetryRule.from_dict({
            "name": "oom", "exit_code": 137, "max_attempts": 3, "base_seconds": 0,
            "overrides": {"from_attempt": 2, "ecs": {
                "size": {"cpu": 1024, "memory": 2048}, "memory": "x2",
                "ceiling": {"memory": 8192},
            }},
        }),
    ),
    default=RetryRule("other", max_attempts=3, base_seconds=0),
)  # fmt: skip


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def killed_then_retried(stack: Stack, exit_code: int) -> tuple[dict[str, Any], list[Any]]:
    """The first run starts and is killed with `exit_code`; one service pass. Returns the
    retry's RunTask overrides as moto holds them, and the batch's history."""
    job, batch = new_id(), "2024-05"
    trigger = ecs_task(stack, 1024, 2048)
    stack.trail.batch(job, batch, trigger=trigger, retry=OOM).__enter__()  # then SIGKILL
    stack.clock.advance(5)
    deliver(stack, ecs_stopped(job, batch, 1, exit_code, stack.clock()))

    stack.service.run_once()

    ecs = stack.clients.client("ecs")
    [arn] = ecs.list_tasks(cluster=trigger.cluster, startedBy="remediator-2")["taskArns"]
    [task] = ecs.describe_tasks(cluster=trigger.cluster, tasks=[arn])["tasks"]
    return task["overrides"], history(stack, job, batch)


def test_exit_137_is_failed_in_one_pass_and_retried_with_twice_the_memory(stack: Stack):
    overrides, events = killed_then_retried(stack, 137)

    assert [(e["event"], e["attempt"]) for e in events] == [
        ("STARTED", 1), ("FAILED", 1), ("RETRY_TRIGGERED", 2),
    ]  # fmt: skip
    assert (events[1]["exit_code"], events[1]["error_type"]) == (137, "TaskStopped")
    assert events[2]["ran_with"] == "memory 4096 (x2 from rule oom)"
    [container] = overrides["containerOverrides"]
    assert (overrides["memory"], container["memory"]) == ("4096", 4096)


def test_another_exit_code_takes_the_default_rule_and_runs_unchanged(stack: Stack):
    overrides, events = killed_then_retried(stack, 1)

    assert (events[1]["exit_code"], events[2]["event"]) == (1, "RETRY_TRIGGERED")
    assert "ran_with" not in events[2]
    assert "memory" not in overrides
