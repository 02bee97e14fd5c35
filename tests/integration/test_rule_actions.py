"""Rules that read the error and retries that change, on the moto server (strict layer on):
codes and messages pick the rule; overrides change the trigger from an attempt on;
wait_until holds a retry for a time of day; quarantine pages once and retries nothing.

The real producer, remediator and a worker run each batch; the clock is the stack's
(injected), stepped over each backoff.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from observability import AuditTrail, RetryPolicy, RetryRule, Status
from observability.errors import InvalidInput
from observability.models import from_iso
from observability.triggers import EcsTaskTrigger, SqsTrigger, Trigger
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import Stack, run_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def run(
    stack: Stack, job: str, batch: str, error: BaseException | None, retry: RetryPolicy,
    trigger: Trigger,
) -> None:  # fmt: skip
    try:
        with stack.trail.batch(job, batch, trigger=trigger, retry=retry):
            if error is not None:
                raise error
    except Exception:  # noqa: S110 - the pipeline carries on; the trail has recorded it
        pass


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} now"}}, "GetObject")


def events(stack: Stack, job: str, batch: str) -> list[str]:
    return [e.event.value for e in stack.trail.history(job, batch)]


def alerts(stack: Stack, resources: Any) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]


AWS_ERRORS = RetryPolicy(
    rules=(
        RetryRule("throttled", errors=("ClientError",), code="ThrottlingException",
                  max_attempts=3, base_seconds=0),
        RetryRule("denied", errors=("ClientError",), code="AccessDeniedException",
                  quarantine=True),
    )
)  # fmt: skip


def heal(stack: Stack, job: str, retry: RetryPolicy, work: Callable[[str, int], None]) -> int:
    """The remediator and an SQS worker, round after round; returns the re-runs."""
    reruns = 0
    for _ in range(8):
        stack.clock.advance(1)
        stack.service.run_once()
        for message in stack.work():
            reruns += 1
            batch, attempt = message["batch_id"], int(message["attempt"])
            try:
                with stack.trail.batch(job, batch, trigger=stack.trigger(batch), retry=retry):
                    work(batch, attempt)
            except Exception:  # noqa: S110 - recorded by the trail
                pass
    return reruns


def test_two_codes_of_one_client_error_take_different_rules(stack: Stack, resources: Any):
    job = new_id()
    run(stack, job, "slow", client_error("ThrottlingException"), AWS_ERRORS, stack.trigger("slow"))
    run(stack, job, "denied", client_error("AccessDeniedException"), AWS_ERRORS,
        stack.trigger("denied"))  # fmt: skip
    slow, denied = stack.trail.get(job, "slow"), stack.trail.get(job, "denied")
    assert slow is not None
    assert denied is not None
    # The code is read once, at the failure, and stored beside the type.
    assert (slow.rule, slow.error_type, slow.error_code) == (
        "throttled", "ClientError", "ThrottlingException",
    )  # fmt: skip
    assert (denied.rule, denied.status, denied.error_code) == (
        "denied", Status.EXHAUSTED, "AccessDeniedException",
    )  # fmt: skip

    def throttled(batch: str, attempt: int) -> None:
        raise client_error("ThrottlingException" if batch == "slow" else "AccessDeniedException")

    reruns = heal(stack, job, AWS_ERRORS, throttled)
    # Throttled: retried up to its rule's three attempts. Denied: quarantined, never retried.
    assert events(stack, job, "slow").count("RETRY_TRIGGERED") == 2
    assert reruns == 2
    assert events(stack, job, "denied") == ["STARTED", "FAILED", "EXHAUSTED"]
    [exhausted] = [e for e in stack.trail.history(job, "denied") if e.event.value == "EXHAUSTED"]
    assert exhausted.detail["reason"] == "quarantined"
    assert exhausted.detail["why"] == 'rule "denied": quarantined, never retried'
    [failed] = [e for e in stack.trail.history(job, "denied") if e.event.value == "FAILED"]
    assert failed.detail["error_code"] == "AccessDeniedException"
    # One page for the quarantined batch, naming its rule, however many sweeps ran.
    paged = [a for a in alerts(stack, resources) if a["batch_id"] == "denied"]
    assert [(a["reason"], a["rule"], a["error_code"]) for a in paged] == [
        ("quarantined", "denied", "AccessDeniedException")
    ]


def ecs_task(stack: Stack, cpu: int, memory: int) -> EcsTaskTrigger:
    ecs = stack.clients.client("ecs")
    cluster, family = f"cluster-{uuid.uuid4().hex[:8]}", f"worker-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=family, cpu=str(cpu), memory=str(memory),
        containerDefinitions=[{"name": "worker", "image": "worker:1", "memory": memory}],
    )  # fmt: skip
    # moto cannot attach network interfaces: the request is checked (strict layer), then
    # sent without its network block.
    stack.remediator.trigger_clients.client("ecs").meta.events.register(
        "before-parameter-build.ecs.RunTask",
        lambda params, **_: params.pop("networkConfiguration", None),
    )
    return EcsTaskTrigger(cluster=cluster, task_definition=family, container_name="worker",
                          subnets=["subnet-0123456789abcdef0"])  # fmt: skip


OOM = RetryPolicy(
    rules=(
        RetryRule.from_dict({
            "name": "oom", "errors": ["RuntimeError"], "message": "out of memory",
            "max_attempts": 4, "base_seconds": 0,
            "overrides": {"from_attempt": 2, "ecs": {
                "size": {"cpu": 1024, "memory": 2048}, "memory": "x2",
                "ceiling": {"memory": 8192},
            }},
        }),
    )
)  # fmt: skip


def test_an_oom_task_reruns_with_twice_the_memory_each_time_up_to_its_ceiling(stack: Stack):
    job = new_id()
    trigger = ecs_task(stack, 1024, 2048)
    oom = RuntimeError("container worker: out of memory (exit 137)")
    run(stack, job, "m5", oom, OOM, trigger)
    ecs = stack.clients.client("ecs")
    sizes = []
    for attempt in (2, 3, 4):
        stack.clock.advance(1)
        stack.service.run_once()
        [arn] = ecs.list_tasks(cluster=trigger.cluster, startedBy=f"remediator-{attempt}")[
            "taskArns"
        ]
        [task] = ecs.describe_tasks(cluster=trigger.cluster, tasks=[arn])["tasks"]
        overrides = task["overrides"]
        [container] = overrides["containerOverrides"]
        sizes.append((overrides["cpu"], overrides["memory"], container["memory"]))
        run(stack, job, "m5", oom, OOM, trigger)  # the task ran, and ran out of memory again
    # What moto received: x2 on attempt 2, x4 on attempt 3, then held at the ceiling.
    assert sizes == [("1024", "4096", 4096), ("1024", "8192", 8192), ("1024", "8192", 8192)]
    history = stack.trail.history(job, "m5")
    ran = [(e.attempt, e.detail["ran_with"]) for e in history if e.event.value == "RETRY_TRIGGERED"]
    assert ran == [
        (2, "memory 4096 (x2 from rule oom)"),
        (3, "memory 8192 (x2 from rule oom)"),
        (4, "memory 8192 (x2, at its ceiling, from rule oom)"),
    ]
    assert events(stack, job, "m5")[-1] == "EXHAUSTED"
    shown = run_cli(stack.endpoint, stack.settings, "history", job, "m5")
    assert "ran with memory 8192 (x2 from rule oom)" in shown.stdout


def test_an_sqs_trigger_body_is_patched_from_attempt_two(stack: Stack, moto_endpoint: str):
    job = new_id()
    smaller = RetryPolicy(
        rules=(
            RetryRule.from_dict({"name": "smaller", "errors": ["TimeoutError"], "base_seconds": 0,
                                 "overrides": {"from_attempt": 2, "patch": {"chunk": 100}}}),
        )
    )  # fmt: skip
    trigger = SqsTrigger(queue_url=stack.work_queue, body={"batch": "b", "chunk": 1000})
    run(stack, job, "b", TimeoutError("chunk too big"), smaller, trigger)
    explained = run_cli(moto_endpoint, stack.settings, "explain", job, "b", "--output", "json")
    assert json.loads(explained.stdout)["runs_with"] == [
        "attempt 2: body patched (from rule smaller)",
        "attempt 3: body patched (from rule smaller)",
    ]
    stack.clock.advance(1)
    stack.service.run_once()
    [message] = stack.work()
    assert message["body"] == {"batch": "b", "chunk": 100}
    assert message["attempt"] == "2"
    [triggered] = [e for e in stack.trail.history(job, "b") if e.event.value == "RETRY_TRIGGERED"]
    assert triggered.detail["ran_with"] == "body patched (from rule smaller)"


def test_a_quota_rule_waits_until_midnight_in_its_zone_and_not_longer(stack: Stack):
    # 23:30 in Los Angeles (PDT, UTC-7): the quota resets in 30 minutes.
    stack.clock.now = datetime(2026, 3, 10, 6, 30, tzinfo=UTC)
    job = new_id()
    quota = RetryPolicy(
        rules=(
            RetryRule("quota", code=("LimitExceededException",), base_seconds=60,
                      jitter="none", wait_until="00:00 America/Los_Angeles"),  # type: ignore[arg-type]
        )
    )  # fmt: skip
    run(stack, job, "q", client_error("LimitExceededException"), quota, stack.trigger("q"))
    state = stack.trail.get(job, "q")
    assert state is not None
    assert state.next_retry_at is not None
    assert from_iso(state.next_retry_at) == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    stack.clock.now = datetime(2026, 3, 10, 6, 59, 59, tzinfo=UTC)
    stack.service.run_once()
    assert stack.work() == []  # a second before midnight there: not yet
    stack.clock.now = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    stack.service.run_once()
    assert [m["attempt"] for m in stack.work()] == ["2"]  # at midnight, and not later


def test_a_bad_regex_and_an_override_past_the_targets_limits_are_refused_in_one_line(
    stack: Stack, moto_endpoint: str
):
    job = new_id()

    def policy_set(rule: dict[str, Any], *more: str) -> Any:
        body = json.dumps({"rules": [rule]})
        return run_cli(moto_endpoint, stack.settings, "policy", "set", job, "--retry", body, *more)

    bad = policy_set({"name": "oom", "message": "out of (memory"})
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith(
        "retry rule 'oom'.message: is not a regular expression: missing ), unterminated "
        "subpattern at position 7"
    )
    assert "\n" not in bad.stderr.strip()
    ecs = {"size": {"cpu": 1024, "memory": 2048}, "memory": "x2", "ceiling": {"memory": 16384}}
    big = policy_set({"name": "oom", "errors": ["RuntimeError"], "overrides": {"ecs": ecs}})
    assert big.returncode == 1
    assert "retry rule 'oom'.overrides.ecs: overridden attempt 3 would run cpu 1024 with " in (
        big.stderr
    )
    assert "\n" not in big.stderr.strip()
    # A patch checked against the job's trigger: its body past the trigger's limit.
    trigger = json.dumps({"kind": "sqs", "queue_url": stack.work_queue, "body": {"pad": ""}})
    huge = policy_set(
        {"name": "pad", "errors": ["E"], "overrides": {"patch": {"pad": "x" * 3000}}},
        "--trigger", trigger,
    )  # fmt: skip
    assert huge.returncode == 0, huge.stderr  # well inside the limit
    assert stack.trail.job_policy(job) is not None
    wide = {"kind": "sqs", "queue_url": stack.work_queue, "body": {"rest": "y" * 64_000}}
    refused = run_cli(moto_endpoint, stack.settings, "policy", "set", job, "--trigger",
                      json.dumps(wide))  # fmt: skip
    assert refused.returncode == 1
    assert "retry rule 'pad'.overrides.patch: makes trigger.body: is " in refused.stderr
    assert "\n" not in refused.stderr.strip()
    # The same check where a pipeline brings both: before the batch's first write.
    pad = RetryPolicy.from_dict(
        {"rules": [{"name": "pad", "errors": ["E"], "overrides": {"patch": {"pad": "x" * 3000}}}]}
    )
    with pytest.raises(InvalidInput, match=r"^retry rule 'pad'.overrides.patch: makes trigger"):
        stack.trail.batch(job, "b", trigger=SqsTrigger(queue_url=stack.work_queue,
                                                       body=wide["body"]), retry=pad)  # fmt: skip
    assert stack.trail.get(job, "b") is None


def test_policy_test_shows_the_rule_a_code_gets_and_what_the_attempts_run_with(
    stack: Stack, moto_endpoint: str
):
    job = new_id()
    trail: AuditTrail = stack.trail
    trail.set_job_policy(job, retry=RetryPolicy(rules=(*AWS_ERRORS.rules, *OOM.rules)))

    def test(*args: str) -> Any:
        done = run_cli(moto_endpoint, stack.settings, "policy", "test", job, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    throttled = test("--error", "ClientError: slow down", "--code", "ThrottlingException")
    assert 'rule       "throttled" from the job layer, matched by ClientError, code ' in throttled
    denied = json.loads(test("--error", "ClientError: no", "--code", "AccessDeniedException",
                             "--output", "json"))  # fmt: skip
    assert (denied["rule"], denied["retry_rule"]["quarantine"]) == ("denied", True)
    oom = test("--error", "RuntimeError: worker ran out of memory")
    assert "runs with  attempt 2: memory 4096 (x2 from rule oom)" in oom
    assert "attempt 4: memory 8192 (x2, at its ceiling, from rule oom)" in oom
    plain = json.loads(test("--error", "RuntimeError: disk full", "--output", "json"))
    assert (plain["rule"], plain["runs_with"]) == ("default", [])
